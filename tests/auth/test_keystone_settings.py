"""``[keystone_authtoken]``: what Keystone mode reads, what it refuses at start-up (naming
the option), and what it accepts without effect.  No Keystone is needed here."""

import pytest
from zope.interface.verify import verifyObject

from zaqar_tw import config as configuration
from zaqar_tw.auth.keystone_settings import DEFAULT_TIMEOUT, keystone_settings
from zaqar_tw.config import Config, ConfigError
from zaqar_tw.interfaces import IAuthenticator

MINIMAL = {
    "auth_url": "http://keystone.example.com:5000/v3/",
    "username": "zaqar",
    "password": "secret",
    "user_domain_name": "Default",
    "project_name": "service",
    "project_domain_id": "default",
}


def keystone_config(**options):
    """A Keystone-mode config with ``options`` in [keystone_authtoken] (``None`` drops one
    of :data:`MINIMAL`)."""
    built = Config()
    built.set("DEFAULT", "auth_strategy", "keystone")
    for name, text in {**MINIMAL, **options}.items():
        if text is not None:
            built.set("keystone_authtoken", name, text)
    return built


def test_minimal_settings():
    """The service user's project-scoped password authentication, keystonemiddleware's
    defaults, and Keystone's root URL whether auth_url names /v3 or not."""
    settings = keystone_settings(keystone_config())
    assert settings.identity_url == "http://keystone.example.com:5000"
    assert settings.www_authenticate_uri == "http://keystone.example.com:5000/v3/"
    assert settings.credentials == {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "zaqar", "domain": {"name": "Default"}, "password": "secret"}}},
        "scope": {"project": {"name": "service", "domain": {"id": "default"}}},
    }
    assert (settings.token_cache_time, settings.token_cache_size) == (300, 10000)
    assert (settings.timeout, settings.max_retries) == (DEFAULT_TIMEOUT, 3)
    assert (settings.ca_certificates, settings.insecure) == (None, False)
    root = keystone_settings(keystone_config(auth_url="https://id.example.com/identity"))
    assert root.identity_url == "https://id.example.com/identity"


def test_ids_and_default_domain():
    """user_id and project_id need no domain; default_domain_* stands in for the others."""
    settings = keystone_settings(keystone_config(
        username=None, user_id="u1", project_name=None, project_id="p1"))
    assert settings.credentials["identity"]["password"]["user"] == {
        "id": "u1", "password": "secret"}
    assert settings.credentials["scope"] == {"project": {"id": "p1"}}
    settings = keystone_settings(keystone_config(
        user_domain_name=None, project_domain_id=None, default_domain_id="d"))
    assert settings.credentials["identity"]["password"]["user"]["domain"] == {"id": "d"}
    assert settings.credentials["scope"]["project"]["domain"] == {"id": "d"}


def test_www_authenticate_uri_and_its_old_name():
    """www_authenticate_uri, else its deprecated name auth_uri, else auth_url."""
    assert keystone_settings(keystone_config(
        auth_uri="http://old", www_authenticate_uri="http://new")).www_authenticate_uri == (
        "http://new")
    assert keystone_settings(keystone_config(auth_uri="http://old")).www_authenticate_uri == (
        "http://old")


def test_options_in_effect():
    """Cache, timeout, retries and TLS options are read; token_cache_time of 0 or less
    turns the cache off."""
    settings = keystone_settings(keystone_config(
        token_cache_time="-1", token_cache_size="5", http_connect_timeout="2.5",
        http_request_max_retries="0", insecure="true"))
    assert (settings.token_cache_time, settings.token_cache_size) == (0, 5)
    assert (settings.timeout, settings.max_retries, settings.insecure) == (2.5, 0, True)


@pytest.mark.parametrize("options, named", [
    ({"auth_url": None}, "auth_url is required"),
    ({"password": None}, "password is required"),
    ({"username": None}, "username (or user_id) is required"),
    ({"user_domain_name": None}, "user_domain_name (or user_domain_id) is required with username"),
    ({"project_name": None}, "project_name (or project_id) is required"),
    ({"project_domain_id": None},
     "project_domain_name (or project_domain_id) is required with project_name"),
    ({"auth_url": "keystone:5000"}, "auth_url: bad value 'keystone:5000'"),
    ({"auth_url": "http://k:5000/v2.0"}, "auth_url: bad value 'http://k:5000/v2.0'"),
    ({"auth_section": "service_user"}, "auth_section: not supported"),
    ({"system_scope": "all"}, "system_scope: not supported"),
    ({"trust_id": "t"}, "trust_id: not supported"),
    ({"cafile": "/nonexistent/ca.pem"}, "cafile: cannot read /nonexistent/ca.pem"),
])
def test_refusals_name_the_option(options, named):
    """Each missing or unsupported option stops start-up with a message naming it."""
    with pytest.raises(ConfigError) as raised:
        keystone_settings(keystone_config(**options))
    assert str(raised.value).startswith("[keystone_authtoken] " + named), raised.value


def test_cafile_without_certificates(tmp_path):
    """A cafile holding no PEM certificate is refused, naming it."""
    path = tmp_path / "ca.pem"
    path.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match=r"^\[keystone_authtoken\] cafile: .* no PEM"):
        keystone_settings(keystone_config(cafile=str(path)))


@pytest.mark.parametrize("name, text", [
    ("token_cache_time", "five minutes"),
    ("token_cache_size", "0"),
    ("http_connect_timeout", "0"),
    ("http_request_max_retries", "-1"),
    ("insecure", "maybe"),
    ("auth_type", "v3token"),
])
def test_bad_values(name, text):
    """A bad value is refused as the config is read, naming the option."""
    with pytest.raises(ConfigError, match=rf"^\[keystone_authtoken\] {name}: bad value"):
        configuration.load(None, [("keystone_authtoken", name, text)])


def test_other_keystonemiddleware_options_are_accepted_without_effect(tmp_path):
    """keystonemiddleware's options zaqar-tw does not use are accepted and change nothing;
    an option keystonemiddleware does not have either is refused, naming it."""
    path = tmp_path / "zaqar.conf"
    path.write_text(
        "[keystone_authtoken]\n" + "".join(f"{k} = {v}\n" for k, v in MINIMAL.items())
        + "memcached_servers = 127.0.0.1:11211\nregion_name = RegionOne\n"
        "service_token_roles_required = true\ninterface = internal\n"
    )
    loaded = configuration.load(str(path))
    assert keystone_settings(loaded) == keystone_settings(keystone_config())
    assert loaded.free_form["keystone_authtoken"]["region_name"] == "RegionOne"
    with pytest.raises(ConfigError, match=r"unknown option 'token_cache_tim' in \[keystone_"):
        configuration.load(None, [("keystone_authtoken", "token_cache_tim", "10")])


def test_provider_verifies():
    """The keystone authenticator provides IAuthenticator and is registered as keystone."""
    from twisted.internet import reactor

    from zaqar_tw import plugins
    from zaqar_tw.auth.keystone import KeystoneAuth

    assert plugins.load(plugins.AUTH, "keystone", "[DEFAULT] auth_strategy") is KeystoneAuth
    verifyObject(IAuthenticator, KeystoneAuth(reactor, keystone_config()))
