"""zaqar-tw run by twistd on a Redis Cluster the test starts (``--store redis+cluster://``):
queues spread over the masters, and every operation of the API works across them."""

import uuid

import pytest_twisted

from tests.processes import Http, ZaqarProcess
from tests.redis_group import RedisCluster, cli
from zaqar_tw.storage.redis.keys import queue_keys


@pytest_twisted.ensureDeferred
async def test_service_on_a_cluster_serves_queues_on_every_master(tmp_path):
    """Queues created through REST land on several masters; listing, posting, claiming,
    deleting, stats and health work across them; the log names the masters."""
    cluster = RedisCluster(str(tmp_path / "cluster"))
    await cluster.start()
    zaqar = ZaqarProcess(str(tmp_path / "zaqar"), cluster.uri, extra=["--admin-mode"])
    project = uuid.uuid4().hex
    http = Http(project, str(uuid.uuid4()))
    try:
        await zaqar.start()
        api = f"{zaqar.url}/v2"
        names = [f"q{i}" for i in range(12)]
        for name in names:
            status, _ = await http.call("PUT", f"{api}/queues/{name}", {})
            assert status == 201
        owners = {cluster.owner(queue_keys(project, name)[0])[0].port for name in names}
        assert len(owners) == 3, "twelve queues spread over the three masters"

        status, body = await http.call("GET", f"{api}/queues?limit=20")
        assert status == 200 and [q["name"] for q in body["queues"]] == sorted(names)
        for name in names:
            status, _ = await http.call("POST", f"{api}/queues/{name}/messages",
                                        {"messages": [{"ttl": 60, "body": name}]})
            assert status == 201
        status, body = await http.call("POST", f"{api}/queues/q3/claims",
                                       {"ttl": 60, "grace": 60})
        assert status == 201 and body["messages"][0]["body"] == "q3"
        href = body["messages"][0]["href"]
        status, _ = await http.call("DELETE", f"{zaqar.url}{href}")
        assert status == 204
        status, body = await http.call("GET", f"{api}/queues/q3/stats")
        assert status == 200 and body["messages"]["total"] == 0
        status, body = await http.call("GET", f"{api}/queues/q4/stats")
        assert body["messages"]["total"] == 1
        http.headers["X-Roles"] = ["admin"]
        status, body = await http.call("GET", f"{api}/health")
        assert status == 200, body
        assert "slot map from" in zaqar.output()
        assert cli(cluster.nodes[0].port, "CLUSTER", "INFO").startswith("cluster_state:ok")
    finally:
        await http.close()
        await zaqar.stop()
        await cluster.stop()
