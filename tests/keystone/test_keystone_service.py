"""The whole service in Keystone mode, built from a zaqar.conf as an operator writes it (on
the real reactor and clock), against the real Keystone."""

import json
import uuid

import pytest_twisted

from tests.processes import free_port


@pytest_twisted.ensureDeferred
async def test_service_from_zaqar_conf(tmp_path, keystone, tenants):
    """``auth_strategy = keystone`` and [keystone_authtoken] in zaqar.conf: requests bearing
    a token act in its project, one without gets 401; the service stops cleanly."""
    import treq
    from twisted.internet import reactor

    from zaqar_tw.config import load
    from zaqar_tw.service import makeService

    port = free_port()
    options = "".join(f"{name} = {value}\n" for name, value in keystone.authtoken_options().items())
    conf = tmp_path / "zaqar.conf"
    conf.write_text(
        "[DEFAULT]\nauth_strategy = keystone\n"
        "[drivers:message_store:redis]\nuri = redis://127.0.0.1:6379\n"
        f"[service]\nrest = tcp:{port}:interface=127.0.0.1\nwebsocket = none\n"
        f"[keystone_authtoken]\n{options}"
    )
    service = makeService(load(str(conf)), reactor)
    service.startService()
    try:
        project, token = await tenants.member("alice")
        headers = {"Client-ID": str(uuid.uuid4()), "X-Auth-Token": token}
        url = f"http://127.0.0.1:{port}/v2/queues"
        response = await treq.put(url + "/jobs", headers=headers, data=b"{}")
        assert response.code == 201, await response.text()
        response = await treq.get(url, headers=headers)
        assert [q["name"] for q in json.loads(await response.text())["queues"]] == ["jobs"]
        response = await treq.get(url, headers={"Client-ID": headers["Client-ID"],
                                                "X-Project-ID": project})
        assert response.code == 401
        await response.text()
    finally:
        await service.stopService()
