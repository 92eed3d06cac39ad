"""What the ``keystone`` authenticator needs from ``[keystone_authtoken]``, checked once at
start-up: where Keystone is, the service user's password authentication, the cache and the
limits of each call.

keystonemiddleware's own defaults apply, except ``http_connect_timeout``: unset there means
no limit, here :data:`DEFAULT_TIMEOUT` seconds, so that a Keystone that stops answering is
seen (503) rather than waited for without end.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

from twisted.internet.ssl import Certificate

from zaqar_tw.config import ConfigError

SECTION = "[keystone_authtoken]"
DEFAULT_TIMEOUT = 10.0  # seconds one call to Keystone may take when http_connect_timeout is unset
# Options of keystoneauth's password plugin that scope the service user other than to a
# project: zaqar-tw asks for a project-scoped service token.
_OTHER_SCOPES = ("system_scope", "domain_id", "domain_name", "trust_id")


@dataclass(frozen=True)
class KeystoneSettings:
    """The resolved options.

    :ivar identity_url: Keystone's base URL, without ``/v3`` (``auth_url`` as written, less a
        trailing ``/v3``).
    :ivar www_authenticate_uri: the URI of the ``WWW-Authenticate`` header of a 401.
    :ivar credentials: the ``auth`` document of the service user's password authentication.
    :ivar token_cache_time: seconds a validated token is kept (``0``: not kept).
    :ivar token_cache_size: the most tokens kept.
    :ivar timeout: seconds one call to Keystone may take.
    :ivar max_retries: further attempts of a call whose connection failed.
    :ivar ca_certificates: the certificate authorities to trust (from ``cafile``), or
        ``None`` for the system's.
    :ivar insecure: whether Keystone's certificate goes unchecked.
    """

    identity_url: str
    www_authenticate_uri: str
    credentials: dict
    token_cache_time: float
    token_cache_size: int
    timeout: float
    max_retries: int
    ca_certificates: tuple | None
    insecure: bool


def keystone_settings(config):
    """Resolve ``[keystone_authtoken]``.

    :param config: the :class:`~zaqar_tw.config.Config`.
    :raises ConfigError: a required option is missing, or an option asks for what zaqar-tw
        does not do; the message names the option.
    """
    section = config.keystone_authtoken
    if section.auth_section:
        raise ConfigError(
            f"{SECTION} auth_section: not supported; write the service user's options in "
            f"{SECTION} itself"
        )
    for name in _OTHER_SCOPES:
        if getattr(section, name):
            raise ConfigError(
                f"{SECTION} {name}: not supported; zaqar-tw's service user authenticates "
                f"scoped to a project (project_name or project_id)"
            )
    identity_url = _identity_url(_required(section, "auth_url"))
    return KeystoneSettings(
        identity_url=identity_url,
        www_authenticate_uri=(
            section.www_authenticate_uri or section.auth_uri or section.auth_url
        ),
        credentials=_credentials(section),
        token_cache_time=max(0, section.token_cache_time),
        token_cache_size=section.token_cache_size,
        timeout=section.http_connect_timeout or DEFAULT_TIMEOUT,
        max_retries=section.http_request_max_retries,
        ca_certificates=_certificates(section.cafile),
        insecure=section.insecure,
    )


def _required(section, name, alternative=None):
    value = getattr(section, name)
    if value is None and alternative is not None:
        value = getattr(section, alternative)
    if not value:
        either = f" (or {alternative})" if alternative else ""
        raise ConfigError(
            f"{SECTION} {name}{either} is required with [DEFAULT] auth_strategy = keystone"
        )
    return value


def _identity_url(auth_url):
    parts = urlsplit(auth_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{SECTION} auth_url: bad value {auth_url!r}: must be an http:// or https:// URL"
        )
    base = auth_url.rstrip("/")
    if base.endswith("/v2.0"):
        raise ConfigError(
            f"{SECTION} auth_url: bad value {auth_url!r}: zaqar-tw speaks Keystone's v3 API; "
            f"name Keystone's root or its /v3 URL"
        )
    if base.endswith("/v3"):
        base = base[: -len("/v3")]
    return base


def _domain(section, prefix, named_by):
    """The domain of the user or project (``prefix`` ``user`` or ``project``) named by the
    option ``named_by``, falling back on ``default_domain_id`` / ``default_domain_name`` as
    keystoneauth does."""
    for scope in (prefix, "default"):
        if getattr(section, f"{scope}_domain_id"):
            return {"id": getattr(section, f"{scope}_domain_id")}
        if getattr(section, f"{scope}_domain_name"):
            return {"name": getattr(section, f"{scope}_domain_name")}
    raise ConfigError(
        f"{SECTION} {prefix}_domain_name (or {prefix}_domain_id) is required with {named_by}"
    )


def _credentials(section):
    """The ``auth`` document of a project-scoped password authentication."""
    password = _required(section, "password")
    if section.user_id:
        user = {"id": section.user_id, "password": password}
    else:
        user = {
            "name": _required(section, "username", "user_id"),
            "domain": _domain(section, "user", "username"),
            "password": password,
        }
    if section.project_id:
        project = {"id": section.project_id}
    else:
        project = {
            "name": _required(section, "project_name", "project_id"),
            "domain": _domain(section, "project", "project_name"),
        }
    return {
        "identity": {"methods": ["password"], "password": {"user": user}},
        "scope": {"project": project},
    }


def _certificates(path):
    """The certificates of a PEM file.

    :raises ConfigError: it cannot be read, or holds no certificate.
    """
    if path is None:
        return None
    try:
        with open(path, "rb") as handle:
            pem = handle.read()
    except OSError as exc:
        raise ConfigError(f"{SECTION} cafile: cannot read {path}: {exc.strerror}") from None
    end = b"-----END CERTIFICATE-----"
    blocks = [block + end for block in pem.split(end) if b"-----BEGIN CERTIFICATE-----" in block]
    try:
        certificates = tuple(Certificate.loadPEM(block) for block in blocks)
    except Exception as exc:  # pyOpenSSL raises its own errors
        raise ConfigError(f"{SECTION} cafile: {path} is not PEM: {exc}") from None
    if not certificates:
        raise ConfigError(f"{SECTION} cafile: {path} holds no PEM certificate")
    return certificates
