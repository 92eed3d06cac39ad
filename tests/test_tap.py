"""``twistd zaqar``: the plugin, the command line and the service tree it builds."""

import os
import subprocess
import sys

import pytest
import pytest_twisted
from twisted.application.internet import StreamServerEndpointService
from twisted.application.service import IServiceMaker, Service
from twisted.internet import defer
from twisted.plugin import getPlugins
from twisted.python import usage

from zaqar_tw import service as zservice
from zaqar_tw import tap
from zaqar_tw.startup import StartupError
from zaqar_tw.storage.embedded import EmbeddedRedisService

from tests.waiting import pause

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TWISTD = os.path.join(os.path.dirname(sys.executable), "twistd")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """A temporary HOME, so no user config leaks into these tests."""
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))
    return path


def parse(*argv):
    options = tap.Options()
    options.parseOptions(list(argv))
    return options


def _reactor():
    from twisted.internet import reactor

    return reactor


# -- the plugin ---------------------------------------------------------------------------

def test_plugin_is_found_and_points_at_tap():
    """Twisted's plugin system finds one 'zaqar' service maker that names zaqar_tw.tap."""
    import twisted.plugins

    makers = [p for p in getPlugins(IServiceMaker, twisted.plugins) if p.tapname == "zaqar"]
    assert len(makers) == 1
    assert makers[0].module == "zaqar_tw.tap"
    assert makers[0].options is tap.Options


def test_plugin_imports_nothing_heavy():
    """Importing the plugin file installs no reactor and loads neither the app nor klein."""
    code = (
        "import sys, twisted.plugins.zaqar_plugin; "
        "heavy = [m for m in ('twisted.internet.reactor', 'klein', 'txredisapi', "
        "'zaqar_tw.tap', 'zaqar_tw.service') if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_no_init_files_in_twisted_plugins():
    """twisted/ and twisted/plugins/ must stay namespace directories."""
    assert not os.path.exists(os.path.join(ROOT, "twisted", "__init__.py"))
    assert not os.path.exists(os.path.join(ROOT, "twisted", "plugins", "__init__.py"))


def test_twistd_lists_zaqar(home):
    """``twistd --help`` lists the zaqar command."""
    out = subprocess.run([TWISTD, "--help"], cwd=ROOT, capture_output=True, text=True)
    assert "zaqar" in out.stdout


def test_twistd_reports_a_bad_option_and_fails(home):
    """twistd prints the option's error and exits non-zero before starting anything."""
    out = subprocess.run(
        [TWISTD, "-n", "--pidfile", "", "zaqar", "--workers", "0"],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "HOME": str(home)},
    )
    assert out.returncode != 0
    assert "--workers: must be a whole number >= 1" in out.stdout + out.stderr


# -- the options --------------------------------------------------------------------------

@pytest.mark.parametrize("argv, named", [
    (["--workers", "0"], "--workers"),
    (["--workers", "two"], "--workers"),
    (["--auth", "ldap"], "--auth"),
    (["--rest", "carrier-pigeon:80"], "--rest"),
    (["--rest", "tcp:notaport"], "--rest"),
    (["--websocket", "tcp:"], "--websocket"),
    (["--store", "no-scheme"], "--store"),
    (["--config", "/nonexistent/zaqar.conf"], "--config"),
])
def test_bad_values_name_the_option(argv, named):
    """Each malformed value is a UsageError whose message starts with the option's name."""
    with pytest.raises(usage.UsageError) as raised:
        parse(*argv)
    assert str(raised.value).startswith(named + ":")


def test_a_store_uri_the_store_cannot_use_stops_start_up():
    """A well-formed --store URI the Redis store does not understand is a StartupError
    naming --store (not a usage error: the command line itself was fine)."""
    with pytest.raises(StartupError) as raised:
        parse("--store", "mongodb://localhost")
    assert raised.value.message.startswith("--store:")
    assert str(raised.value.code).startswith("zaqar-tw: cannot start: --store:")


def test_waiting_for_replicas_of_the_embedded_redis_stops_start_up(tmp_path):
    """wait_replicas with the embedded Redis (which has no replica) is refused, saying
    why, rather than answering every write with 503."""
    conf = tmp_path / "zaqar.conf"
    conf.write_text("[drivers:message_store:redis]\nwait_replicas = 1\n")
    with pytest.raises(StartupError, match=r"wait_replicas = 1: the embedded Redis has no "
                                           r"replicas"):
        parse("--config", str(conf))


def test_keystone_needs_its_options():
    """--auth keystone without [keystone_authtoken] is refused before start-up, naming the
    first option it needs."""
    with pytest.raises(StartupError, match=r"\[keystone_authtoken\] auth_url is required"):
        parse("--auth", "keystone")


def test_defaults():
    """Without options or files: embedded store, REST on 8888 and WebSocket on 9000 locally."""
    config = parse().config
    assert config.redis.uri == "embedded"
    assert config.rest_endpoint == "tcp:8888:interface=127.0.0.1"
    assert config.websocket_endpoint == "tcp:9000:interface=127.0.0.1"
    assert config.default.admin_mode is False
    assert config.service.workers == 1


def test_options_map_to_config():
    """Each option lands in its config section."""
    store = f"redis://:secret@127.0.0.1:{_dead_port()}/3"
    config = parse(
        "--store", store,
        "--rest", "tcp:0:interface=127.0.0.1",
        "--websocket", "none",
        "--auth", "noauth",
        "--admin-mode",
        "--workers", "1",
    ).config
    assert config.redis.uri == store
    assert config.rest_endpoint == "tcp:0:interface=127.0.0.1"
    assert config.websocket_endpoint is None
    assert config.default.auth_strategy == "noauth"
    assert config.default.admin_mode is True
    assert config.service.workers == 1


def test_command_line_beats_user_file(home):
    """Options override ~/.zaqar/zaqar.conf, which overrides the defaults."""
    conf = home / ".zaqar" / "zaqar.conf"
    conf.parent.mkdir()
    conf.write_text(
        "[drivers:transport:wsgi]\nport = 7000\n"
        "[drivers:message_store:redis]\nuri = redis://127.0.0.1:6379/4\n"
        "[DEFAULT]\nadmin_mode = true\n"
    )
    config = parse("--store", "redis://127.0.0.1:6379/5").config
    assert config.source == str(conf)
    assert config.redis.uri == "redis://127.0.0.1:6379/5"
    assert config.rest_endpoint == "tcp:7000:interface=127.0.0.1"
    assert config.default.admin_mode is True


def test_store_uri_of_another_back_end_is_left_to_that_back_end(tmp_path):
    """A non-Redis --store URI passes option checks when another store is selected."""
    conf = tmp_path / "sqlite.conf"
    conf.write_text("[drivers]\nmessage_store = sqlite\n")
    config = parse("--config", str(conf), "--store", f"sqlite:///{tmp_path}/q.db").config
    assert config.redis.uri == f"sqlite:///{tmp_path}/q.db"
    with pytest.raises(StartupError, match="cannot start: --store:"):
        parse("--store", f"sqlite:///{tmp_path}/q.db")


def test_named_config_file(tmp_path):
    """--config FILE is read instead of the default locations."""
    conf = tmp_path / "mine.conf"
    conf.write_text("[service]\nrest = unix:/tmp/zaqar.sock\n")
    assert parse("--config", str(conf)).config.rest_endpoint == "unix:/tmp/zaqar.sock"


def test_bad_config_file_stops_start_up(tmp_path):
    """A bad value in the config file is a StartupError naming the option and file."""
    conf = tmp_path / "bad.conf"
    conf.write_text("[transport]\nmax_claim_ttl = soon\n")
    with pytest.raises(StartupError, match=r"\[transport\] max_claim_ttl") as raised:
        parse("--config", str(conf))
    assert str(conf) in str(raised.value)


def test_broken_policy_file_stops_start_up(tmp_path):
    """A policy file beside the config that cannot be used stops twistd before start-up with
    a message naming [oslo_policy], the file and the reason."""
    conf = tmp_path / "zaqar.conf"
    conf.write_text("[oslo_policy]\npolicy_file = rules.json\n")
    (tmp_path / "rules.json").write_text('{"queues:create": "role:a or or"}')
    with pytest.raises(StartupError) as raised:
        parse("--config", str(conf))
    assert raised.value.message.startswith("[oslo_policy] policy file ")
    assert f"{tmp_path / 'rules.json'}: rule 'queues:create': cannot understand" in (
        raised.value.message)


def test_embedded_data_dir_in_use_is_refused(tmp_path):
    """A second zaqar on the same embedded data dir is refused before it starts."""
    conf = tmp_path / "z.conf"
    data_dir = tmp_path / "data"
    conf.write_text(f"[embedded]\ndata_dir = {data_dir}\n")
    holder = EmbeddedRedisService(parse("--config", str(conf)).config.embedded, _reactor())
    holder.privilegedStartService()
    try:
        with pytest.raises(StartupError, match="in use by another zaqar-tw"):
            parse("--config", str(conf))
    finally:
        holder.stopService()
    assert parse("--config", str(conf)).config.embedded.data_dir == str(data_dir)


# -- the service tree ---------------------------------------------------------------------

def children(top):
    return [child.name for child in top]


def test_service_tree_on_external_redis():
    """A redis:// store gives storage, the clock kept on it, the policy file watch,
    notifications, the authenticator, then REST, then WebSocket; no embedded Redis child."""
    from zaqar_tw.transport.websocket.factory import ZaqarServerFactory

    options = parse("--store", "redis://127.0.0.1:6379", "--rest", "tcp:0:interface=127.0.0.1")
    top = tap.makeService(options)
    assert isinstance(top, zservice.ZaqarService)
    assert children(top) == ["storage", "clock", "policy", "notifications", "authenticator", "rest", "websocket"]
    rest = top.getServiceNamed("rest")
    assert isinstance(rest, StreamServerEndpointService)
    assert rest.endpoint._port == 0
    assert rest.endpoint._interface == "127.0.0.1"
    assert rest.factory.displayTracebacks is False
    websocket = top.getServiceNamed("websocket")
    assert isinstance(websocket, StreamServerEndpointService)
    assert (websocket.endpoint._port, websocket.endpoint._interface) == (9000, "127.0.0.1")
    assert isinstance(websocket.factory, ZaqarServerFactory)


def test_service_tree_on_embedded_redis(tmp_path):
    """The embedded store puts its Redis first, and the store connects to its socket."""
    conf = tmp_path / "z.conf"
    conf.write_text(f"[embedded]\ndata_dir = {tmp_path / 'data'}\n")
    top = tap.makeService(parse("--config", str(conf)))
    assert children(top) == [
        "embedded-redis", "storage", "clock", "policy", "notifications", "authenticator", "rest", "websocket"
    ]
    redis = top.getServiceNamed("embedded-redis")
    assert redis.uri == f"redis+unix://{tmp_path / 'data' / 'redis.sock'}"
    assert top.getServiceNamed("storage").uri == redis.uri


def test_rest_none_builds_no_listener():
    """--rest none leaves the REST listener out."""
    top = tap.makeService(parse("--store", "redis://127.0.0.1:6379", "--rest", "none"))
    assert children(top) == ["storage", "clock", "policy", "notifications", "authenticator", "websocket"]


def test_websocket_none_builds_no_listener():
    """--websocket none leaves the WebSocket listener out."""
    top = tap.makeService(parse("--store", "redis://127.0.0.1:6379", "--websocket", "none"))
    assert children(top) == ["storage", "clock", "policy", "notifications", "authenticator", "rest"]


def test_store_password_is_not_logged():
    """The storage service keeps the URI for logs with its password hidden."""
    uri = f"redis://:hunter2@127.0.0.1:{_dead_port()}/1"
    top = tap.makeService(parse("--store", uri, "--rest", "none"))
    assert top.getServiceNamed("storage").uri == uri.replace("hunter2", "***")


def _dead_port():
    """A port of 127.0.0.1 where nothing listens (a moment ago)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Recorder(Service):
    """A child that records when it is asked to stop and stops when told."""

    def __init__(self, name, log):
        self.setName(name)
        self.log = log
        self.stopped = defer.Deferred()

    def stopService(self):
        Service.stopService(self)
        self.log.append(self.name)
        return self.stopped


def test_children_stop_in_reverse_one_at_a_time():
    """Listeners stop before the store, and the store before its Redis, each in turn."""
    top = zservice.ZaqarService()
    log = []
    first, second, third = (_Recorder(n, log) for n in ("redis", "storage", "rest"))
    for child in (first, second, third):
        child.setServiceParent(top)
    top.startService()
    done = top.stopService()
    assert log == ["rest"]
    third.stopped.callback(None)
    assert log == ["rest", "storage"]
    second.stopped.callback(None)
    assert log == ["rest", "storage", "redis"]
    assert not done.called
    first.stopped.callback(None)
    assert done.called


def test_authenticator_closed_when_stopped():
    """The authenticator's close() runs when its service stops (after the listeners), and
    the stop waits for it; an authenticator without close() needs nothing."""

    class Closing:
        def __init__(self):
            self.closed = defer.Deferred()

        def close(self):
            return self.closed

    authenticator = Closing()
    child = zservice.AuthenticatorService(authenticator)
    child.startService()
    done = child.stopService()
    assert not done.called
    authenticator.closed.callback(None)
    assert done.called
    plain = zservice.AuthenticatorService(object())
    plain.startService()
    assert plain.stopService() is None


@pytest_twisted.ensureDeferred
async def test_service_starts_and_stops_on_real_redis():
    """Started on the real reactor, the service listens, answers HTTP and stops cleanly."""
    import treq

    top = tap.makeService(
        parse("--store", "redis://127.0.0.1:6379", "--rest", "tcp:0:interface=127.0.0.1",
              "--websocket", "tcp:0:interface=127.0.0.1")
    )
    top.startService()
    try:
        port = await top.getServiceNamed("rest")._waitingForPort
        address = port.getHost()
        response = await treq.get(f"http://127.0.0.1:{address.port}/")
        assert response.code < 500
        await response.content()
        port = (await top.getServiceNamed("websocket")._waitingForPort).getHost().port
        for _ in range(100):  # 503 until the store has connected
            status = await _ws_ping(port)
            if status != 503:
                break
            await pause(0.05)
        assert status == 204
    finally:
        await top.stopService()


async def _ws_ping(port):
    """The status of a ``ping_node`` sent over a fresh WebSocket connection."""
    import json
    import uuid

    from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
    from twisted.internet.endpoints import TCP4ClientEndpoint

    class Ping(WebSocketClientProtocol):
        def onOpen(self):
            self.sendMessage(json.dumps({"action": "ping_node", "headers": {
                "Client-ID": str(uuid.uuid4()), "X-Project-ID": uuid.uuid4().hex}}).encode())

        def onMessage(self, payload, isBinary):
            self.factory.answer.callback(json.loads(payload)["headers"]["status"])
            self.transport.loseConnection()

    factory = WebSocketClientFactory(f"ws://127.0.0.1:{port}", reactor=_reactor())
    factory.protocol = Ping
    factory.answer = defer.Deferred()
    await TCP4ClientEndpoint(_reactor(), "127.0.0.1", port).connect(factory)
    return await factory.answer.addTimeout(30, _reactor())


async def _call(method, url, document=None):
    import json
    import uuid

    import treq

    headers = {"Client-ID": [str(uuid.uuid4())], "X-Project-ID": [uuid.uuid4().hex],
               "Content-Type": ["application/json"]}
    data = None if document is None else json.dumps(document).encode()
    response = await treq.request(method, url, headers=headers, data=data, persistent=False)
    await response.content()
    return response.code


@pytest_twisted.ensureDeferred
async def test_service_on_embedded_store_serves_then_stops_its_redis(tmp_path):
    """On the embedded store the whole tree starts, serves a POST, and stops its Redis."""
    conf = tmp_path / "z.conf"
    conf.write_text(f"[embedded]\ndata_dir = {tmp_path / 'data'}\n")
    top = tap.makeService(parse("--config", str(conf), "--rest", "tcp:0:interface=127.0.0.1",
                                "--websocket", "none"))
    top.privilegedStartService()
    top.startService()
    redis = top.getServiceNamed("embedded-redis")
    try:
        port = (await top.getServiceNamed("rest")._waitingForPort).getHost().port
        await redis.whenReady()
        pid = redis.pid
        url = f"http://127.0.0.1:{port}/v2/queues/q/messages"
        for _ in range(100):
            code = await _call("POST", url, {"messages": [{"body": 1}]})
            if code != 503:
                break
            await pause(0.05)
        assert code == 201
    finally:
        await top.stopService()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest_twisted.ensureDeferred
async def test_unreachable_store_still_serves_503():
    """With no Redis listening, the service comes up and answers store requests with 503."""
    dead = _dead_port()
    top = tap.makeService(
        parse("--store", f"redis://127.0.0.1:{dead}", "--rest", "tcp:0:interface=127.0.0.1",
              "--websocket", "none")
    )
    top.startService()
    try:
        port = (await top.getServiceNamed("rest")._waitingForPort).getHost().port
        code = await _call("POST", f"http://127.0.0.1:{port}/v2/queues/q/messages",
                           {"messages": [{"body": 1}]})
        assert code == 503
    finally:
        await top.stopService()


