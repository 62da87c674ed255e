"""A node that is another LXD than the head's: its workers' image is pulled from the head.

Here the "other" LXD is the local one reached through a loopback relay on another port, so the
service sees a different endpoint, creates the workers with a pull source (the head's public
images, its certificate pinned), and the job runs as on any node.
"""

import os

import httpx
import pytest
import trio

from lxd import open_lxd
from lxd.certificates import fingerprint
from snakepit.jobs.states import JobState
from tests.conftest import register, start_service
from tests.lxd_fixtures import HTTPS_ENDPOINT, SERVER_CERT, UNIX_SOCKET, make_certificate
from tests.test_lxd_client import Relay

pytestmark = pytest.mark.lxd

NODE = f"rn{os.getpid()}"
HEAD = f"rh{os.getpid()}"


async def test_a_job_runs_on_a_node_that_pulls_the_images_from_the_head(
    nursery, make_config, tmp_path
):
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    relay_port = listeners[0].socket.getsockname()[1]
    nursery.start_soon(Relay().serve, listeners[0], 8443)
    identity = make_certificate(tmp_path / "identity", f"snakepit-remote-{os.getpid()}")
    service = await start_service(
        nursery,
        make_config(
            clientCert=str(identity.cert),
            clientKey=str(identity.key),
            lxdServerCert=str(SERVER_CERT),
            endpoint=HTTPS_ENDPOINT,
            pollInterval="200ms",
            containerTimeout="60s",
            headNode=HEAD,
        ),
    )
    password = f"remote-{os.getpid()}"
    try:
        async with service.client() as anon:
            root = await register(anon, "root")
        await trio.run_process(["lxc", "config", "set", "core.trust_password", password])
        try:
            async with httpx.AsyncClient(
                base_url=service.url, headers={"X-Auth-Token": root}, timeout=180
            ) as admin:
                endpoint = f"https://127.0.0.1:{relay_port}"
                answer = await admin.put(
                    f"/nodes/{NODE}", json={"endpoint": endpoint, "password": password}
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["endpoint"] == endpoint
        finally:
            await trio.run_process(["lxc", "config", "unset", "core.trust_password"])
        async with service.client(root) as admin:
            script = 'echo "on $(hostname)"'
            job = await admin.post("/jobs", json={"clusterRequest": "[]", "script": script})
            number = job.json()["id"]
            with trio.fail_after(240):
                while True:
                    detail = (await admin.get(f"/jobs/{number}")).json()
                    if detail["state"] == JobState.DONE:
                        break
                    await trio.sleep(0.2)  # polling the API under the deadline above
            assert detail["processes"][0]["status"] == 0, detail
            assert (
                f"[worker 0] on sp-{NODE}-{number}-0"
                in (await admin.get(f"/jobs/{number}/log")).text
            )
    finally:
        await service.stop()
        async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
            leftovers = [n for n in await lxd.instances.names() if NODE in n or HEAD in n]
            for name in leftovers:
                await lxd.instances.remove(name)
            if fingerprint(identity.pem) in [c.fingerprint for c in await lxd.certificates.list()]:
                await lxd.certificates.remove(fingerprint(identity.pem))
    assert leftovers == []
