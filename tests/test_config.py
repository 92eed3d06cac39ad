"""Configuration: precedence of files and command line; errors that name the culprit."""

import dataclasses
import os
import re

import pytest

from zaqar_tw import config
from zaqar_tw.config import Config, ConfigError

SAMPLE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "etc", "zaqar.conf")


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def test_defaults_without_any_file(home):
    """With no user file and no /etc file, the built-in defaults apply."""
    if os.path.exists("/etc/zaqar/zaqar.conf"):
        pytest.skip("/etc/zaqar/zaqar.conf exists on this machine and would be read")
    assert config.default_config_path() is None
    loaded = config.load()
    assert loaded == Config()
    assert loaded.source is None
    assert loaded.redis.uri == "embedded"
    assert loaded.rest_endpoint == "tcp:8888:interface=127.0.0.1"
    assert loaded.websocket_endpoint == "tcp:9000:interface=127.0.0.1"


def test_user_file_is_read_when_it_exists(home):
    """~/.zaqar/zaqar.conf is the file used when none is named."""
    path = write(home / ".zaqar" / "zaqar.conf", "[drivers:transport:wsgi]\nport = 7777\n")
    assert config.default_config_path() == path
    loaded = config.load()
    assert loaded.source == path
    assert loaded.wsgi.port == 7777
    assert loaded.rest_endpoint == "tcp:7777:interface=127.0.0.1"


def test_command_line_beats_the_file(home):
    """Overrides (the command line) win over the same option in the file."""
    write(
        home / ".zaqar" / "zaqar.conf",
        "[drivers:message_store:redis]\nuri = redis://10.0.0.1:6379\n"
        "[DEFAULT]\nadmin_mode = false\n",
    )
    loaded = config.load(None, [
        ("drivers:message_store:redis", "uri", "redis://127.0.0.1:6380/2"),
        ("DEFAULT", "admin_mode", "true"),
    ])
    assert loaded.redis.uri == "redis://127.0.0.1:6380/2"
    assert loaded.default.admin_mode is True


def test_named_file_beats_the_user_file(home, tmp_path):
    """An explicit path is read instead of ~/.zaqar/zaqar.conf."""
    write(home / ".zaqar" / "zaqar.conf", "[service]\nworkers = 3\n")
    named = write(tmp_path / "other.conf", "[transport]\nmax_messages_per_page = 15\n")
    loaded = config.load(named)
    assert loaded.source == named
    assert loaded.service.workers == 1
    assert loaded.transport.max_messages_per_page == 15


def test_missing_named_file_is_an_error(tmp_path):
    """A named file that does not exist is refused, naming it."""
    missing = str(tmp_path / "nope.conf")
    with pytest.raises(ConfigError, match=re.escape(missing)):
        config.load(missing)


@pytest.mark.parametrize("text, named", [
    ("[nonsense]\nx = 1\n", "[nonsense]"),
    ("[transport]\nmax_pages = 3\n", "'max_pages' in [transport]"),
    ("[drivers:transport:wsgi]\nport = eighty\n", "[drivers:transport:wsgi] port"),
    ("[drivers:transport:wsgi]\nport = 70000\n", "[drivers:transport:wsgi] port"),
    ("[DEFAULT]\nadmin_mode = maybe\n", "[DEFAULT] admin_mode"),
    ("[embedded]\nappendfsync = never\n", "[embedded] appendfsync"),
    ("[transport]\ndefault_claim_ttl = 10\n", "[transport] default_claim_ttl"),
    ("[service]\nworkers = 0\n", "[service] workers"),
    ("no section header\n", "cannot read config file"),
    ("[limits]\nwrite_rate = -1\n", "[limits] write_rate"),
    ("[limits]\nread_rate = nan\n", "[limits] read_rate: bad value 'nan': must be a finite"),
    ("[limits]\nclaim_burst = 1.5\n", "[limits] claim_burst"),
    ("[limits:p1]\nmax_queues = 3\n", "'max_queues' in [limits:p1]"),
    ("[limits:p1]\nmax_queues_per_project = -3\n", "[limits:p1] max_queues_per_project"),
    ("[limits:]\nread_rate = 1\n", "[limits:]: the section name must end with a project id"),
])
def test_bad_file_names_the_culprit(tmp_path, text, named):
    """An unknown section or option, or a bad value, is an error naming it and the file."""
    path = write(tmp_path / "bad.conf", text)
    with pytest.raises(ConfigError) as raised:
        config.load(path)
    assert named in str(raised.value)
    assert path in str(raised.value)


def test_bad_override_names_the_option():
    """A bad command-line value is an error naming the section and option."""
    with pytest.raises(ConfigError, match=r"\[service\] workers"):
        config.load(None, [("service", "workers", "many")])


def test_cross_option_rule():
    """A default above its maximum is refused."""
    with pytest.raises(ConfigError, match="default_message_ttl"):
        config.load(None, [("transport", "default_message_ttl", "100000"),
                           ("transport", "max_message_ttl", "60000")])


def test_project_limits_override_the_limits_section(tmp_path):
    """A [limits:PROJECT] section sets options for that project only, on top of [limits],
    whichever comes first in the file."""
    path = write(tmp_path / "z.conf", (
        "[limits:gold]\nwrite_rate = 50\nmax_queues_per_project = 0\n"
        "[limits]\nwrite_rate = 5\nwrite_burst = 10\nmax_queues_per_project = 20\n"
    ))
    loaded = config.load(path)
    assert loaded.project_limits == {"gold": {"write_rate": 50.0, "max_queues_per_project": 0}}
    gold, other = loaded.limits_of("gold"), loaded.limits_of("other")
    assert (gold.write_rate, gold.write_burst, gold.max_queues_per_project) == (50.0, 10, 0)
    assert (other.write_rate, other.write_burst, other.max_queues_per_project) == (5.0, 10, 20)
    assert other is loaded.limits


def test_free_form_sections_are_kept(tmp_path):
    """Sections of other libraries' conventions are accepted as written."""
    path = write(tmp_path / "z.conf", "[trustee]\nauth_url = http://k\n")
    assert config.load(path).free_form == {"trustee": {"auth_url": "http://k"}}


def test_none_turns_a_transport_off(tmp_path):
    """``none`` as an endpoint (file or command line) turns that listener off."""
    path = write(tmp_path / "z.conf", "[service]\nwebsocket = none\n")
    loaded = config.load(path, [("service", "rest", "none")])
    assert loaded.rest_endpoint is None
    assert loaded.websocket_endpoint is None
    unset = config.load(path, [("service", "rest", "")])
    assert unset.rest_endpoint == "tcp:8888:interface=127.0.0.1"


def sample_options():
    """The sample's commented-out ``#name = value`` lines, by section."""
    options, section = {}, None
    with open(SAMPLE, encoding="utf-8") as handle:
        for line in handle:
            header = re.match(r"^\[(.+)\]\s*$", line)
            if header:
                section = header.group(1)
                continue
            option = re.match(r"^#([a-z_]+) =(.*)$", line.rstrip("\n"))
            if option:
                options.setdefault(section, {})[option.group(1)] = option.group(2).strip()
    return options


def test_sample_documents_every_option():
    """etc/zaqar.conf lists every option of every section of config.py."""
    documented = sample_options()
    for section, (_, cls) in config.SECTIONS.items():
        names = [f.name for f in dataclasses.fields(cls)]
        assert sorted(documented.get(section, {})) == sorted(names), section
    assert set(documented) == set(config.SECTIONS)


def test_sample_values_are_the_defaults(tmp_path):
    """Uncommenting every option of etc/zaqar.conf yields exactly the built-in defaults."""
    with open(SAMPLE, encoding="utf-8") as handle:
        text = re.sub(r"(?m)^#([a-z_]+ =)", r"\1", handle.read())
    path = write(tmp_path / "uncommented.conf", text)
    loaded = config.load(path)
    loaded.source = None
    assert loaded == Config()


def _source_outside_config():
    """The text of zaqar-tw's modules, config.py's option declarations left out."""
    root = os.path.dirname(config.__file__)
    texts = []
    for directory, _, names in os.walk(root):
        for name in names:
            if name.endswith(".py"):
                with open(os.path.join(directory, name), encoding="utf-8") as handle:
                    text = handle.read()
                if name == "config.py" and directory == root:
                    text = re.sub(r"(?m)^    \w+: .*= _opt\(.*$", "", text)
                texts.append(text)
    return "\n".join(texts)


def test_every_option_has_an_effect_or_says_it_has_none():
    """Each option is read somewhere in zaqar-tw, or declares why it has no effect (so that
    setting it is warned about): no setting is silently ignored."""
    source = _source_outside_config()
    unread = []
    for section, (_, cls) in config.SECTIONS.items():
        for fld in dataclasses.fields(cls):
            inert = fld.metadata.get("inert")
            if not inert and not _read_in(fld.name, source) and (
                f"[{section}] {fld.name}" not in CHECKED_ONLY
            ):
                unread.append(f"[{section}] {fld.name}")
    assert unread == []


# Options whose whole effect is refusing values other than their choices.
CHECKED_ONLY = {
    "[keystone_authtoken] auth_type": "only password authentication: other types are refused",
}


def _read_in(name, source):
    """Whether ``source`` reads the option ``name``: as an attribute (``.name``), by its
    name in quotes (``getattr(section, "name")``, a tuple of names), or by a name built in
    an f-string from its last words (``f"{kind}_rate"`` reads ``read_rate``)."""
    if re.search(rf"\.{name}\b|[\"']{name}[\"']", source):
        return True
    words = name.split("_")
    return any("}_" + "_".join(words[cut:]) + '"' in source for cut in range(1, len(words)))


def test_setting_an_inert_option_is_noted_and_warned_about(logged):
    """An option without effect, set in the file or on the command line, is noted once
    with the reason, and the service logs it as a warning (never its value)."""
    from twisted.internet.testing import MemoryReactorClock
    from twisted.logger import LogLevel, formatEvent

    from zaqar_tw.service import makeService

    built = Config()
    built.set("transport", "message_encryption_key", "hunter2")
    built.set("drivers:transport:websocket", "notification_port", "9001")
    built.set("drivers:transport:websocket", "notification_port", "9002")
    built.set("drivers:message_store:redis", "uri", "redis://127.0.0.1:1")
    assert built.inert_settings == [
        ("[transport] message_encryption_key", "message encryption is not built yet"),
        ("[drivers:transport:websocket] notification_port",
         "notifications pushed over WebSocket are not built yet"),
    ]
    makeService(built, MemoryReactorClock())
    warned = [formatEvent(e) for e in logged if e.get("log_level") is LogLevel.warn]
    assert warned == [
        "[transport] message_encryption_key is set but has no effect: message encryption "
        "is not built yet",
        "[drivers:transport:websocket] notification_port is set but has no effect: "
        "notifications pushed over WebSocket are not built yet",
    ]
    assert not any("hunter2" in formatEvent(e) for e in logged)
