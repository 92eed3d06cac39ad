"""Random (version 4) UUIDs as text, for the ids made on every request.

:func:`uuid4` gives what ``str(uuid.uuid4())`` gives, from the same source (``os.urandom``,
so claim ids stay unguessable), but reads the random bytes 256 ids at a time and formats them
without building a ``UUID`` object: a few times cheaper, which shows when every request
makes one or more.
"""

import os
import threading

_IDS_PER_READ = 256
# RFC 4122 variant "10": the top two bits of byte 8, i.e. the 17th hex digit is 8, 9, a or b.
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}

_lock = threading.Lock()
_pool = []


def uuid4():
    """:returns: a random UUID as lowercase dashed text, e.g.
    ``"1b4e28ba-2fa1-4d2b-883f-0016d3cca427"``."""
    with _lock:
        if not _pool:
            block = os.urandom(16 * _IDS_PER_READ)
            _pool.extend(block[i:i + 16] for i in range(0, len(block), 16))
        raw = _pool.pop()
    h = raw.hex()
    # The 13th hex digit is the version, 4.
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"
