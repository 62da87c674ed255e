"""Nodes against the real local LXD: registration by trust password, GPU discovery by a probe
container, the same LXD as two nodes, restrictions, removal, ONLINE/OFFLINE."""

import os
import subprocess

import pytest
import trio

from lxd import open_lxd
from lxd.certificates import fingerprint
from tests.conftest import register, start_service, write_directly
from tests.lxd_fixtures import HTTPS_ENDPOINT, SERVER_CERT, UNIX_SOCKET, make_certificate

pytestmark = pytest.mark.lxd


@pytest.fixture
def trust_password():
    password = f"node-password-{os.getpid()}"
    subprocess.run(["lxc", "config", "set", "core.trust_password", password], check=True)
    yield password
    subprocess.run(["lxc", "config", "unset", "core.trust_password"], check=True)


@pytest.fixture
async def service_with_lxd(nursery, make_config, tmp_path):
    identity = make_certificate(tmp_path / "identity", "snakepit-nodes-test")
    service = await start_service(
        nursery,
        make_config(
            clientCert=str(identity.cert),
            clientKey=str(identity.key),
            lxdServerCert=str(SERVER_CERT),
            pollInterval="200ms",
            lxdTimeout="5s",
            containerTimeout="60s",
        ),
    )
    yield service, identity
    await service.stop()
    async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
        trusted = [cert.fingerprint for cert in await lxd.certificates.list()]
        if fingerprint(identity.pem) in trusted:
            await lxd.certificates.remove(fingerprint(identity.pem))


async def trusted_fingerprints() -> list[str]:
    async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
        return [cert.fingerprint for cert in await lxd.certificates.list()]


async def test_register_the_local_lxd_as_two_nodes(service_with_lxd, trust_password):
    service, identity = service_with_lxd
    async with service.client() as anon:
        token = await register(anon, "root")
    async with service.client(token) as admin:
        body = {"endpoint": HTTPS_ENDPOINT, "password": trust_password}
        with trio.fail_after(120):
            answer = await admin.put("/nodes/n0", json=body)
        assert answer.status_code == 200, answer.text
        assert fingerprint(identity.pem) in await trusted_fingerprints()
        node = (await admin.get("/nodes/n0")).json()
        assert node["online"] is True
        assert node["endpoint"] == HTTPS_ENDPOINT
        assert "resources" not in node  # these machines have no GPU
        again = await admin.put("/nodes/n0", json=body)
        assert (again.status_code, again.json()["message"]) == (
            400,
            "Node with same id already registered",
        )
        with trio.fail_after(120):
            assert (await admin.put("/nodes/n1", json=body)).status_code == 200
        assert (await admin.get("/nodes")).json() == ["n0", "n1"]
        # Removing one of two nodes on the same LXD keeps the trust; removing the last ends it.
        assert (await admin.delete("/nodes/n1")).status_code == 200
        assert fingerprint(identity.pem) in await trusted_fingerprints()
        last = await admin.delete("/nodes/n0")
        assert last.json()["untrusted"] is True
        assert fingerprint(identity.pem) not in await trusted_fingerprints()
        assert (await admin.get("/nodes/n0")).status_code == 404
    # No probe container is left behind.
    async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
        probes = ("snakepit-probe-n0-", "snakepit-probe-n1-")  # (other runs' probes are not ours)
        assert not [name for name in await lxd.instances.names() if name.startswith(probes)]
    # The trust password was used, never stored.
    assert trust_password.encode() not in service.config.database_path.read_bytes()


async def test_wrong_trust_password_adds_nothing(service_with_lxd, trust_password):
    service, _ = service_with_lxd
    async with service.client() as anon:
        token = await register(anon, "root")
    async with service.client(token) as admin:
        answer = await admin.put(
            "/nodes/n0", json={"endpoint": HTTPS_ENDPOINT, "password": "not the password"}
        )
        assert answer.status_code == 400
        assert answer.json()["message"].startswith("Problem adding node")
        assert (await admin.get("/nodes")).json() == []


async def test_a_node_that_stops_answering_goes_offline(service_with_lxd, trust_password):
    service, _ = service_with_lxd
    async with service.client() as anon:
        token = await register(anon, "root")
    async with service.client(token) as admin:
        body = {"endpoint": HTTPS_ENDPOINT, "password": trust_password}
        with trio.fail_after(120):
            assert (await admin.put("/nodes/n0", json=body)).status_code == 200
        # Point the node at a closed port, as if its machine went away.
        write_directly(
            service.config,
            lambda c: c.execute(
                "UPDATE nodes SET endpoint = 'https://127.0.0.1:9' WHERE id = 'n0'"
            ),
        )
        with trio.fail_after(20):
            while True:
                if not (await admin.get("/nodes/n0")).json()["online"]:
                    break
                await trio.sleep(0.1)  # polling the API, under the deadline above


async def test_restrictions_show_on_the_node(users, service):
    from tests.conftest import insert_node_directly

    insert_node_directly(service.config, "gpu", gpus=2)
    await users.admin.put("/groups/lab", json={"title": "Lab"})
    await users.admin.put("/aliases/gtx", json={"name": "GeForce GTX 1070"})
    assert (await users.admin.put("/nodes/gpu/resources/1/groups/lab")).status_code == 200
    resources = (await users.alice.get("/nodes/gpu")).json()["resources"]
    assert resources == [
        {"type": "cuda", "name": "GeForce GTX 1070", "index": 0, "alias": "gtx"},
        {"type": "cuda", "name": "GeForce GTX 1070", "index": 1, "groups": ["lab"], "alias": "gtx"},
    ]
    assert (await users.admin.put("/nodes/gpu/groups/lab")).status_code == 200
    resources = (await users.alice.get("/nodes/gpu")).json()["resources"]
    assert all(resource["groups"] == ["lab"] for resource in resources)
    assert (await users.admin.delete("/nodes/gpu/groups/lab")).status_code == 200
    assert all("groups" not in r for r in (await users.alice.get("/nodes/gpu")).json()["resources"])
    missing = await users.admin.put("/nodes/gpu/resources/7/groups/lab")
    assert (missing.status_code, missing.json()["message"]) == (404, "Resource not found")
