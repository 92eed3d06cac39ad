"""Providers found by name: storage back ends, authenticators, message filters and notifiers.

Each kind is an entry-point group; the built-in providers register in ``pyproject.toml``
exactly as a third-party package does, so none is special.  A provider is a class; it must
provide the group's interface, checked with ``zope.interface.verify.verifyClass`` when it is
loaded at start-up.

Filters and notifiers read their own sections (``[filter:<name>]``, ``[notifier:<name>]``).
A provider declares the option names its section accepts in ``known_options``; a name not
among them stops start-up as an unknown option of zaqar-tw's own sections does.  A section
that names no installed provider stops start-up too; one whose provider is installed but not
enabled is warned about (:func:`unused_sections`).
"""

from importlib.metadata import entry_points

from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyClass, verifyObject

from zaqar_tw.config import ConfigError
from zaqar_tw.interfaces import IAuthenticator, IMessageFilter, INotifier, IStorage

STORAGE = "zaqar_tw.storage"
AUTH = "zaqar_tw.auth"
FILTERS = "zaqar_tw.filters"
NOTIFIERS = "zaqar_tw.notifiers"

# group -> (the interface its providers must provide, what one provider is called)
GROUPS = {
    STORAGE: (IStorage, "storage back end"),
    AUTH: (IAuthenticator, "authenticator"),
    FILTERS: (IMessageFilter, "message filter"),
    NOTIFIERS: (INotifier, "notifier"),
}

FILTER_SECTION_PREFIX = "filter:"
NOTIFIER_SECTION_PREFIX = "notifier:"


def installed(group):
    """:returns: the sorted names registered in the entry-point ``group``."""
    return sorted({ep.name for ep in entry_points(group=group)})


def load(group, name, option):
    """Load the provider class registered as ``name`` in ``group`` and check its interface.

    :param group: one of :data:`GROUPS`.
    :param option: the config option that named it, e.g. ``"[drivers] message_store"``,
        for the error message.
    :returns: the class.
    :raises ConfigError: naming the option and the name, and listing the installed
        providers, when no provider has that name, it cannot be imported, it is not a class,
        or it does not provide the group's interface.
    """
    interface, kind = GROUPS[group]

    def refuse(reason):
        names = ", ".join(installed(group)) or "none"
        return ConfigError(f"{option}: {reason} (installed {kind}s: {names})")

    found = entry_points(group=group, name=name)
    if not found:
        raise refuse(f"no {kind} named {name!r} is installed")
    entry_point = next(iter(found))
    where = f"{name!r} ({entry_point.value})"
    try:
        provider = entry_point.load()
    except Exception as exc:
        raise refuse(f"{where} cannot be loaded: {type(exc).__name__}: {exc}") from None
    if not isinstance(provider, type):
        raise refuse(f"{where} is not a class")
    try:
        verifyClass(interface, provider)
    except Invalid as exc:
        reason = " ".join(str(exc).split())
        raise refuse(f"{where} does not implement {interface.__name__}: {reason}") from None
    return provider


def check_options(cls, section, options):
    """Refuse option names the provider ``cls`` does not declare in ``known_options``.

    :param section: the section's name, e.g. ``"filter:stamp"``.
    :raises ConfigError: naming the section, the unknown options and the known ones.  A
        provider without ``known_options`` (``None``) is not checked.
    """
    known = getattr(cls, "known_options", None)
    if known is None:
        return
    unknown = sorted(set(options) - set(known))
    if unknown:
        names = ", ".join(repr(name) for name in unknown)
        raise ConfigError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {names} in [{section}] "
            f"(known: {', '.join(sorted(known)) or 'none'})"
        )


def unused_sections(config):
    """Check the plugin sections of the config file against what is installed and enabled.

    :returns: ``[(section, why it has no effect)]`` for the sections of installed providers
        that are not enabled (the service logs them as warnings).
    :raises ConfigError: a section names no installed provider (a typo, or a package that
        is not installed).
    """
    enabled = {
        FILTER_SECTION_PREFIX: (FILTERS, "[filters] chain", set(filter_names(config))),
        NOTIFIER_SECTION_PREFIX: (
            NOTIFIERS, "[notification] notifiers", set(config.notification.notifiers)
        ),
    }
    unused = []
    for section in config.free_form:
        for prefix, (group, option, names) in enabled.items():
            if not section.startswith(prefix):
                continue
            name = section[len(prefix):]
            kind = GROUPS[group][1]
            if name not in installed(group):
                raise ConfigError(
                    f"unknown section [{section}]: no {kind} named {name!r} is installed "
                    f"(installed {kind}s: {', '.join(installed(group)) or 'none'})"
                )
            if name not in names:
                unused.append((f"[{section}]", f"{option} does not name {name!r}"))
    return unused


def filter_names(config):
    """The filters to run, in order: ``[filters] chain``, then ``checksum`` when
    ``[DEFAULT] enable_checksum`` is on and the chain does not name it already."""
    names = list(config.filters.chain)
    if config.default.enable_checksum and "checksum" not in names:
        names.append("checksum")
    return names


def filter_chain(config):
    """Build the configured filter chain, each filter as ``cls(config, options)`` with the
    options of its ``[filter:<name>]`` section.

    :returns: a :class:`~zaqar_tw.filters.FilterChain` (empty when nothing is configured).
    :raises ConfigError: a filter is unknown, named twice, fails its interface check, or
        its section holds an option it does not declare.
    """
    from zaqar_tw.filters import FilterChain

    names = filter_names(config)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"[filters] chain: {', '.join(twice)} named more than once")
    filters = []
    for name in names:
        option = "[filters] chain" if name in config.filters.chain else (
            "[DEFAULT] enable_checksum"
        )
        cls = load(FILTERS, name, option)
        options = dict(config.free_form.get(FILTER_SECTION_PREFIX + name, {}))
        check_options(cls, FILTER_SECTION_PREFIX + name, options)
        filters.append(cls(config, options))
    return FilterChain(filters, names)


def notifiers(config, reactor):
    """Build the notifiers that ``[notification] notifiers`` enables, each as
    ``cls(reactor, config, options)`` with the options of its ``[notifier:<name>]`` section.

    :returns: a list of INotifier providers, in the configured order (empty when the option
        names none).
    :raises ConfigError: a notifier is unknown, named twice, fails its interface check, or
        refuses its options (or its section holds one it does not declare).
    """
    option = "[notification] notifiers"
    names = list(config.notification.notifiers)
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise ConfigError(f"{option}: {', '.join(twice)} named more than once")
    built = []
    for name in names:
        cls = load(NOTIFIERS, name, option)
        options = dict(config.free_form.get(NOTIFIER_SECTION_PREFIX + name, {}))
        check_options(cls, NOTIFIER_SECTION_PREFIX + name, options)
        try:
            notifier = cls(reactor, config, options)
        except ValueError as exc:
            raise ConfigError(f"[{NOTIFIER_SECTION_PREFIX}{name}]: {exc}") from None
        try:
            verifyObject(INotifier, notifier)
        except Invalid as exc:
            reason = " ".join(str(exc).split())
            raise ConfigError(
                f"{option}: {name!r} does not implement INotifier: {reason}"
            ) from None
        built.append(notifier)
    return built
