"""The headers that present a pre-signed URL, as the tests of REST, WebSocket and the
authenticator send them."""

import uuid


def url_headers(signed, **changes):
    """The headers presenting the URL ``signed`` (the data ``POST .../share`` answers): its
    signature, expiry, methods and paths (comma-separated), its project, and a fresh
    Client-ID.

    :param changes: headers to set instead; ``None`` removes one.
    """
    headers = {
        "URL-Signature": signed["signature"],
        "URL-Expires": signed["expires"],
        "URL-Methods": ",".join(signed["methods"]),
        "URL-Paths": ",".join(signed["paths"]),
        "X-Project-ID": signed["project"],
        "Client-ID": str(uuid.uuid4()),
        **changes,
    }
    return {name: value for name, value in headers.items() if value is not None}
