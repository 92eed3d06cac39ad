"""The Redis store on a Redis Cluster the test starts: routing by hash tag, a queue's slot
moved to another master under load (MOVED, ASK, TRYAGAIN followed, nothing lost, no 503),
and a killed master replaced by its replica.  The contract suite runs on a cluster too (the
``redis-cluster`` store of ``conftest.py``)."""

import uuid

import pytest_twisted
from twisted.internet.defer import Deferred, gatherResults

from tests.redis_group import RedisCluster, cli
from tests.waiting import pause, wait_until
from zaqar_tw.errors import StoreUnavailable, WriteNotReplicated
from zaqar_tw.storage.redis.cluster import key_slot
from zaqar_tw.storage.redis.keys import queue_index_key, queue_keys
from zaqar_tw.storage.redis.store import RedisStorage


def _reactor():
    from twisted.internet import reactor

    return reactor


def test_key_slot_follows_the_hash_tag():
    """Slots are Redis's: CRC16 of the hash tag, else of the whole key."""
    assert key_slot("foo") == 12182
    assert key_slot("{user1000}.following") == key_slot("{user1000}.followers") == 3443
    assert key_slot(b"foo{}{bar}") == key_slot("foo{}{bar}") != key_slot("bar")
    keys = queue_keys("p", "q")
    assert len({key_slot(key) for key in keys}) == 1
    assert key_slot(queue_index_key("p")) == key_slot("{p}")


async def _load(storage, project, queue, posted, failures, stop):
    """Post, claim and delete on ``queue`` until ``stop()``; note the ids of the messages
    posted and never deleted in ``posted``, every failure in ``failures``."""
    n = 0
    while not stop():
        n += 1
        try:
            ids, _ = await storage.messages.post(
                project, queue, [{"ttl": 3600, "body": {"n": n}}], "c")
            posted.update(ids)
            if n % 5 == 0:
                claim_id, claimed = await storage.claims.create(project, queue, 60, 60, 1)
                for message in claimed:
                    await storage.messages.delete(project, queue, message["id"], claim_id)
                    posted.discard(message["id"])
        except Exception as exc:
            failures.append(exc)
            await pause(0.01)


def _move_slot(cluster, slot, source, target):
    """Migrate ``slot`` from node ``source`` to node ``target`` the way ``redis-cli
    --cluster reshard`` does: IMPORTING/MIGRATING, MIGRATE the keys in batches, then
    SETSLOT NODE on every master."""
    source_id, target_id = cluster.node_id(source), cluster.node_id(target)
    assert cli(target.port, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id) == "OK"
    assert cli(source.port, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id) == "OK"
    moved = 0
    while True:
        keys = cli(source.port, "CLUSTER", "GETKEYSINSLOT", slot, 3).split()
        if not keys:
            break
        reply = cli(source.port, "MIGRATE", "127.0.0.1", target.port, "", 0, 5000,
                    "KEYS", *keys)
        assert reply == "OK", reply
        moved += len(keys)
    for node in cluster.nodes:
        cli(node.port, "CLUSTER", "SETSLOT", slot, "NODE", target_id)
    return moved


async def _moved_under_load(storage, cluster, project, queue, target):
    """Load ``queue`` (four loops of :func:`_load`), move its slot to the node ``await
    target()`` gives, load it again: no operation fails, and every message posted and not
    deleted is found."""
    source, _, slot = cluster.owner(queue_keys(project, queue)[0])
    posted, failures, done = set(), [], [False]
    loaders = gatherResults([
        Deferred.fromCoroutine(
            _load(storage, project, queue, posted, failures, lambda: done[0]))
        for _ in range(4)
    ], consumeErrors=True)
    await wait_until(lambda: len(posted) >= 100, 60, "100 messages before the move")
    destination = await target(source)
    assert _move_slot(cluster, slot, source, destination) >= 5, "the queue's keys moved"
    assert cluster.owner(queue_keys(project, queue)[0])[0] is destination
    count = len(posted)
    await wait_until(lambda: len(posted) >= count + 100, 60, "100 messages after")
    done[0] = True
    await loaders
    assert failures == []

    found = []
    ids = sorted(posted)
    for start in range(0, len(ids), 50):
        found += await storage.messages.bulk_get(project, queue, ids[start:start + 50])
    assert len(found) == len(ids)
    assert int(cli(destination.port, "CLUSTER", "COUNTKEYSINSLOT", slot)) >= 5
    assert cli(source.port, "CLUSTER", "COUNTKEYSINSLOT", slot) == "0"


@pytest_twisted.ensureDeferred
async def test_moving_a_queues_slot_under_load_loses_nothing(tmp_path):
    """A queue under load (posts, claims, deletes) has its slot migrated to another master:
    every operation succeeds (no StoreUnavailable, so no 503), and every message posted and
    not deleted is then read from the new master."""
    cluster = RedisCluster(str(tmp_path))
    await cluster.start()
    storage = RedisStorage(_reactor(), cluster.uri)
    try:
        await storage.connect()

        async def another_master(source):
            return next(n for n in cluster.nodes if n is not source)

        await _moved_under_load(storage, cluster, uuid.uuid4().hex, "moving", another_master)
    finally:
        await storage.close()
        await cluster.stop()


@pytest_twisted.ensureDeferred
async def test_moving_a_queue_to_a_new_master_under_load_loses_nothing(tmp_path):
    """Scaling out: a fourth master joins and a busy queue's slot moves to it; the store
    connects to it when first redirected there, and every operation succeeds."""
    cluster = RedisCluster(str(tmp_path))
    await cluster.start()
    storage = RedisStorage(_reactor(), cluster.uri)
    try:
        await storage.connect()

        async def newcomer(source):
            return await cluster.add_master()

        await _moved_under_load(storage, cluster, uuid.uuid4().hex, "outgrown", newcomer)
    finally:
        await storage.close()
        await cluster.stop()


@pytest_twisted.ensureDeferred
async def test_killed_master_is_replaced_by_its_replica(tmp_path):
    """Three masters with a replica each (writes waiting for one replica are acknowledged
    on each): the master of a queue is killed under load; posts fail (503) until the
    cluster promotes its replica, then succeed there, without a new store."""
    cluster = RedisCluster(str(tmp_path), replicas=1)
    await cluster.start()
    storage = RedisStorage(_reactor(), cluster.uri)
    project, queue = uuid.uuid4().hex, "failing"
    try:
        await storage.connect()
        await wait_until(lambda: _replicas_in_sync(cluster), 30, "replicas in sync")
        await _writes_wait_for_each_masters_replica(cluster, project)
        master, _, _ = cluster.owner(queue_keys(project, queue)[0])
        posted, failures, done = set(), [], [False]
        loader = Deferred.fromCoroutine(
            _load(storage, project, queue, posted, failures, lambda: done[0]))
        await wait_until(lambda: len(posted) >= 50, 60, "50 messages before the kill")
        await master.kill()
        await wait_until(lambda: failures, 30, "a failure while the master is down")
        count = len(posted)
        await wait_until(lambda: len(posted) >= count + 50, 60,
                         "50 messages on the promoted replica")
        done[0] = True
        await loader
        assert all(isinstance(f, StoreUnavailable) for f in failures), failures[:3]
        assert cluster.owner(queue_keys(project, queue)[0])[0] is not master
    finally:
        await storage.close()
        await cluster.stop()


async def _writes_wait_for_each_masters_replica(cluster, project):
    """wait_replicas counts the replicas of the master a write went to: with one each, a
    write waiting for one is acknowledged on every master, one waiting for two is not."""
    one = RedisStorage(_reactor(), cluster.uri, wait_replicas=1, wait_timeout=2)
    two = RedisStorage(_reactor(), cluster.uri, wait_replicas=2, wait_timeout=0.05)
    try:
        await one.connect()
        await two.connect()
        names = [f"w{i}" for i in range(12)]
        assert len({cluster.owner(queue_keys(project, n)[0])[0].port for n in names}) == 3
        await gatherResults([one.queues.create(project, n, {}) for n in names])
        try:
            await two.queues.create(project, "w0", {})
        except WriteNotReplicated as exc:
            assert (exc.wanted, exc.replicas) == (2, 1)
        else:
            raise AssertionError("two replicas confirmed a write of a master that has one")
    finally:
        await one.close()
        await two.close()


def _replicas_in_sync(cluster):
    replicas = [n for n in cluster.nodes
                if "role:slave" in cli(n.port, "INFO", "replication")]
    return len(replicas) == 3 and all(
        "master_link_status:up" in cli(n.port, "INFO", "replication") for n in replicas
    )
