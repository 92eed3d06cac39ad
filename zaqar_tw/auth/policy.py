"""Who may run which operation: the rules in code (:mod:`zaqar_tw.auth.policies`), overridden
by the policy file, decided by oslo.policy.

The file is ``[oslo_policy] policy_file`` (YAML or JSON, ``{"rule name": "check"}``), found as
:class:`~zaqar_tw.config.OsloPolicySection` says, plus the files of ``policy_dirs``.  They
are read at start-up (a broken file stops it) and then checked for changes every
``reload_interval`` seconds by :class:`PolicyReloadService`: a changed file takes effect
at once; a broken one is logged, once per change, and the rules in force stay.  oslo.policy
itself never touches the disk here, so a request costs no ``stat``.

Each check sees the credentials ``roles``, ``project_id``, ``user_id`` (when known) and
``is_admin`` (whether the caller passes ``context_is_admin``), and the target
``{"project_id", "user_id"}`` of the caller itself, since every resource belongs to the
caller's project.  Decisions are cached per rule and per the credentials the rule reads.
"""

import contextlib
import logging
import os

from oslo_config import cfg
from oslo_policy import policy as oslo
from twisted.application.internet import TimerService
from twisted.logger import Logger
from zope.interface import implementer

from zaqar_tw.auth.policies import list_rules
from zaqar_tw.config import ConfigError, OsloPolicySection, search_dirs
from zaqar_tw.errors import Forbidden
from zaqar_tw.interfaces import IPolicy

log = Logger()

NOT_AUTHORIZED = "You are not authorized to complete this action."
DEFAULT_FILE = OsloPolicySection.policy_file
# Decisions kept at most; the oldest goes first.
CACHE_SIZE = 4096
# Check kinds that would make a request wait on the network: refused.
REMOTE_KINDS = ("http", "https")


class PolicyFileError(Exception):
    """A policy file cannot be used; the message says where and why."""


@implementer(IPolicy)
class OsloPolicy:
    """The rules in code, overridden by the policy files, enforced by oslo.policy.

    :param config: the :class:`~zaqar_tw.config.Config`; its ``[oslo_policy]`` section and
        ``source`` (the zaqar.conf in use) say where the files are.
    :param cache_size: how many decisions to keep.
    :raises ConfigError: a policy file exists but cannot be used.
    """

    def __init__(self, config, cache_size=CACHE_SIZE):
        self.options = config.oslo_policy
        self.source = config.source
        self.defaults = list_rules()
        self.enforcer = oslo.Enforcer(
            cfg.ConfigOpts(), default_rule=self.options.policy_default_rule, use_conf=False
        )
        self.enforcer.register_defaults(self.defaults)
        self._cache = {}
        self._cache_size = cache_size
        self._role_only = frozenset()
        self._seen = None
        try:
            self.reload_if_changed(strict=True)
        except PolicyFileError as error:
            raise ConfigError(f"[oslo_policy] {error}") from None

    def enforce(self, rule, context):
        """:raises Forbidden: the caller does not pass ``rule``."""
        if not self.allows(rule, context):
            raise Forbidden(NOT_AUTHORIZED)

    def allows(self, rule, context):
        """:returns: whether the caller passes ``rule``."""
        if rule in self._role_only:
            key = (rule, context.roles)
        else:
            key = (rule, context.roles, context.project, context.user)
        decision = self._cache.get(key)
        if decision is None:
            decision = self._decide(rule, context)
            if len(self._cache) >= self._cache_size:
                del self._cache[next(iter(self._cache))]
            self._cache[key] = decision
        return decision

    def _decide(self, rule, context):
        target = {
            name: value
            for name, value in (("project_id", context.project), ("user_id", context.user))
            if value is not None
        }
        creds = {"roles": list(context.roles), "is_admin": False, **target}
        creds["is_admin"] = bool(self.enforcer.enforce("context_is_admin", target, creds))
        return bool(self.enforcer.enforce(rule, target, creds))

    def files(self):
        """:returns: the policy files in force, in the order they apply (see
        :func:`locate`)."""
        return locate(self.options, self.source)

    def reload_if_changed(self, strict=False):
        """Read the policy files again if they changed since last time (the
        :class:`PolicyReloadService` calls it); log what happened.

        :param strict: raise instead of logging when they cannot be used.
        :raises PolicyFileError: ``strict``, and a file cannot be used.
        """
        try:
            paths = self.files()
            seen = tuple((path, _stamp(path)) for path in paths)
            if seen == self._seen:
                return
            self._seen = seen
            self._load(paths)
        except Exception as error:  # a reload must never stop the timer that runs it
            if strict:
                raise
            if isinstance(error, PolicyFileError):
                log.error("{error}; the rules in force stay", error=str(error))
            else:
                log.failure("reading the policy files failed; the rules in force stay")

    def _load(self, paths):
        """Put the rules of ``paths`` in force, and log it.

        :raises PolicyFileError: they cannot be used.
        """
        overrides = read_files(paths)
        rules, warnings = build_rules(self.defaults, overrides, self.options, paths)
        self.enforcer.set_rules(rules, overwrite=True, use_conf=False)
        self.enforcer.file_rules = dict(overrides)
        self._role_only = frozenset(
            name for name in rules if not _reads_identity(rules[name], rules)
        )
        self._cache.clear()
        if not paths:
            log.info("no policy file ({where}): the rules in code apply",
                     where=_looked_for(self.options, self.source))
            return
        log.info(
            "access rules: {paths} ({count} overriding the rules in code)",
            paths=", ".join(paths), count=len(overrides),
        )
        for warning in warnings:
            log.warn("policy file {paths}: {warning}", paths=", ".join(paths), warning=warning)


def check(config):
    """Read the policy files of ``config`` as the service will, without putting them in
    force or logging (start-up checks).

    :raises ConfigError: a policy file cannot be used.
    """
    paths = locate(config.oslo_policy, config.source)
    try:
        build_rules(list_rules(), read_files(paths), config.oslo_policy, paths)
    except PolicyFileError as error:
        raise ConfigError(f"[oslo_policy] {error}") from None


def locate(options, source):
    """The policy files of ``[oslo_policy]``, in the order they apply: the policy file
    (an absolute name as is, a relative one in each of
    :func:`~zaqar_tw.config.search_dirs` in turn; ``policy.yaml``, the default, also finds
    a ``policy.json``), then each policy directory's files by name.

    :param options: the :class:`~zaqar_tw.config.OsloPolicySection`.
    :param source: the zaqar.conf in use, or ``None``.
    :returns: the paths, or ``[]`` when there is no policy file.
    """
    main = _find(_names(options), os.path.isfile, source)
    if main is None:
        return []
    found = [main]
    for name in options.policy_dirs:
        directory = _find([name], os.path.isdir, source)
        if directory is None:
            continue
        with contextlib.suppress(OSError):
            entries = sorted(os.listdir(directory))
            found += [
                path
                for path in (os.path.join(directory, entry) for entry in entries
                             if not entry.startswith("."))
                if os.path.isfile(path)
            ]
    return found


def _names(options):
    """The policy file names looked for, in order."""
    if options.policy_file == DEFAULT_FILE:
        return [DEFAULT_FILE, "policy.json"]
    return [os.path.expanduser(options.policy_file)]


def _find(names, kind, source):
    """The first path that ``kind`` accepts, looking in each search directory in turn for
    each of ``names`` (an absolute name is itself in every directory)."""
    for directory in search_dirs(source):
        for name in names:
            path = os.path.join(directory, name)
            if kind(path):
                return path
    return None


def _looked_for(options, source):
    """Where :func:`locate` looked for the policy file, for the log."""
    names = " or ".join(_names(options))
    if os.path.isabs(names):
        return names
    return f"{names} in {', '.join(search_dirs(source))}"


def read_files(paths):
    """:returns: the rules of the policy files ``paths``, later files overriding earlier
        ones: rule name to ``RuleDefault``.
    :raises PolicyFileError: a file cannot be used (see :func:`_read`).
    """
    overrides = {}
    for path in paths:
        overrides.update(_read(path))
    return overrides


def build_rules(defaults, overrides, options, paths):
    """The rules in code overridden by the files' rules, checked.

    :param defaults: the ``RuleDefault`` objects in code.
    :param overrides: rule name to ``RuleDefault``, from :func:`read_files`.
    :param options: the :class:`~zaqar_tw.config.OsloPolicySection`.
    :param paths: the files the overrides come from (for messages).
    :returns: ``(rules, warnings)``: the oslo.policy ``Rules`` to put in force, and warnings
        about them (typos, references to no rule).
    :raises PolicyFileError: a rule would loop or call a remote check.
    """
    rules = oslo.Rules(
        {default.name: default.check for default in defaults}, options.policy_default_rule
    )
    rules.update({name: rule.check for name, rule in overrides.items()})
    try:
        warnings = _check_rules(rules, overrides, {default.name for default in defaults})
    except PolicyFileError as error:
        raise PolicyFileError(f"policy file {', '.join(paths)}: {error}") from None
    return rules, warnings


def get_enforcer():
    """The oslo.policy ``Enforcer`` of the configuration in use, its policy files read: the
    entry point of the ``oslo.policy.enforcer`` group, for ``oslopolicy-policy-generator
    --namespace zaqar_tw`` (the rules in force) and ``oslopolicy-list-redundant --namespace
    zaqar_tw`` (file rules equal to their defaults).  The zaqar.conf is the tool's
    ``--config-file``, else the one the service would use.

    :raises ConfigError: the configuration or a policy file cannot be used.
    """
    from zaqar_tw import config as configuration

    named = getattr(cfg.CONF, "config_file", None) if "config_file" in cfg.CONF else None
    return OsloPolicy(configuration.load(named[-1] if named else None)).enforcer


class PolicyReloadService(TimerService):
    """Reads the policy files again when they change, checking every ``interval``
    seconds of ``clock``."""

    name = "policy"

    def __init__(self, policy, interval, clock):
        """
        :param policy: the :class:`OsloPolicy`.
        :param interval: seconds between two checks.
        :param clock: the ``IReactorTime`` the checks run on.
        """
        TimerService.__init__(self, interval, policy.reload_if_changed)
        self.clock = clock


def _stamp(path):
    """What tells that a file changed: its inode, size and modification time."""
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns


def _read(path):
    """Parse one policy file.

    :returns: rule name to ``RuleDefault``, in the file's order.
    :raises PolicyFileError: unreadable, not YAML or JSON, not a mapping of names to rule
        texts, or a rule oslo.policy cannot understand.
    """
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyFileError(f"policy file {path}: cannot read it: {error}") from None
    try:
        document = oslo.parse_file_contents(text)
    except ValueError as error:
        raise PolicyFileError(f"policy file {path}: not YAML or JSON: {error}") from None
    if not isinstance(document, dict):
        raise PolicyFileError(
            f"policy file {path}: must map rule names to rules, not be a "
            f"{type(document).__name__}"
        )
    rules = {}
    for name, text in document.items():
        if not isinstance(text, str):
            raise PolicyFileError(
                f"policy file {path}: rule {name!r} must be a string (\"\" lets everyone "
                f"through, \"!\" no one), not {text!r}"
            )
        with _parser_complaints() as complaints:
            rules[str(name)] = oslo.RuleDefault(str(name), text)
        if complaints:
            raise PolicyFileError(
                f"policy file {path}: rule {name!r}: cannot understand {text!r}"
            )
    return rules


@contextlib.contextmanager
def _parser_complaints():
    """Collect what oslo.policy's rule parser logs while it gives up on a rule (it then
    quietly reads the rule as ``"!"``).

    :returns: the list of complaints, filled as the block runs.
    """
    complaints = []

    class Collect(logging.Handler):
        def emit(self, record):
            complaints.append(record.getMessage())

    logger = logging.getLogger("oslo_policy._parser")
    handler = Collect(logging.ERROR)
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    try:
        yield complaints
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _leaves(check):
    """The simple checks of a check tree (``role:``, ``rule:``, ``"@"``, ...)."""
    if isinstance(check, (oslo.AndCheck, oslo.OrCheck)):
        for part in check.rules:
            yield from _leaves(part)
    elif isinstance(check, oslo.NotCheck):
        yield from _leaves(check.rule)
    else:
        yield check


def _references(check, rules):
    """The rules a check tree refers to with ``rule:``, as evaluated: a name ``rules`` lacks
    stands for the default rule (``policy_default_rule``) when there is one.

    :returns: ``(name, rule in force or None)`` pairs.
    """
    found = []
    for leaf in _leaves(check):
        if getattr(leaf, "kind", None) != "rule":
            continue
        if leaf.match in rules:
            found.append((leaf.match, leaf.match))
        else:
            default = rules.default_rule
            found.append((leaf.match, default if default in rules else None))
    return found


def _check_rules(rules, overrides, known):
    """Look at the rules about to be in force.

    :param rules: the oslo.policy ``Rules``.
    :returns: warnings: overrides that name no known rule and that no rule refers to (a
        typo, most likely), and references to no rule.
    :raises PolicyFileError: a rule refers to itself through others, or asks a remote
        service (``http:``/``https:``: the server would wait on it).
    """
    for name in overrides:
        for leaf in _leaves(rules[name]):
            if getattr(leaf, "kind", None) in REMOTE_KINDS:
                raise PolicyFileError(
                    f"rule {name!r}: {leaf.kind}: checks are not supported"
                )
    _refuse_loops(rules)
    referred = {ref for check in rules.values() for ref, _ in _references(check, rules)}
    warnings = [
        f"rule {name!r} in the policy file names no known rule (a typo?)"
        for name in overrides
        if name not in known and name not in referred
    ]
    warnings += [
        f"rule {name!r} refers to rule {ref!r}, which does not exist"
        + (f" (rule {used!r} decides instead)" if used else " (it refuses everyone)")
        for name, check in rules.items()
        for ref, used in _references(check, rules)
        if ref not in rules
    ]
    return warnings


def _refuse_loops(rules):
    """:raises PolicyFileError: a rule refers to itself, through others or not."""
    done = set()

    def visit(name, path):
        if name in path:
            chain = " -> ".join((*path[path.index(name):], name))
            raise PolicyFileError(f"rule {name!r} refers to itself: {chain}")
        if name in done:
            return
        for _, used in _references(rules[name], rules):
            if used is not None:
                visit(used, (*path, name))
        done.add(name)

    for name in rules:
        visit(name, ())


def _reads_identity(check, rules, seen=frozenset()):
    """Whether a check's decision may depend on more of the caller than its roles (the
    project or user, or anything a generic check reads).

    ``is_admin:True`` depends on what ``context_is_admin`` reads.
    """
    for leaf in _leaves(check):
        kind = getattr(leaf, "kind", None)
        if kind is None:  # "@" or "!"
            continue
        if kind == "rule" or (kind == "is_admin" and "%(" not in leaf.match):
            if kind == "rule":
                [(_, ref)] = _references(leaf, rules)
            else:
                ref = "context_is_admin"
            if ref is None or ref in seen:
                continue
            if _reads_identity(rules[ref], rules, seen | {ref}):
                return True
        elif kind != "role" or "%(" in leaf.match:
            return True
    return False
