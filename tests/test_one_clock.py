"""Two nodes whose clocks disagree by 90 s agree on message and claim expiry: each keeps
time by the store's clock.  The skewed node runs with Debian's libfaketime preloaded (package
``faketime``; ``.ci/run`` installs it), which shifts the clock the process reads."""

import glob
import uuid

import pytest
import pytest_twisted

from tests.processes import Http, ZaqarProcess

SKEW = 90  # seconds: more than a 60 s claim and a 60 s message ttl
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))

pytestmark = pytest.mark.skipif(
    not LIBFAKETIME,
    reason="needs Debian's libfaketime to skew a node's clock (apt-get install faketime)",
)


class SkewedZaqarProcess(ZaqarProcess):
    """A zaqar-tw process whose clock runs ``skew`` seconds ahead of the machine's.

    libfaketime is preloaded into twistd itself (the ``faketime`` command would run it as a
    child of its own, which a signal to the process would not reach)."""

    def __init__(self, workdir, store, skew):
        super().__init__(workdir, store)
        self.env = dict(self.env, LD_PRELOAD=LIBFAKETIME[0], FAKETIME=f"+{skew}s")


@pytest_twisted.async_yield_fixture
async def nodes(tmp_path):
    """``(honest, ahead)``: two nodes on the shared Redis, the second SKEW s ahead."""
    honest = ZaqarProcess(str(tmp_path / "honest"), "redis://127.0.0.1:6379")
    ahead = SkewedZaqarProcess(str(tmp_path / "ahead"), "redis://127.0.0.1:6379", SKEW)
    started = []
    try:
        for node in (honest, ahead):
            started.append(await node.start())
        yield honest, ahead
    finally:
        for node in started:
            await node.stop()


@pytest_twisted.ensureDeferred
async def test_a_node_ahead_does_not_drop_messages_early(nodes):
    """Messages posted with a 60 s ttl on one node are still listed on a node 90 s ahead,
    with their true age."""
    honest, ahead = nodes
    http = Http(uuid.uuid4().hex, str(uuid.uuid4()))
    try:
        status, body = await http.call("POST", f"{honest.url}/v2/queues/q/messages",
                                       {"messages": [{"body": 1, "ttl": 60}]})
        assert status == 201, body
        status, body = await http.call("GET", f"{ahead.url}/v2/queues/q/messages?echo=true")
        assert status == 200, body
        assert [m["body"] for m in body["messages"]] == [1]
        assert body["messages"][0]["age"] < 10
        assert "s ahead of the store's" in ahead.output(), ahead.log_tail()
    finally:
        await http.close()


@pytest_twisted.ensureDeferred
async def test_a_node_ahead_does_not_claim_under_a_live_claim(nodes):
    """A 60 s claim taken on one node holds on a node 90 s ahead: it claims only the
    message left free, and sees the claim alive."""
    honest, ahead = nodes
    http = Http(uuid.uuid4().hex, str(uuid.uuid4()))
    try:
        status, body = await http.call(
            "POST", f"{honest.url}/v2/queues/q/messages",
            {"messages": [{"body": "first", "ttl": 3600}, {"body": "second", "ttl": 3600}]},
        )
        assert status == 201, body
        status, body = await http.call("POST", f"{honest.url}/v2/queues/q/claims?limit=1",
                                       {"ttl": 60, "grace": 60})
        assert status == 201, body
        assert [m["body"] for m in body["messages"]] == ["first"]
        claim = body["messages"][0]["href"].rsplit("claim_id=", 1)[1]

        status, body = await http.call("POST", f"{ahead.url}/v2/queues/q/claims?limit=10",
                                       {"ttl": 60, "grace": 60})
        assert status == 201, body
        assert [m["body"] for m in body["messages"]] == ["second"]
        status, body = await http.call("GET", f"{ahead.url}/v2/queues/q/claims/{claim}")
        assert status == 200 and body["ttl"] == 60 and body["age"] < 10, body
    finally:
        await http.close()
