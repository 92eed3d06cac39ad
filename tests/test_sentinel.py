"""Redis Sentinel: the store finds the master through the sentinels and follows a failover on
its own, and with ``wait_replicas`` a failover loses no acknowledged message.

Every Redis here is a process the test starts on a free port (:mod:`tests.redis_group`) and
kills by pid.
"""

import uuid

import pytest_twisted
from twisted.internet.defer import Deferred, gatherResults

from tests.processes import Http, ZaqarProcess
from tests.redis_group import MASTER_NAME, RedisNode, SentinelGroup, cli
from tests.waiting import pause, wait_until
from zaqar_tw.errors import StoreUnavailable, WriteNotReplicated
from zaqar_tw.storage.redis.login import check_login
from zaqar_tw.storage.redis.store import RedisStorage

WAITING = """
[drivers:message_store:redis]
wait_replicas = 1
wait_timeout = {timeout}
"""


def _reactor():
    from twisted.internet import reactor

    return reactor


async def _posts_until(http, url, enough, acked, statuses, counter):
    """Post one message a request to ``url`` until ``enough()``; note each acknowledged id
    in ``acked`` and every status in ``statuses``."""
    while not enough():
        counter[0] += 1
        n = counter[0]
        try:
            status, body = await http.call("POST", url, {"messages": [{"ttl": 3600,
                                                                       "body": {"n": n}}]})
        except Exception as exc:  # the node itself never goes away here
            raise AssertionError(f"the request failed without an answer: {exc}") from exc
        statuses.append(status)
        if status == 201:
            acked.append(body["resources"][0].rsplit("/", 1)[1])
        else:
            await pause(0.02)


@pytest_twisted.ensureDeferred
async def test_killed_master_is_replaced_and_no_acknowledged_message_is_lost(tmp_path):
    """Under load, the master (of one master, one replica) is killed with SIGKILL: the service
    answers 503 while the sentinels elect the replica, then serves from it without a restart.
    With wait_replicas = 1 a write is refused (503) while the new master has no replica, and
    acknowledged again once the old one is back as its replica; every message acknowledged
    with 201, before or after, is on the new master."""
    group = SentinelGroup(str(tmp_path / "redis"))
    await group.start()
    zaqar = ZaqarProcess(str(tmp_path / "zaqar"), group.uri,
                         config_text=WAITING.format(timeout=0.5))
    http = Http(uuid.uuid4().hex, str(uuid.uuid4()))
    try:
        await zaqar.start()
        queue = f"{zaqar.url}/v2/queues/failover"
        url = f"{queue}/messages"
        acked, statuses, counter = [], [], [0]
        old_master = group.master.port
        stop, target = [False], [0]

        def enough():
            return stop[0] and len(acked) >= target[0]

        running = gatherResults(
            [Deferred.fromCoroutine(_posts_until(http, url, enough, acked, statuses, counter))
             for _ in range(4)],
            consumeErrors=True,
        )
        await wait_until(lambda: len(acked) >= 200, 60, "200 messages under load")
        await group.master.kill()
        acked_at_kill = len(acked)

        async def served_by_new_master():
            status, _ = await http.call("GET", f"{queue}/stats")
            return status == 200 and group.master_port() not in (None, old_master)

        await wait_until(served_by_new_master, 60, "reads served by the new master")
        await wait_until(lambda: len(statuses) > acked_at_kill + 20, 30, "more posts")
        refused = statuses[-10:]
        assert refused == [503] * 10, "with no replica left, no write is acknowledged"

        await group.master.start()  # the old master comes back, and is made a replica
        target[0] = len(acked) + 200
        stop[0] = True
        await wait_until(lambda: running.called, 90,
                         "200 more messages acknowledged by the new master and its replica")
        await running

        unexpected = sorted(set(statuses) - {201, 503})
        assert unexpected == [], f"answers besides 201 and 503: {unexpected}"
        found = set()
        for start in range(0, len(acked), 20):
            ids = ",".join(acked[start:start + 20])
            status, body = await http.call("GET", f"{url}?ids={ids}")
            assert status == 200, (status, body)
            found.update(message["id"] for message in body["messages"])
        lost = [message_id for message_id in acked if message_id not in found]
        assert lost == [], f"{len(lost)} of {len(acked)} acknowledged messages lost"
        log = zaqar.output()
        assert f"Redis master '{MASTER_NAME}' is at 127.0.0.1:{group.master_port()}" in log
        assert zaqar.popen.poll() is None, "the service was not restarted"
    finally:
        await http.close()
        await zaqar.stop()
        await group.stop()


@pytest_twisted.ensureDeferred
async def test_manual_failover_is_followed_while_the_old_master_lives(tmp_path):
    """``SENTINEL FAILOVER`` demotes a live master: the store leaves it (on +switch-master
    or its -READONLY answer) and writes to the new one, logging the switch."""
    group = SentinelGroup(str(tmp_path / "redis"))
    await group.start()
    storage = RedisStorage(_reactor(), group.uri)
    project = uuid.uuid4().hex
    try:
        assert check_login(group.uri) is True  # start-up's login goes through the sentinels
        await storage.connect()
        await storage.queues.create(project, "q", {})
        old_master = group.master.port
        cli(group.sentinels[0].port, "SENTINEL", "FAILOVER", MASTER_NAME)
        await wait_until(lambda: group.master_port() not in (None, old_master), 30,
                         "the sentinels to elect the replica")

        async def written():
            try:
                await storage.messages.post(project, "q", [{"ttl": 60, "body": 1}], "c")
            except StoreUnavailable:
                return False
            return "role:master" in cli(group.master_port(), "INFO", "replication")

        await wait_until(written, 30, "a post accepted by the new master")
        assert cli(group.master_port(), "EXISTS", f"zq:{{{project}/q}}:q") == "1"
    finally:
        await storage.close()
        await group.stop()


@pytest_twisted.ensureDeferred
async def test_switch_master_announcement_moves_an_idle_store(tmp_path, logged):
    """An idle store (nothing sent that a replica would refuse) leaves a demoted master as
    soon as a sentinel announces +switch-master, and logs the switch."""
    group = SentinelGroup(str(tmp_path / "redis"))
    await group.start()
    storage = RedisStorage(_reactor(), group.uri)
    try:
        await storage.connect()
        old_master = group.master.port
        new_master = group.replicas[0].port

        def said(text):
            return any(text in event.get("log_format", "").format(**event)
                       for event in logged if "log_format" in event)

        cli(group.sentinels[1].port, "SENTINEL", "FAILOVER", MASTER_NAME)
        await wait_until(
            lambda: said(f"switched master '{MASTER_NAME}' from 127.0.0.1:{old_master} to "
                         f"127.0.0.1:{new_master}"), 30, "the +switch-master announcement")
        await wait_until(lambda: said(f"is at 127.0.0.1:{new_master} (before: "
                                      f"127.0.0.1:{old_master})"), 15, "the switch")
        project = uuid.uuid4().hex
        await storage.queues.create(project, "q", {})
        assert cli(new_master, "EXISTS", f"zq:{{{project}/q}}:q") == "1"
    finally:
        await storage.close()
        await group.stop()


@pytest_twisted.ensureDeferred
async def test_sentinels_that_know_no_master_leave_the_store_unavailable(tmp_path):
    """Sentinels that do not know the master name: operations fail with StoreUnavailable
    (503) saying so, and the store keeps asking."""
    group = SentinelGroup(str(tmp_path / "redis"), replicas=0)
    await group.start()
    uri = group.uri.replace(f"/{MASTER_NAME}", "/nosuchmaster")
    storage = RedisStorage(_reactor(), uri)
    try:
        storage.connect().addErrback(lambda _: None)

        async def says_why():
            try:
                await storage.queues.exists("p", "q")
            except StoreUnavailable as exc:
                return "knows no master 'nosuchmaster'" in str(exc)
            raise AssertionError("answered without a master")

        await wait_until(says_why, 15, "the 503's reason: no sentinel knows the master")
    finally:
        await storage.close()
        await group.stop()


@pytest_twisted.ensureDeferred
async def test_write_without_enough_replicas_fails_saying_it_may_exist(tmp_path):
    """wait_replicas = 1 on a master without replicas: the post is refused with a 503 that
    says the replicas did not confirm it and the message may still exist, and it does."""
    redis = await RedisNode(str(tmp_path / "redis")).start()
    zaqar = ZaqarProcess(str(tmp_path / "zaqar"), f"redis://127.0.0.1:{redis.port}",
                         config_text=WAITING.format(timeout=0.05))
    http = Http(uuid.uuid4().hex, str(uuid.uuid4()))
    try:
        await zaqar.start()
        url = f"{zaqar.url}/v2/queues/q/messages"
        status, body = await http.call("POST", url, {"messages": [{"ttl": 60, "body": 1}]})
        assert status == 503
        assert "only 0 of the 1 replica(s) required confirmed it within 0.05 s" in \
            body["description"]
        assert "a message may still exist" in body["description"]
        status, body = await http.call("GET", f"{url}?echo=true")
        assert status == 200 and len(body["messages"]) == 1
        status, _ = await http.call("GET", f"{zaqar.url}/v2/queues/q/stats")
        assert status == 200, "reads do not wait for replicas"
    finally:
        await http.close()
        await zaqar.stop()
        await redis.kill()


@pytest_twisted.ensureDeferred
async def test_writes_of_one_turn_share_one_wait(tmp_path):
    """With a replica in sync, writes sent together are all confirmed (one WAIT follows
    them); reads send no WAIT."""
    group = SentinelGroup(str(tmp_path / "redis"))
    await group.start()
    storage = RedisStorage(_reactor(), group.uri, wait_replicas=1, wait_timeout=2)
    project = uuid.uuid4().hex
    try:
        await storage.connect()
        before = _waits(group.master.port)
        await gatherResults([
            storage.messages.post(project, f"q{i}", [{"ttl": 60, "body": i}], "c")
            for i in range(10)
        ])
        await storage.queues.stats(project, "q1")
        assert _waits(group.master.port) - before == 1
        lonely = RedisStorage(_reactor(), group.uri, wait_replicas=2, wait_timeout=0.05)
        try:
            await lonely.connect()
            try:
                await lonely.queues.create(project, "more", {})
            except WriteNotReplicated as exc:
                assert exc.replicas == 1 and exc.wanted == 2
            else:
                raise AssertionError("two replicas confirmed a write with one replica")
        finally:
            await lonely.close()
    finally:
        await storage.close()
        await group.stop()


def _waits(port):
    """How many WAIT commands the server at ``port`` has run."""
    for line in cli(port, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_wait:"):
            return int(line.split("calls=")[1].split(",")[0])
    return 0

