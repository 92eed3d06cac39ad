"""The oslo.policy provider: where its files are found, how they are read and reloaded, and
what its checks see."""

import contextlib
import json
import os

import pytest
from twisted.internet.task import Clock
from twisted.logger import formatEvent
from zope.interface.verify import verifyObject

from zaqar_tw.auth.policy import OsloPolicy, PolicyReloadService
from zaqar_tw.config import Config, ConfigError
from zaqar_tw.context import RequestContext
from zaqar_tw.errors import Forbidden
from zaqar_tw.interfaces import IPolicy

READER = RequestContext(project="p", client_id="c", roles=("reader",))
ADMIN = RequestContext(project="p", client_id="c", roles=("admin",))


def texts(events):
    return [formatEvent(event) for event in events]


def configured(policy_file, source=None, **options):
    """A Config whose [oslo_policy] names ``policy_file`` and whose zaqar.conf is ``source``."""
    config = Config(source=None if source is None else str(source))
    config.set("oslo_policy", "policy_file", str(policy_file))
    for name, text in options.items():
        config.set("oslo_policy", name, text)
    return config


def write(path, rules, form="json"):
    """Write ``rules`` as a JSON or YAML policy file; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if form == "json":
        path.write_text(json.dumps(rules))
    else:
        path.write_text("".join(f'"{name}": "{rule}"\n' for name, rule in rules.items()))
    return path


@contextlib.contextmanager
def watched(path, interval):
    """An OsloPolicy reading ``path``, and the Clock its reload service checks on."""
    policy = OsloPolicy(configured(path))
    clock = Clock()
    watch = PolicyReloadService(policy, interval, clock)
    watch.startService()
    try:
        yield policy, clock
    finally:
        assert watch.running and watch._loop.running  # no reload stopped the checks
        watch.stopService()


def touch_later(path, text):
    """Rewrite a file so that its modification time surely changes."""
    stamp = os.stat(path).st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(stamp + 1_000_000_000, stamp + 1_000_000_000))


def test_provider_verifies(home):
    """OsloPolicy provides IPolicy."""
    verifyObject(IPolicy, OsloPolicy(Config()))


def test_defaults_in_code_without_a_file(home, tmp_path, logged):
    """No policy file: open rules pass everyone, admin rules need the admin role, and the
    start-up log says the rules in code apply."""
    policy = OsloPolicy(configured(tmp_path / "absent.yaml"))
    policy.enforce("queues:create", READER)
    policy.enforce("health:get", ADMIN)
    with pytest.raises(Forbidden) as caught:
        policy.enforce("health:get", READER)
    assert (caught.value.status, caught.value.title, caught.value.description) == (
        403, "Not authorized", "You are not authorized to complete this action.")
    assert policy.allows("pools:create", ADMIN) and not policy.allows("pools:create", READER)
    assert policy.allows("flavors:get", READER)
    assert [text for text in texts(logged) if "no policy file" in text] == [
        f"no policy file ({tmp_path / 'absent.yaml'}): the rules in code apply"
    ]


@pytest.mark.parametrize("form", ["json", "yaml"])
def test_json_and_yaml_files_are_read(tmp_path, form):
    """A policy file in JSON or in YAML overrides the rules it names."""
    path = write(tmp_path / f"policy.{form}", {"queues:create": "!", "queues:get": "role:a"},
                 form)
    policy = OsloPolicy(configured(path))
    assert not policy.allows("queues:create", ADMIN)
    assert policy.allows("queues:get", RequestContext("p", "c", roles=("a",)))
    assert not policy.allows("queues:get", READER)
    assert policy.allows("queues:delete", READER)


def test_a_relative_file_is_looked_for_beside_the_config_then_home_then_etc(home, tmp_path):
    """A relative policy_file is found beside the zaqar.conf in use before ~/.zaqar/, and
    /etc/zaqar/ comes last."""
    from zaqar_tw.config import search_dirs

    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    source = conf_dir / "zaqar.conf"
    assert search_dirs(str(source)) == [str(conf_dir), str(home / ".zaqar"), "/etc/zaqar"]
    write(home / ".zaqar" / "mine.json", {"queues:create": "!"})
    assert not OsloPolicy(configured("mine.json", source)).allows("queues:create", READER)
    write(conf_dir / "mine.json", {"queues:get": "!"})
    beside = OsloPolicy(configured("mine.json", source))
    assert beside.files() == [str(conf_dir / "mine.json")]
    assert beside.allows("queues:create", READER)
    assert not beside.allows("queues:get", READER)


def test_default_name_also_finds_policy_json(home):
    """Left at policy.yaml, policy_file also finds a policy.json; a policy.yaml in the same
    place wins."""
    write(home / ".zaqar" / "policy.json", {"queues:create": "!"})
    policy = OsloPolicy(Config())
    assert policy.files() == [str(home / ".zaqar" / "policy.json")]
    assert not policy.allows("queues:create", READER)
    write(home / ".zaqar" / "policy.yaml", {"queues:get": "!"}, "yaml")
    assert OsloPolicy(Config()).files() == [str(home / ".zaqar" / "policy.yaml")]


def test_policy_dirs_override_the_file_in_name_order(home, tmp_path):
    """The files of policy_dirs apply after the policy file, in name order; dot files are
    skipped; without a policy file the directories are not read."""
    source = tmp_path / "zaqar.conf"
    write(tmp_path / "policy.d" / "20-b.json", {"queues:get": "role:b"})
    write(tmp_path / "policy.d" / "10-a.json", {"queues:get": "role:a", "queues:stats": "!"})
    write(tmp_path / "policy.d" / ".hidden.json", {"queues:delete": "!"})
    assert OsloPolicy(configured("policy.json", source)).allows("queues:stats", READER)
    write(tmp_path / "policy.json", {"queues:get": "!", "queues:purge": "!"})
    policy = OsloPolicy(configured("policy.json", source))
    assert policy.allows("queues:get", RequestContext("p", "c", roles=("b",)))
    assert not policy.allows("queues:get", RequestContext("p", "c", roles=("a",)))
    assert not policy.allows("queues:stats", READER)
    assert not policy.allows("queues:purge", READER)
    assert policy.allows("queues:delete", READER)


@pytest.mark.parametrize("text, reason", [
    ("{not json: [", "not YAML or JSON"),
    ('["queues:create"]', "must map rule names to rules, not be a list"),
    ('{"queues:create": 1}', "rule 'queues:create' must be a string"),
    ('{"queues:create": "role:a or or"}', "rule 'queues:create': cannot understand"),
    ('{"queues:create": "admin"}', "rule 'queues:create': cannot understand 'admin'"),
    ('{"a": "rule:b", "b": "rule:a", "queues:get": "rule:a"}', "refers to itself"),
    ('{"queues:create": "http://127.0.0.1:1/check"}', "http: checks are not supported"),
    ('{"default": "rule:nothing"}', "rule 'default' refers to itself"),
])
def test_a_broken_file_stops_start_up(tmp_path, text, reason):
    """At start-up, a policy file that cannot be used is a configuration error naming the
    file and the reason."""
    path = tmp_path / "policy.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="policy") as caught:
        OsloPolicy(configured(path))
    assert str(path) in str(caught.value) and reason in str(caught.value)


def test_a_changed_file_is_read_again_on_the_clock(tmp_path, logged):
    """A changed policy file takes effect at the next check of the reload service, not before
    (requests never read the file); a removed one leaves the rules in code, logged once."""
    path = write(tmp_path / "policy.json", {"queues:create": "!"})
    with watched(path, 10) as (policy, clock):
        assert not policy.allows("queues:create", READER)
        touch_later(path, json.dumps({"queues:get": "!"}))
        clock.advance(9)
        assert not policy.allows("queues:create", READER)
        clock.advance(1)
        assert policy.allows("queues:create", READER)
        assert not policy.allows("queues:get", READER)
        os.remove(path)
        clock.advance(10)
        clock.advance(10)
        assert policy.allows("queues:get", READER)
    assert sum("no policy file" in text for text in texts(logged)) == 1


def test_a_broken_change_keeps_the_last_good_rules_and_is_logged_once(tmp_path, logged):
    """A file that breaks while running is logged once, with the reason, and the rules in
    force stay; once fixed it applies."""
    path = write(tmp_path / "policy.json", {"queues:create": "!"})
    with watched(path, 5) as (policy, clock):
        touch_later(path, '{"queues:create": "role:a or or"}')
        for _ in range(3):
            clock.advance(5)
        assert not policy.allows("queues:create", READER)
        errors = [text for text in texts(logged) if "the rules in force stay" in text]
        assert errors == [
            f"policy file {path}: rule 'queues:create': cannot understand 'role:a or or'; "
            "the rules in force stay"
        ]
        touch_later(path, '{"queues:create": ""}')
        clock.advance(5)
        assert policy.allows("queues:create", READER)


def test_unknown_rule_names_are_warned_about(tmp_path, logged):
    """A file rule that names no known rule and that no rule uses is a warning (a typo); a
    helper rule that others use is not; a reference to no rule is a warning too."""
    path = write(tmp_path / "policy.json", {
        "queue:create": "!", "helpers": "role:a", "queues:get": "rule:helpers",
        "queues:stats": "rule:missing",
    })
    OsloPolicy(configured(path))
    warnings = [text for text in texts(logged) if text.startswith(f"policy file {path}: rule")]
    assert warnings == [
        f"policy file {path}: rule 'queue:create' in the policy file names no known rule "
        "(a typo?)",
        f"policy file {path}: rule 'queues:stats' refers to rule 'missing', which does not "
        "exist (it refuses everyone)",
    ]


def test_owner_and_admin_checks(tmp_path):
    """project_id and user_id checks compare the caller with the target (its own project and
    user); is_admin follows context_is_admin; a caller without a user fails user checks."""
    path = write(tmp_path / "policy.json", {
        "context_is_admin": "role:boss",
        "queues:create": "project_id:%(project_id)s",
        "queues:get": "project_id:other",
        "queues:delete": "user_id:%(user_id)s",
        "queues:stats": "rule:admin_or_owner and role:reader",
        "queues:purge": "is_admin:True",
    })
    policy = OsloPolicy(configured(path))
    user = RequestContext(project="p", client_id="c", roles=("reader",), user="u")
    assert policy.allows("queues:create", READER)
    assert not policy.allows("queues:get", READER)
    assert policy.allows("queues:get", RequestContext(project="other", client_id="c"))
    assert policy.allows("queues:delete", user) and not policy.allows("queues:delete", READER)
    assert policy.allows("queues:stats", READER)
    assert not policy.allows("queues:purge", ADMIN)
    assert policy.allows("queues:purge", RequestContext(project="p", client_id="c",
                                                        roles=("Boss",)))


def test_decisions_are_cached_per_rule_and_credentials(tmp_path):
    """Rules that read only roles are cached per role set; rules that read the project are
    cached per project; the cache stays within its size."""
    path = write(tmp_path / "policy.json", {"queues:get": "project_id:p"})
    policy = OsloPolicy(configured(path), cache_size=3)
    for project in ("p", "q", "r", "s"):
        ctx = RequestContext(project=project, client_id="c", roles=("reader",))
        assert policy.allows("queues:create", ctx)
        assert policy.allows("queues:get", ctx) is (project == "p")
    assert len(policy._cache) == 3
    assert ("queues:create", ("reader",)) in policy._cache
    assert ("queues:get", ("reader",), "s", None) in policy._cache


def test_unknown_rules_use_the_default_rule(tmp_path, logged):
    """A rule name the policy does not know, or a reference to one, is refused, unless
    policy_default_rule names a rule; then that rule decides (per project, here)."""
    assert not OsloPolicy(configured(tmp_path / "none.json")).allows("x:y", ADMIN)
    path = write(tmp_path / "policy.json", {"fallback": "role:admin or project_id:p",
                                             "queues:get": "rule:missing"})
    policy = OsloPolicy(configured(path, policy_default_rule="fallback"))
    elsewhere = RequestContext("q", "c", roles=("reader",))
    assert policy.allows("x:y", READER) and not policy.allows("x:y", elsewhere)
    assert policy.allows("queues:get", READER) and not policy.allows("queues:get", elsewhere)
    assert f"policy file {path}: rule 'queues:get' refers to rule 'missing', which does not " \
           "exist (rule 'fallback' decides instead)" in texts(logged)


def test_policy_options_are_read_from_zaqar_conf(tmp_path):
    """[oslo_policy] is a section of zaqar.conf: its options load, bad values are refused,
    and the options oslo.policy has but zaqar-tw does not use are accepted."""
    from zaqar_tw import config

    path = tmp_path / "zaqar.conf"
    path.write_text("[oslo_policy]\npolicy_file = p.yaml\npolicy_dirs = a, b\n"
                    "reload_interval = 2.5\nenforce_scope = false\nremote_timeout = 5\n")
    loaded = config.load(str(path)).oslo_policy
    assert (loaded.policy_file, loaded.policy_dirs, loaded.reload_interval) == (
        "p.yaml", ["a", "b"], 2.5)
    path.write_text("[oslo_policy]\nreload_interval = -1\n")
    with pytest.raises(ConfigError, match=r"\[oslo_policy\] reload_interval"):
        config.load(str(path))
