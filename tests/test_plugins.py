"""Providers found by name: start-up refuses unknown names and classes that do not provide
their group's interface, naming the option and the name and listing what is installed; and
a provider installed by another distribution is used like a built-in one."""

import pytest
from twisted.internet.testing import MemoryReactor

from tests.filters.distribution import install
from zaqar_tw import plugins
from zaqar_tw.config import Config, ConfigError, load
from zaqar_tw.service import makeService

THIRD_PARTY = '''
from zope.interface import implementer

from zaqar_tw.filters import MessageFilter
from zaqar_tw.interfaces import IAuthenticator, IMessageFilter, IStorage
from zaqar_tw.storage.redis.store import RedisStorage


class NotAStore:
    """Declares nothing."""


@implementer(IStorage)
class HalfAStore:
    """Declares IStorage but has no close()."""

    def ping(self):
        pass


class SecondRedis(RedisStorage):
    """A store of another distribution: the Redis store under another name."""


def not_a_class(*args):
    return None


@implementer(IAuthenticator)
class WrongAuth:
    """authenticate() takes the wrong arguments."""

    def authenticate(self, headers):
        pass


@implementer(IMessageFilter)
class NoReadHook:
    """Lacks on_read and check_metadata."""

    def on_post(self, messages, queue_metadata, context):
        return messages


class Options(MessageFilter):
    """Keeps the options it was built with."""

    built = []

    def __init__(self, config, options):
        super().__init__(config, options)
        Options.built.append(options)
'''

ENTRY_POINTS = {
    "zaqar_tw.storage": {
        "not_a_store": "third_party:NotAStore",
        "half_a_store": "third_party:HalfAStore",
        "second_redis": "third_party:SecondRedis",
        "function": "third_party:not_a_class",
        "missing": "no_such_module_anywhere:Store",
    },
    "zaqar_tw.auth": {"wrong_auth": "third_party:WrongAuth"},
    "zaqar_tw.filters": {
        "no_read_hook": "third_party:NoReadHook",
        "options": "third_party:Options",
    },
}


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    """The providers of THIRD_PARTY, installed for this test."""
    install(tmp_path, monkeypatch, ENTRY_POINTS, {"third_party": THIRD_PARTY})


def config_with(*overrides):
    """A config on the shared Redis without listeners, plus ``(section, option, text)``."""
    config = Config()
    config.set("drivers:message_store:redis", "uri", "redis://127.0.0.1:6379")
    config.set("service", "rest", "none")
    config.set("service", "websocket", "none")
    for section, option, text in overrides:
        config.set(section, option, text)
    return config


def start_up_error(*overrides):
    """The ConfigError that building the service with these overrides raises."""
    with pytest.raises(ConfigError) as raised:
        makeService(config_with(*overrides), MemoryReactor())
    return str(raised.value)


def test_unknown_store_named_with_installed_ones():
    """An unknown message_store names the option and the name and lists installed stores."""
    text = start_up_error(("drivers", "message_store", "nosuch"))
    assert text.startswith("[drivers] message_store: no storage back end named 'nosuch'")
    assert "(installed storage back ends: " in text
    assert "redis" in text.split("installed storage back ends: ")[1]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("not_a_store", "'not_a_store' (third_party:NotAStore) does not implement IStorage"),
        ("half_a_store",
         "'half_a_store' (third_party:HalfAStore) does not implement IStorage: "),
        ("function", "'function' (third_party:not_a_class) is not a class"),
        ("missing",
         "'missing' (no_such_module_anywhere:Store) cannot be loaded: ModuleNotFoundError"),
    ],
)
def test_store_that_does_not_fit(third_party, name, reason):
    """A store that is not a class providing IStorage, or cannot be imported, stops start-up
    with a message naming the option, the name and the installed stores."""
    text = start_up_error(("drivers", "message_store", name))
    assert text.startswith(f"[drivers] message_store: {reason}")
    installed = text.rsplit("(installed storage back ends: ", 1)[1].rstrip(")").split(", ")
    assert {"redis", "second_redis", name} <= set(installed)


def test_half_a_store_names_the_missing_method(third_party):
    """verifyClass's finding (here the missing close) is in the message."""
    assert "close" in start_up_error(("drivers", "message_store", "half_a_store"))


def test_third_party_store_is_used(third_party):
    """A store registered by another distribution builds the service like the built-in one."""
    top = makeService(config_with(("drivers", "message_store", "second_redis")), MemoryReactor())
    assert type(top.getServiceNamed("storage").storage).__name__ == "SecondRedis"


def test_unknown_authenticator():
    """An unknown auth_strategy names the option, the name and the installed ones."""
    text = start_up_error(("DEFAULT", "auth_strategy", "ldap"))
    assert text.startswith("[DEFAULT] auth_strategy: no authenticator named 'ldap'")
    assert "noauth" in text.rsplit("(installed authenticators: ", 1)[1]


def test_authenticator_with_a_broken_method(third_party):
    """An authenticator whose authenticate() has the wrong signature is refused."""
    text = start_up_error(("DEFAULT", "auth_strategy", "wrong_auth"))
    assert text.startswith(
        "[DEFAULT] auth_strategy: 'wrong_auth' (third_party:WrongAuth) does not implement "
        "IAuthenticator: "
    )
    assert "authenticate" in text


def test_unknown_filter_lists_the_built_in_ones():
    """An unknown filter names [filters] chain and the name, and lists the installed filters."""
    text = start_up_error(("filters", "chain", "checksum, nosuch"))
    assert text.startswith("[filters] chain: no message filter named 'nosuch' is installed")
    installed = text.rsplit("(installed message filters: ", 1)[1]
    for name in ("checksum", "json_schema", "max_body_depth", "max_body_size"):
        assert name in installed


def test_filter_missing_hooks(third_party):
    """A filter class lacking hooks of IMessageFilter is refused, naming a missing one."""
    text = start_up_error(("filters", "chain", "no_read_hook"))
    assert text.startswith(
        "[filters] chain: 'no_read_hook' (third_party:NoReadHook) does not implement "
        "IMessageFilter: "
    )
    assert "on_read" in text or "check_metadata" in text


def test_filter_named_twice():
    """A filter named twice in the chain is refused."""
    text = start_up_error(("filters", "chain", "checksum, json_schema, checksum"))
    assert text == "[filters] chain: checksum named more than once"


def test_filter_options_come_from_its_section(third_party, tmp_path):
    """[filter:<name>] of the config file reaches the filter as its options."""
    conf = tmp_path / "zaqar.conf"
    conf.write_text("[filters]\nchain = options\n\n[filter:options]\ngreeting = hello\n")
    module = __import__("third_party")
    module.Options.built.clear()
    chain = plugins.filter_chain(load(str(conf)))
    assert chain.names == ("options",)
    assert module.Options.built == [{"greeting": "hello"}]


def test_built_in_providers_pass_their_checks():
    """Every provider registered by zaqar-tw loads and provides its group's interface."""
    from importlib.metadata import distribution

    ours = distribution("zaqar-tw").entry_points
    groups = {ep.group for ep in ours}
    assert {plugins.STORAGE, plugins.AUTH, plugins.FILTERS} <= groups
    for entry_point in ours:
        if entry_point.group in plugins.GROUPS:
            assert plugins.load(entry_point.group, entry_point.name, "test") is not None
