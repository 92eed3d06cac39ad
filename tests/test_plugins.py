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
from zaqar_tw.interfaces import IAuthenticator, IMessageFilter, INotifier, IStorage
from zaqar_tw.notify.webhook import WebhookNotifier
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


@implementer(INotifier)
class NoDeliver:
    """Declares INotifier but cannot deliver."""

    schemes = ("pigeon",)


@implementer(INotifier)
class NoSchemes:
    """Delivers, but says nothing of the schemes it serves."""

    def __init__(self, reactor, config, options):
        pass

    def deliver(self, subscription, payload):
        pass


class SecondWebhook(WebhookNotifier):
    """Another distribution's http/https notifier."""


@implementer(INotifier)
class Pigeon:
    """Serves pigeon: subscribers; keeps the options it was built with."""

    schemes = ("pigeon",)
    known_options = ("wings",)
    built = []

    def __init__(self, reactor, config, options):
        if "wings" in options and not options["wings"].isdigit():
            raise ValueError("wings must be a number")
        Pigeon.built.append(options)

    def deliver(self, subscription, payload):
        pass


class Options(MessageFilter):
    """Keeps the options it was built with."""

    known_options = ("greeting",)
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
    "zaqar_tw.notifiers": {
        "no_deliver": "third_party:NoDeliver",
        "no_schemes": "third_party:NoSchemes",
        "second_webhook": "third_party:SecondWebhook",
        "pigeon": "third_party:Pigeon",
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
    assert {plugins.STORAGE, plugins.AUTH, plugins.FILTERS, plugins.NOTIFIERS} <= groups
    for entry_point in ours:
        if entry_point.group in plugins.GROUPS:
            assert plugins.load(entry_point.group, entry_point.name, "test") is not None


def test_unknown_notifier_lists_the_installed_ones():
    """An unknown notifier names [notification] notifiers and lists the installed ones."""
    text = start_up_error(("notification", "notifiers", "webhook, nosuch"))
    assert text.startswith(
        "[notification] notifiers: no notifier named 'nosuch' is installed "
        "(installed notifiers: "
    )
    assert "webhook" in text.rsplit("(installed notifiers: ", 1)[1].rstrip(")").split(", ")


def test_notifier_without_deliver(third_party):
    """A notifier class lacking deliver() is refused at start-up, naming the method."""
    text = start_up_error(("notification", "notifiers", "no_deliver"))
    assert text.startswith(
        "[notification] notifiers: 'no_deliver' (third_party:NoDeliver) does not implement "
        "INotifier: "
    )
    assert "deliver" in text.split("INotifier: ", 1)[1]
    assert "pigeon" in text.rsplit("(installed notifiers: ", 1)[1]


def test_notifier_without_schemes(third_party):
    """A notifier whose instances have no schemes attribute is refused at start-up."""
    text = start_up_error(("notification", "notifiers", "no_schemes"))
    assert text.startswith("[notification] notifiers: 'no_schemes' does not implement INotifier")
    assert "schemes" in text


def test_notifier_named_twice():
    """A notifier named twice is refused."""
    text = start_up_error(("notification", "notifiers", "webhook, webhook"))
    assert text == "[notification] notifiers: webhook named more than once"


def test_two_notifiers_for_one_scheme(third_party):
    """Two enabled notifiers serving one scheme are refused, naming both and the scheme."""
    text = start_up_error(("notification", "notifiers", "webhook, second_webhook"))
    assert text.startswith(
        "[notification] notifiers: WebhookNotifier and SecondWebhook both serve 'http' "
        "subscribers"
    )


def test_subscriber_type_nobody_serves():
    """[transport] subscriber_types naming a scheme no enabled notifier serves is refused,
    listing the served ones."""
    text = start_up_error(("transport", "subscriber_types", "https, pigeon"))
    assert text.startswith(
        "[transport] subscriber_types: no enabled notifier serves 'pigeon' "
        "(served: http, https, mailto, trust+http, trust+https; "
    )
    text = start_up_error(
        ("notification", "notifiers", ""), ("transport", "subscriber_types", "http")
    )
    assert "no enabled notifier serves 'http' (served: none; " in text


def test_subscriber_types_default_to_the_served_schemes(third_party):
    """Unset, subscriber_types are every scheme the enabled notifiers serve; set, exactly
    the ones named."""
    from zaqar_tw.core import Core

    def types(*overrides):
        config = config_with(*overrides)
        reactor = MemoryReactor()
        return Core(config, None, reactor, notifiers=plugins.notifiers(config, reactor)
                    ).dispatcher.subscriber_types

    assert types() == ["http", "https", "mailto", "trust+http", "trust+https"]
    assert types(("notification", "notifiers", "pigeon, webhook")) == [
        "http", "https", "pigeon"
    ]
    assert types(("notification", "notifiers", "")) == []
    assert types(
        ("notification", "notifiers", "pigeon, webhook"),
        ("transport", "subscriber_types", "https"),
    ) == ["https"]


def test_notifier_options_come_from_its_section(third_party, tmp_path):
    """[notifier:<name>] of the config file reaches the notifier as its options; options it
    refuses stop start-up naming the section."""
    conf = tmp_path / "zaqar.conf"
    conf.write_text("[notification]\nnotifiers = pigeon\n\n[notifier:pigeon]\nwings = 2\n")
    module = __import__("third_party")
    module.Pigeon.built.clear()
    plugins.notifiers(load(str(conf)), MemoryReactor())
    assert module.Pigeon.built == [{"wings": "2"}]
    text = start_up_error(
        ("notification", "notifiers", "pigeon"), ("notifier:pigeon", "wings", "many")
    )
    assert text == "[notifier:pigeon]: wings must be a number"


def test_webhook_takes_no_options():
    """[notifier:webhook] options are refused: the webhook has none."""
    text = start_up_error(("notifier:webhook", "timeout", "3"))
    assert text == "[notifier:webhook]: unknown option(s): timeout"


# Plugin sections: typos in their names and in their options.


def test_a_section_for_no_installed_filter_stops_start_up(third_party):
    """[filter:<typo>] names no installed filter: start-up stops, listing the installed
    ones, as for an unknown section of zaqar-tw's own."""
    text = start_up_error(("filters", "chain", "options"), ("filter:optoins", "greeting", "hi"))
    assert text.startswith(
        "unknown section [filter:optoins]: no message filter named 'optoins' is installed "
        "(installed message filters: checksum, "
    )
    assert "options" in text


def test_a_section_for_no_installed_notifier_stops_start_up(third_party):
    """[notifier:<typo>] names no installed notifier: start-up stops."""
    text = start_up_error(("notifier:pigoen", "wings", "2"))
    assert text.startswith(
        "unknown section [notifier:pigoen]: no notifier named 'pigoen' is installed "
        "(installed notifiers: "
    )


def test_an_unknown_option_in_a_filter_section_stops_start_up(third_party):
    """A name the filter does not declare in known_options stops start-up, naming the
    known ones."""
    text = start_up_error(("filters", "chain", "options"), ("filter:options", "greting", "hi"))
    assert text == "unknown option 'greting' in [filter:options] (known: greeting)"


def test_a_built_in_filter_takes_no_options():
    """The built-in filters declare no options: any name in their section stops start-up."""
    text = start_up_error(("filters", "chain", "checksum"), ("filter:checksum", "salt", "x"),
                          ("filter:checksum", "pepper", "y"))
    assert text == "unknown options 'pepper', 'salt' in [filter:checksum] (known: none)"


def test_an_unknown_option_in_a_notifier_section_stops_start_up(third_party):
    """A name the notifier does not declare in known_options stops start-up before it is
    built."""
    text = start_up_error(("notification", "notifiers", "pigeon"),
                          ("notifier:pigeon", "wigns", "2"))
    assert text == "unknown option 'wigns' in [notifier:pigeon] (known: wings)"


def test_a_section_of_a_provider_not_enabled_is_warned_about(third_party, logged):
    """The section of an installed filter or notifier that is not enabled has no effect:
    it is logged as a warning at start-up."""
    from twisted.logger import LogLevel, formatEvent

    makeService(config_with(("filter:options", "greeting", "hi"),
                            ("notifier:pigeon", "wings", "2")), MemoryReactor())
    warned = [formatEvent(e) for e in logged if e.get("log_level") is LogLevel.warn]
    assert warned == [
        "[filter:options] is set but has no effect: [filters] chain does not name 'options'",
        "[notifier:pigeon] is set but has no effect: [notification] notifiers does not name "
        "'pigeon'",
    ]
