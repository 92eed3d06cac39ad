"""What ``twistd zaqar`` tells the operator at start-up: one line saying what runs, and one
line (no traceback, no usage text) saying why it cannot run."""

import os
import socket
import uuid

import pytest
import pytest_twisted

from zaqar_tw import config as configuration
from zaqar_tw.startup import summary, zaqar_version

from tests.processes import Http, Process, RedisProcess, ZaqarProcess, free_port, twistd_argv
from tests.waiting import wait_until


async def run_twistd(tmp_path, *args, config_text=None, timeout=60):
    """Run ``twistd -n zaqar ARGS`` to its end with a private HOME (the shared Redis as
    store unless ARGS name one).

    :returns: ``(exit status, what it printed)``.
    """
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    argv = twistd_argv() + ["-n", "--pidfile", str(tmp_path / "twistd.pid"), "zaqar"]
    argv += ["--store", "redis://127.0.0.1:6379"] if "--store" not in args else []
    if config_text is not None:
        path = tmp_path / "zaqar.conf"
        path.write_text(config_text)
        argv += ["--config", str(path)]
    argv += list(args)
    process = Process(argv, str(tmp_path / "twistd.log"), env={**os.environ, "HOME": str(home)})
    process.spawn()
    try:
        await wait_until(process.exited, timeout, "twistd to exit")
    finally:
        await process.kill()
    return process.popen.returncode, process.output()


def assert_one_line_refusal(status, output, *expected):
    """twistd failed with one ``cannot start`` line holding ``expected``, no traceback and
    no usage text."""
    assert status != 0, output
    assert "Traceback" not in output, output
    assert "Usage:" not in output, output
    lines = [line for line in output.splitlines() if "zaqar-tw: cannot start:" in line]
    assert len(lines) == 1, output
    for text in expected:
        assert text in lines[0], output


@pytest.mark.parametrize("config_text, expected", [
    ("[filters]\nchain = nosuch\n", ["[filters] chain", "'nosuch'", "installed message filters"]),
    ("[notification]\nnotifiers = pigeon\n",
     ["[notification] notifiers", "'pigeon'", "installed notifiers:"]),
    ("[drivers]\nmessage_store = mongo\n",
     ["[drivers] message_store", "'mongo'", "installed storage back ends"]),
    ("[DEFAULT]\nauth_strategy = ldap\n",
     ["[DEFAULT] auth_strategy", "'ldap'", "installed authenticators"]),
    ("[service]\nrest = tcp:notaport\nwebsocket = none\n",
     ["REST endpoint 'tcp:notaport'", "[service] rest"]),
    ("[service]\nrest = none\nwebsocket = carrier-pigeon:9\n",
     ["WebSocket endpoint 'carrier-pigeon:9'", "[service] websocket"]),
    ("[transport]\nmax_claim_ttl = soon\n", ["[transport] max_claim_ttl", "'soon'"]),
])
@pytest_twisted.ensureDeferred
async def test_a_configuration_mistake_is_one_line(tmp_path, config_text, expected):
    """An unknown filter, notifier, store or authenticator, a bad endpoint or value in the
    config file: twistd exits non-zero with one line naming it."""
    if "[service]" not in config_text:
        config_text += "[service]\nrest = none\nwebsocket = none\n"
    status, output = await run_twistd(tmp_path, config_text=config_text)
    assert_one_line_refusal(status, output, *expected)


@pytest.mark.parametrize("option, label", [("--rest", "REST"), ("--websocket", "WebSocket")])
@pytest_twisted.ensureDeferred
async def test_a_port_in_use_is_one_line_naming_the_transport(tmp_path, option, label):
    """A listener whose port is taken stops start-up with one line naming the transport and
    the endpoint, and removes twistd's pid file."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoint = f"tcp:{taken.getsockname()[1]}:interface=127.0.0.1"
        other = "--websocket" if option == "--rest" else "--rest"
        status, output = await run_twistd(tmp_path, option, endpoint, other, "none")
    assert_one_line_refusal(
        status, output, f"cannot listen for {label} on {endpoint}", "address already in use",
        option,
    )
    assert not (tmp_path / "twistd.pid").exists()


@pytest_twisted.ensureDeferred
async def test_a_port_in_use_by_the_workers_is_one_line(tmp_path):
    """With --workers, the supervisor's listener reports a taken port the same way."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoint = f"tcp:{taken.getsockname()[1]}:interface=127.0.0.1"
        status, output = await run_twistd(
            tmp_path, "--rest", endpoint, "--websocket", "none", "--workers", "2"
        )
    assert_one_line_refusal(status, output, f"cannot listen for REST on {endpoint}")


@pytest_twisted.async_yield_fixture
async def locked_redis(tmp_path):
    """A redis-server of the test's own that wants the password ``s3cret``."""
    redis = RedisProcess(str(tmp_path / "redis"))
    redis.argv += ["--requirepass", "s3cret"]
    await redis.start()
    yield redis
    await redis.kill()


@pytest.mark.parametrize("userinfo, expected", [
    (":wrong@", "refused the password: WRONGPASS"),
    ("", "refused the connection: NOAUTH"),
])
@pytest_twisted.ensureDeferred
async def test_a_wrong_redis_password_stops_start_up(tmp_path, locked_redis, userinfo,
                                                     expected):
    """A password Redis refuses (or none where one is needed) is a mistake, not an outage:
    one line naming the store (password hidden) instead of a service answering 503."""
    uri = f"redis://{userinfo}127.0.0.1:{locked_redis.port}"
    status, output = await run_twistd(
        tmp_path, "--store", uri, "--rest", "none", "--websocket", "none"
    )
    assert_one_line_refusal(status, output, "--store", expected)
    assert "wrong" not in output


@pytest_twisted.ensureDeferred
async def test_a_database_out_of_range_stops_start_up(tmp_path):
    """A database number the Redis does not have stops start-up with one line."""
    status, output = await run_twistd(
        tmp_path, "--store", "redis://127.0.0.1:6379/99", "--rest", "none", "--websocket", "none"
    )
    assert_one_line_refusal(status, output, "refused database 99", "DB index is out of range")


@pytest_twisted.ensureDeferred
async def test_a_malformed_option_still_shows_the_usage(tmp_path):
    """A command-line value that does not parse is a usage error: usage, then the error."""
    status, output = await run_twistd(tmp_path, "--workers", "0")
    assert status != 0
    assert "Usage:" in output and "--workers: must be a whole number >= 1" in output
    assert "Traceback" not in output


@pytest_twisted.ensureDeferred
async def test_version_prints_zaqar_tw_version(tmp_path):
    """``twistd zaqar --version`` prints zaqar-tw's version (the package's) and exits 0."""
    status, output = await run_twistd(tmp_path, "--version")
    assert status == 0
    assert output.strip() == f"zaqar-tw {zaqar_version()}"
    assert zaqar_version() not in ("", "unknown")


def test_summary_of_the_defaults():
    """Without a config file, the start-up line says so, with the embedded store's
    directory and noauth."""
    config = configuration.Config()
    said = summary(config)
    assert said["config"] == "built-in defaults"
    assert said["store"] == (
        "embedded Redis, data in " + os.path.expanduser("~/.zaqar/data")
    )
    assert said["auth"] == "noauth"


@pytest_twisted.ensureDeferred
async def test_start_up_line_says_what_runs(tmp_path, locked_redis):
    """Once listening, one line gives the version, the config file, both URLs (with the
    ports actually bound), the store with its password hidden, and the auth mode."""
    ws_port = free_port()
    server = ZaqarProcess(
        str(tmp_path / "zaqar"), f"redis://:s3cret@127.0.0.1:{locked_redis.port}",
        config_text="[DEFAULT]\nauth_strategy = noauth\n",
        extra=["--websocket", f"tcp:{ws_port}:interface=127.0.0.1"],
    )
    http = Http(uuid.uuid4().hex, str(uuid.uuid4()))
    await server.start()
    try:
        assert (await http.call("GET", server.url + "/v2/queues"))[0] == 200
    finally:
        await http.close()
        await server.stop()
    lines = [line for line in server.output().splitlines() if "serving REST" in line]
    assert len(lines) == 1, server.log_tail()
    assert lines[0].split("] ", 1)[1] == (
        f"zaqar-tw {zaqar_version()} serving REST on {server.url} and WebSocket on "
        f"ws://127.0.0.1:{ws_port}; config: {tmp_path / 'zaqar' / 'zaqar.conf'}; "
        f"store: redis://:***@127.0.0.1:{locked_redis.port}; auth: noauth"
    )
    assert "s3cret" not in server.output()


def test_help_lists_only_what_is_served():
    """``twistd zaqar --help`` promises nothing that is not served (no pools or flavors)."""
    from zaqar_tw.tap import Options

    text = str(Options())
    assert "--admin-mode" in text and "/v2/health" in text
    assert "pool" not in text.lower() and "flavor" not in text.lower()
