"""Configuration: one object, built once at start-up and passed down explicitly.

Each section of ``zaqar.conf`` is a dataclass; option names and defaults follow the wire
contract (``[DEFAULT] admin_mode``, ``[transport] max_messages_per_page``, ...).  Precedence,
highest first: command line, then ``~/.zaqar/zaqar.conf`` if it exists, else
``/etc/zaqar/zaqar.conf``, else the defaults below.  An unknown section or option, or a value
of the wrong type, raises :class:`ConfigError` naming it.

Some options are accepted for compatibility with Zaqar's configuration but have no effect
(yet): each declares why (``inert=``), and setting one is noted in
:attr:`Config.inert_settings`, which the service logs as warnings at start-up.
"""

import configparser
import dataclasses
import math
import os
from dataclasses import dataclass, field


class ConfigError(Exception):
    """The configuration cannot be used; the message names the culprit."""


def _opt(default, *, choices=None, minimum=None, maximum=None, secret=False, none_text=False,
         inert=None):
    """Declare an option: its default and the values it accepts.

    ``none_text`` keeps the word ``none`` as text (an endpoint turned off) instead of reading
    it as unset.  ``inert`` says why an option accepted for compatibility has no effect.
    """
    meta = {
        "choices": choices, "min": minimum, "max": maximum, "secret": secret,
        "none_text": none_text, "inert": inert,
    }
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


# Why options accepted for compatibility have no effect.
POOLS = "pools and flavors are not built yet"
WS_PUSH = "notifications pushed over WebSocket are not built yet"
ENCRYPTION = "message encryption is not built yet"
RECONNECTS = "the store reconnects until it succeeds, waiting longer after each failure"
UNSCOPED = "no rule of zaqar-tw is deprecated or scoped"
REMOTE_CHECKS = "http: and https: policy checks are refused"


@dataclass
class DefaultSection:
    """``[DEFAULT]``"""

    admin_mode: bool = _opt(False)
    pooling: bool = _opt(False, inert=POOLS)
    unreliable: bool = _opt(False, inert="it relaxes checks of MongoDB, which is no store here")
    enable_checksum: bool = _opt(False)
    auth_strategy: str = _opt("")
    enable_deprecated_api_versions: list = _opt(
        [], inert="API v1.x is gone: only v2 is served"
    )


@dataclass
class DriversSection:
    """``[drivers]``: which providers serve the service."""

    transport: str = _opt(
        "wsgi", choices=("wsgi", "websocket"),
        inert="one process serves REST and WebSocket ([service] rest and websocket)",
    )
    message_store: str = _opt("redis")
    management_store: str = _opt("redis", inert=POOLS)


@dataclass
class WsgiSection:
    """``[drivers:transport:wsgi]``: where the REST API listens, and what one connection may
    hold (times in seconds and ``0`` turns one off; see
    :mod:`zaqar_tw.transport.rest.guarded`)."""

    bind: str = _opt("127.0.0.1")
    port: int = _opt(8888, minimum=0, maximum=65535)
    idle_timeout: float = _opt(120.0, minimum=0.0)
    header_timeout: float = _opt(10.0, minimum=0.0)
    body_timeout: float = _opt(60.0, minimum=0.0)
    max_connections: int = _opt(0, minimum=0)
    max_connections_per_address: int = _opt(0, minimum=0)


@dataclass
class WebsocketSection:
    """``[drivers:transport:websocket]``: where the WebSocket API listens, and the limits of
    each connection (sizes in bytes, times in seconds, ``0`` turns a timer off)."""

    bind: str = _opt("127.0.0.1")
    port: int = _opt(9000, minimum=0, maximum=65535)
    external_port: int | None = _opt(None, minimum=0, maximum=65535)
    notification_bind: str | None = _opt(None, inert=WS_PUSH)
    notification_port: int = _opt(0, minimum=0, maximum=65535, inert=WS_PUSH)
    max_message_size: int = _opt(1048576, minimum=1)
    max_frame_size: int = _opt(1048576, minimum=1)
    idle_timeout: float = _opt(3600.0, minimum=0.0)
    auto_ping_interval: float = _opt(30.0, minimum=0.0)
    auto_ping_timeout: float = _opt(10.0, minimum=0.0)
    max_write_buffer: int = _opt(262144, minimum=1)
    max_connections: int = _opt(0, minimum=0)
    max_connections_per_address: int = _opt(0, minimum=0)


@dataclass
class TransportSection:
    """``[transport]``: limits and defaults of the API.

    ``subscriber_types`` lists the subscriber URI schemes accepted; unset, every scheme an
    enabled notifier serves (``[notification] notifiers``).
    """

    default_message_ttl: int = _opt(3600, minimum=60)
    default_message_delay: int = _opt(0, minimum=0)
    default_claim_ttl: int = _opt(300, minimum=60)
    default_claim_grace: int = _opt(60, minimum=60)
    default_subscription_ttl: int = _opt(3600, minimum=60)
    max_queues_per_page: int = _opt(20, minimum=1)
    max_messages_per_page: int = _opt(20, minimum=1)
    max_subscriptions_per_page: int = _opt(20, minimum=1)
    max_flavors_per_page: int = _opt(20, minimum=1, inert=POOLS)
    max_pools_per_page: int = _opt(20, minimum=1, inert=POOLS)
    max_messages_per_claim_or_pop: int = _opt(20, minimum=1)
    max_queue_metadata: int = _opt(65536, minimum=1)
    max_messages_post_size: int = _opt(262144, minimum=1)
    max_message_ttl: int = _opt(1209600, minimum=60)
    max_message_delay: int = _opt(900, minimum=0)
    max_claim_ttl: int = _opt(43200, minimum=60)
    max_claim_grace: int = _opt(43200, minimum=60)
    subscriber_types: list | None = _opt(None)
    client_id_uuid_safe: str = _opt("strict", choices=("strict", "off"))
    min_length_client_id: int = _opt(10, minimum=1)
    max_length_client_id: int = _opt(36, minimum=1)
    message_delete_with_claim_id: bool = _opt(False)
    message_encryption_algorithms: str = _opt(
        "AES256", choices=("AES256", "RSA"), inert=ENCRYPTION
    )
    message_encryption_key: str = _opt("AES256", secret=True, inert=ENCRYPTION)


@dataclass
class RedisStoreSection:
    """``[drivers:message_store:redis]``: where the Redis store lives.

    ``uri`` is ``embedded`` (a private redis-server child, the default), or
    ``redis://[:password@]host[:port][/db]`` (also ``?dbid=N``), or
    ``redis+unix:///path.sock?db=N``, or
    ``redis+sentinel://[:password@]host1:port1,host2:port2/mastername[/db]``, or
    ``redis+cluster://[:password@]host1:port1,host2:port2``.
    ``wait_replicas`` replicas must confirm each write (``WAIT``) within ``wait_timeout``
    seconds before it is acknowledged; ``0`` acknowledges once the master has it.
    """

    uri: str = _opt("embedded")
    wait_replicas: int = _opt(0, minimum=0)
    wait_timeout: float = _opt(1.0, minimum=0.001)
    max_reconnect_attempts: int = _opt(10, minimum=0, inert=RECONNECTS)
    reconnect_sleep: float = _opt(1.0, minimum=0.0, inert=RECONNECTS)


@dataclass
class EmbeddedSection:
    """``[embedded]``: the private redis-server of ``uri = embedded``."""

    data_dir: str = _opt("~/.zaqar/data")
    appendfsync: str = _opt("everysec", choices=("always", "everysec"))
    redis_server: str = _opt("")


@dataclass
class NotificationSection:
    """``[notification]``: who delivers notifications, and how.

    ``notifiers`` names notifiers of the ``zaqar_tw.notifiers`` entry-point group; each may
    read its own ``[notifier:<name>]`` section.  ``delivery_timeout`` bounds one delivery
    attempt, in seconds.  ``max_backlog`` bounds the deliveries waiting for a worker (each
    one the messages of one post for one subscription); past it, new ones are dropped.
    ``allow_private_subscribers`` lists the networks (CIDR), addresses and host names that
    webhooks may reach although they are not public (see :mod:`zaqar_tw.notify.addresses`).
    The ``smtp_*`` options and ``mail_sender`` say how e-mail leaves (see
    :mod:`zaqar_tw.notify.mailto`).
    """

    notifiers: list = _opt(["webhook", "mailto", "trust"])
    delivery_timeout: float = _opt(10.0, minimum=0.1)
    max_backlog: int = _opt(10000, minimum=0)
    allow_private_subscribers: list = _opt([])

    smtp_mode: str = _opt("third_part", choices=("third_part", "self_local"))
    smtp_host: str | None = _opt(None)
    smtp_port: int | None = _opt(None, minimum=1, maximum=65535)
    smtp_tls: str = _opt("implicit", choices=("implicit", "starttls", "off"))
    smtp_ca_file: str | None = _opt(None)
    smtp_user_name: str | None = _opt(None)
    smtp_user_password: str | None = _opt(None, secret=True)
    smtp_command: str = _opt("/usr/sbin/sendmail -t -oi")
    mail_sender: str = _opt("Zaqar Notifications <no-reply@openstack.org>")
    max_notifier_workers: int = _opt(10, minimum=1)
    require_confirmation: bool = _opt(False)
    external_confirmation_url: str | None = _opt(None)


@dataclass
class SignedUrlSection:
    """``[signed_url]``: the keys of pre-signed URLs (spec 3.12).

    ``secret_key`` signs new URLs and verifies them; ``previous_secret_keys`` only verify,
    so that URLs signed before a key rotation keep working until they expire.
    """

    secret_key: str | None = _opt(None, secret=True)
    previous_secret_keys: list = _opt([], secret=True)


@dataclass
class CorsSection:
    """``[cors]``: which web pages may call the API from a browser.

    ``allowed_origin`` lists origins (``https://app.example.com``, or ``*`` for any); empty
    turns CORS off.  The defaults of the lists are the reference's, plus the headers a
    browser client of this API needs (``X-Project-ID`` and a pre-signed URL's ``URL-*``
    headers sent, ``Location`` read).
    """

    allowed_origin: list = _opt([])
    allow_credentials: bool = _opt(True)
    max_age: int = _opt(3600, minimum=0)
    expose_headers: list = _opt(
        ["X-Auth-Token", "X-Subject-Token", "X-Service-Token", "X-OpenStack-Request-ID",
         "Location"]
    )
    allow_methods: list = _opt(["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"])
    allow_headers: list = _opt(
        ["X-Auth-Token", "X-Identity-Status", "X-Roles", "X-Service-Catalog", "X-User-Id",
         "X-Tenant-Id", "X-OpenStack-Request-ID", "X-Trace-Info", "X-Trace-HMAC", "Client-id",
         "X-Project-ID", "URL-Signature", "URL-Expires", "URL-Methods", "URL-Paths"]
    )


@dataclass
class OsloPolicySection:
    """``[oslo_policy]``: the access rules (see ``zaqar_tw.auth.policy``).

    ``policy_file`` (YAML or JSON) is used as given when absolute; when relative, it is
    looked for beside the ``zaqar.conf`` in use, then in ``~/.zaqar/``, then in
    ``/etc/zaqar/``; left at ``policy.yaml``, a ``policy.json`` is looked for as well.  No
    file: the rules in code.  ``policy_dirs`` are searched the same way, only when a policy
    file was found; their files, in name order, override it.  The files are checked for
    changes every ``reload_interval`` seconds (``0``: read once, at start-up).
    ``policy_default_rule`` is the rule applied to a rule name the policy does not know.
    ``enforce_new_defaults``, ``enforce_scope`` and the ``remote_*`` options are accepted for
    compatibility and have no effect: no rule of zaqar-tw is deprecated or scoped, and the
    ``http:``/``https:`` checks they configure are refused.
    """

    policy_file: str = _opt("policy.yaml")
    policy_dirs: list = _opt(["policy.d"])
    policy_default_rule: str = _opt("default")
    reload_interval: float = _opt(10.0, minimum=0.0)
    enforce_new_defaults: bool = _opt(True, inert=UNSCOPED)
    enforce_scope: bool = _opt(True, inert=UNSCOPED)
    remote_content_type: str = _opt(
        "application/x-www-form-urlencoded",
        choices=("application/x-www-form-urlencoded", "application/json"),
        inert=REMOTE_CHECKS,
    )
    remote_ssl_verify_server_crt: bool = _opt(False, inert=REMOTE_CHECKS)
    remote_ssl_ca_crt_file: str | None = _opt(None, inert=REMOTE_CHECKS)
    remote_ssl_client_crt_file: str | None = _opt(None, inert=REMOTE_CHECKS)
    remote_ssl_client_key_file: str | None = _opt(None, inert=REMOTE_CHECKS)
    remote_timeout: float = _opt(60.0, minimum=0.0, inert=REMOTE_CHECKS)


@dataclass
class KeystoneAuthtokenSection:
    """``[keystone_authtoken]``: keystonemiddleware's options, as operators write them, read by
    the ``keystone`` authenticator (``[DEFAULT] auth_strategy = keystone``).

    The service user's password authentication (``auth_type = password``: ``auth_url``,
    ``username`` or ``user_id``, ``password``, the user's domain, and the project it is
    scoped to) gets the token zaqar-tw validates users' tokens with.  Validated tokens are
    kept ``token_cache_time`` seconds (``0`` or less: not kept), at most ``token_cache_size``
    of them (zaqar-tw's own option).  The options of :data:`KEYSTONE_IGNORED` are accepted
    and have no effect.
    """

    www_authenticate_uri: str | None = _opt(None)
    auth_uri: str | None = _opt(None)  # deprecated name of www_authenticate_uri
    auth_type: str | None = _opt(None, choices=("password", "v3password"))
    auth_section: str | None = _opt(None)
    auth_url: str | None = _opt(None)
    username: str | None = _opt(None)
    user_id: str | None = _opt(None)
    password: str | None = _opt(None, secret=True)
    user_domain_name: str | None = _opt(None)
    user_domain_id: str | None = _opt(None)
    project_name: str | None = _opt(None)
    project_id: str | None = _opt(None)
    project_domain_name: str | None = _opt(None)
    project_domain_id: str | None = _opt(None)
    default_domain_name: str | None = _opt(None)
    default_domain_id: str | None = _opt(None)
    system_scope: str | None = _opt(None)
    domain_id: str | None = _opt(None)
    domain_name: str | None = _opt(None)
    trust_id: str | None = _opt(None)
    token_cache_time: int = _opt(300)
    token_cache_size: int = _opt(10000, minimum=1)
    http_connect_timeout: float | None = _opt(None, minimum=0.001)
    http_request_max_retries: int = _opt(3, minimum=0)
    cafile: str | None = _opt(None)
    insecure: bool = _opt(False)


# keystonemiddleware's (and keystoneauth's session) options that zaqar-tw accepts in
# [keystone_authtoken] without effect, older ones included.
KEYSTONE_IGNORED = frozenset((
    "admin_password", "admin_tenant_name", "admin_token", "admin_user", "auth_admin_prefix",
    "auth_host", "auth_port", "auth_protocol", "auth_version", "cache",
    "certfile", "check_revocations_for_cached", "collect_timing", "delay_auth_decision",
    "enforce_token_bind", "hash_algorithms", "identity_uri", "include_service_catalog",
    "interface", "keyfile", "memcache_password", "memcache_pool_conn_get_timeout",
    "memcache_pool_dead_retry", "memcache_pool_maxsize", "memcache_pool_socket_timeout",
    "memcache_pool_unused_timeout", "memcache_sasl_enabled", "memcache_secret_key",
    "memcache_security_strategy", "memcache_servers", "memcache_tls_allowed_ciphers",
    "memcache_tls_cafile", "memcache_tls_certfile", "memcache_tls_enabled",
    "memcache_tls_keyfile", "memcache_use_advanced_pool", "memcache_username",
    "memcached_servers", "region_name", "revocation_cache_time", "service_token_roles",
    "service_token_roles_required", "service_type", "signing_dir", "split_loggers",
    "timeout", "tls_ciphers", "tls_min_version",
))


@dataclass
class FiltersSection:
    """``[filters]``: the message filter chain and the limits of the built-in guards.

    ``chain`` names filters of the ``zaqar_tw.filters`` entry-point group, in order; each
    may read its own ``[filter:<name>]`` section.
    """

    chain: list = _opt([])
    max_body_depth: int = _opt(32, minimum=1)
    max_body_size: int = _opt(65536, minimum=1)


@dataclass
class LimitsSection:
    """``[limits]``: request rates and quotas of each project (``0``: no limit); a
    ``[limits:PROJECT]`` section sets other values for one project.

    ``<class>_rate`` is the requests per second a project may make on average in an
    operation class (read, write, claim, admin: see :mod:`zaqar_tw.core.limits`), and
    ``<class>_burst`` how many it may make at once (``0``: one second's worth, at least 1):
    a token bucket kept in the store, so it holds across nodes and workers.  The quotas
    count queues per project, and live messages and subscriptions per queue.
    """

    read_rate: float = _opt(0.0, minimum=0.0, maximum=1e6)
    read_burst: int = _opt(0, minimum=0, maximum=10**9)
    write_rate: float = _opt(0.0, minimum=0.0, maximum=1e6)
    write_burst: int = _opt(0, minimum=0, maximum=10**9)
    claim_rate: float = _opt(0.0, minimum=0.0, maximum=1e6)
    claim_burst: int = _opt(0, minimum=0, maximum=10**9)
    admin_rate: float = _opt(0.0, minimum=0.0, maximum=1e6)
    admin_burst: int = _opt(0, minimum=0, maximum=10**9)
    max_queues_per_project: int = _opt(0, minimum=0)
    max_messages_per_queue: int = _opt(0, minimum=0)
    max_subscriptions_per_queue: int = _opt(0, minimum=0)


@dataclass
class ServiceSection:
    """``[service]``: how this process serves (zaqar-tw's own options).

    ``rest`` and ``websocket`` are Twisted endpoint strings or ``none``; when unset they are
    built from ``[drivers:transport:wsgi]`` and ``[drivers:transport:websocket]``.
    """

    rest: str | None = _opt(None, none_text=True)
    websocket: str | None = _opt(None, none_text=True)
    workers: int = _opt(1, minimum=1)
    access_log: bool = _opt(False)


# File section name -> (attribute of Config, dataclass).
SECTIONS = {
    "DEFAULT": ("default", DefaultSection),
    "drivers": ("drivers", DriversSection),
    "drivers:transport:wsgi": ("wsgi", WsgiSection),
    "drivers:transport:websocket": ("websocket", WebsocketSection),
    "transport": ("transport", TransportSection),
    "drivers:message_store:redis": ("redis", RedisStoreSection),
    "embedded": ("embedded", EmbeddedSection),
    "notification": ("notification", NotificationSection),
    "signed_url": ("signed_url", SignedUrlSection),
    "cors": ("cors", CorsSection),
    "service": ("service", ServiceSection),
    "filters": ("filters", FiltersSection),
    "oslo_policy": ("oslo_policy", OsloPolicySection),
    "limits": ("limits", LimitsSection),
    "keystone_authtoken": ("keystone_authtoken", KeystoneAuthtokenSection),
}
# ``[limits:PROJECT]``: the ``[limits]`` options of one project.
PROJECT_LIMITS_PREFIX = "limits:"

# Options of a section that are accepted as written and have no effect (kept in
# ``Config.free_form``).
IGNORED_OPTIONS = {"keystone_authtoken": KEYSTONE_IGNORED}

# Sections whose options belong to other libraries' conventions; accepted as written.
FREE_FORM_SECTIONS = ("trustee",)
# Sections of plugins, kept as written for the plugin that owns them (``[filter:stamp]``,
# ``[notifier:chat]``).
FREE_FORM_PREFIXES = ("filter:", "notifier:")


@dataclass
class Config:
    """The whole configuration."""

    default: DefaultSection = field(default_factory=DefaultSection)
    drivers: DriversSection = field(default_factory=DriversSection)
    wsgi: WsgiSection = field(default_factory=WsgiSection)
    websocket: WebsocketSection = field(default_factory=WebsocketSection)
    transport: TransportSection = field(default_factory=TransportSection)
    redis: RedisStoreSection = field(default_factory=RedisStoreSection)
    embedded: EmbeddedSection = field(default_factory=EmbeddedSection)
    notification: NotificationSection = field(default_factory=NotificationSection)
    signed_url: SignedUrlSection = field(default_factory=SignedUrlSection)
    cors: CorsSection = field(default_factory=CorsSection)
    service: ServiceSection = field(default_factory=ServiceSection)
    filters: FiltersSection = field(default_factory=FiltersSection)
    oslo_policy: OsloPolicySection = field(default_factory=OsloPolicySection)
    limits: LimitsSection = field(default_factory=LimitsSection)
    project_limits: dict = field(default_factory=dict)
    keystone_authtoken: KeystoneAuthtokenSection = field(
        default_factory=KeystoneAuthtokenSection
    )
    free_form: dict = field(default_factory=dict)
    source: str | None = None
    #: ``(option, why it has no effect)`` of each inert option set to another value than its
    #: default, in the order set.
    inert_settings: list = field(default_factory=list)

    @property
    def rest_endpoint(self):
        """The REST listener's endpoint string, or ``None`` when turned off."""
        return _endpoint(self.service.rest, self.wsgi.port, self.wsgi.bind)

    @property
    def websocket_endpoint(self):
        """The WebSocket listener's endpoint string, or ``None`` when turned off."""
        return _endpoint(self.service.websocket, self.websocket.port, self.websocket.bind)

    def set(self, section, name, value):
        """Set one option from its text form, as the file or the command line wrote it.

        :raises ConfigError: unknown section or option, or a value it does not accept.
        """
        if section in FREE_FORM_SECTIONS or section.startswith(FREE_FORM_PREFIXES):
            self.free_form.setdefault(section, {})[name] = value
            return
        if section.startswith(PROJECT_LIMITS_PREFIX):
            self._set_project_limit(section, name, value)
            return
        if section not in SECTIONS:
            raise ConfigError(
                f"unknown section [{section}] (known: {', '.join(sorted(SECTIONS))})"
            )
        attr, cls = SECTIONS[section]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if name not in fields and name in IGNORED_OPTIONS.get(section, ()):
            self.free_form.setdefault(section, {})[name] = value
            return
        if name not in fields:
            raise ConfigError(
                f"unknown option {name!r} in [{section}] (known: {', '.join(fields)})"
            )
        fld = fields[name]
        parsed = _parse(section, fld, value)
        setattr(getattr(self, attr), name, parsed)
        inert = fld.metadata.get("inert")
        option = f"[{section}] {name}"
        if inert and parsed != _default(fld) and option not in dict(self.inert_settings):
            self.inert_settings.append((option, inert))

    def _set_project_limit(self, section, name, value):
        """Record one option of ``[limits:PROJECT]`` in :attr:`project_limits` (project to
        ``{option: value}``; the other options come from ``[limits]``)."""
        project = section[len(PROJECT_LIMITS_PREFIX):]
        if not project:
            raise ConfigError(f"[{section}]: the section name must end with a project id")
        fields = {f.name: f for f in dataclasses.fields(LimitsSection)}
        if name not in fields:
            raise ConfigError(
                f"unknown option {name!r} in [{section}] (known: {', '.join(fields)})"
            )
        self.project_limits.setdefault(project, {})[name] = _parse(section, fields[name], value)

    def limits_of(self, project):
        """:returns: the :class:`LimitsSection` that applies to ``project``: ``[limits]``
        with its ``[limits:PROJECT]`` options on top."""
        overrides = self.project_limits.get(project)
        return self.limits if not overrides else dataclasses.replace(self.limits, **overrides)


def _default(fld):
    if fld.default_factory is not dataclasses.MISSING:
        return fld.default_factory()
    return fld.default


def _endpoint(explicit, port, bind):
    if explicit is not None:
        return None if explicit.strip().lower() == "none" else explicit
    return f"tcp:{port}:interface={bind}"


_TRUE = {"true", "yes", "on", "1", "t", "y"}
_FALSE = {"false", "no", "off", "0", "f", "n"}


def _parse(section, fld, text):
    """Convert the text of one option to its declared type, checking its bounds."""
    where = f"[{section}] {fld.name}"
    kind = fld.type
    text = text.strip()
    optional = "None" in str(kind)
    if optional and fld.metadata.get("none_text") and text.lower() == "none":
        return "none"
    if optional and text in ("", "None", "none"):
        return None
    try:
        if kind is bool or kind == "bool":
            low = text.lower()
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise ValueError("must be true or false")
        if "int" in str(kind):
            value = int(text)
        elif "float" in str(kind):
            value = float(text)
            if not math.isfinite(value):
                raise ValueError("must be a finite number")
        elif "list" in str(kind):
            return [item.strip() for item in text.split(",") if item.strip()]
        else:
            value = text
    except ValueError as exc:
        raise ConfigError(f"{where}: bad value {text!r}: {exc}") from None
    meta = fld.metadata
    if meta.get("choices") is not None and value not in meta["choices"]:
        raise ConfigError(
            f"{where}: bad value {text!r}: must be one of "
            f"{', '.join(repr(c) for c in meta['choices'])}"
        )
    if meta.get("min") is not None and value < meta["min"]:
        raise ConfigError(f"{where}: bad value {text!r}: must be at least {meta['min']}")
    if meta.get("max") is not None and value > meta["max"]:
        raise ConfigError(f"{where}: bad value {text!r}: must be at most {meta['max']}")
    return value


# Where zaqar.conf is looked for when none is named, in order; policy files too.
CONFIG_DIRS = ("~/.zaqar", "/etc/zaqar")


def default_config_path():
    """The config file used when none is named: ``~/.zaqar/zaqar.conf`` if it exists, else
    ``/etc/zaqar/zaqar.conf`` if it exists, else ``None`` (built-in defaults)."""
    for directory in CONFIG_DIRS:
        path = os.path.join(os.path.expanduser(directory), "zaqar.conf")
        if os.path.exists(path):
            return path
    return None


def search_dirs(source):
    """The directories a file named by a relative path is looked for in, in order: the
    directory of the config file in use (``source``, when there is one), ``~/.zaqar``,
    ``/etc/zaqar``.

    :param source: :attr:`Config.source`.
    """
    dirs = [os.path.dirname(os.path.abspath(source))] if source else []
    for directory in CONFIG_DIRS:
        expanded = os.path.expanduser(directory)
        if expanded not in dirs:
            dirs.append(expanded)
    return dirs


def load(path=None, overrides=()):
    """Build the configuration.

    :param path: the config file, or ``None`` to use :func:`default_config_path`.
    :param overrides: ``(section, option, text)`` triples from the command line, applied last.
    :raises ConfigError: the file is missing or unreadable, or names an unknown section or
        option, or holds a bad value.
    """
    config = Config()
    if path is None:
        path = default_config_path()
    elif not os.path.exists(path):
        raise ConfigError(f"config file {path} does not exist")
    if path is not None:
        _read_file(config, path)
    for section, name, text in overrides:
        config.set(section, name, text)
    _check(config)
    return config


def _read_file(config, path):
    parser = configparser.RawConfigParser(
        default_section="\0no-default\0", interpolation=None, strict=True
    )
    parser.optionxform = str
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle, source=path)
    except (OSError, configparser.Error, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    for section in parser.sections():
        if section in FREE_FORM_SECTIONS or section.startswith(FREE_FORM_PREFIXES):
            config.free_form[section] = dict(parser.items(section))
            continue
        for name, text in parser.items(section):
            try:
                config.set(section, name, text)
            except ConfigError as exc:
                raise ConfigError(f"{path}: {exc}") from None
    config.source = path


def _check(config):
    """Cross-option rules."""
    t = config.transport
    if t.min_length_client_id > t.max_length_client_id:
        raise ConfigError(
            "[transport] min_length_client_id must not exceed max_length_client_id"
        )
    if t.default_message_ttl > t.max_message_ttl:
        raise ConfigError("[transport] default_message_ttl must not exceed max_message_ttl")
    if t.default_claim_ttl > t.max_claim_ttl:
        raise ConfigError("[transport] default_claim_ttl must not exceed max_claim_ttl")
    if t.default_claim_grace > t.max_claim_grace:
        raise ConfigError("[transport] default_claim_grace must not exceed max_claim_grace")
    if config.notification.require_confirmation and not config.signed_url.secret_key:
        raise ConfigError(
            "[notification] require_confirmation needs [signed_url] secret_key, which signs "
            "the links of confirmation requests"
        )
