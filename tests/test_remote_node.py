"""A node that is another LXD than the head's: its workers' image is pulled from the head.

Here the "other" LXD is the local one reached through a loopback relay on another port, so the
service sees a different endpoint, creates the workers with a pull source (the head's public
images, its certificate pinned), and the job runs as on any node.
"""

import gc
import os

import pytest
import trio

from snakepit.jobs.states import JobState
from tests.lxd_service import open_lxd_service
from tests.test_lxd_client import Relay

pytestmark = pytest.mark.lxd

NODE = f"rn{os.getpid()}"
HEAD = f"rh{os.getpid()}"


# httpx under trio drops (does not close) a TLS connection that a cancellation interrupts, as
# the service's stop does to a node check through the relay (see setup.cfg and test_faults).
@pytest.mark.filterwarnings(r"ignore:unclosed <socket\.socket .*:ResourceWarning")
async def test_a_job_runs_on_a_node_that_pulls_the_images_from_the_head(
    nursery, make_config, tmp_path
):
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    relay_port = listeners[0].socket.getsockname()[1]
    nursery.start_soon(Relay().serve, listeners[0], 8443)
    endpoint = f"https://127.0.0.1:{relay_port}"
    async with (
        open_lxd_service(
            nursery, make_config, tmp_path, head=HEAD, nodes={NODE: {"endpoint": endpoint}}
        ) as running,
        running.admin() as admin,
    ):
        assert (await admin.get(f"/nodes/{NODE}")).json()["endpoint"] == endpoint
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
        log = (await admin.get(f"/jobs/{number}/log")).text
        assert f"[worker 0] on sp-{NODE}-{number}-0" in log
    gc.collect()  # (the dropped connections go now, while this test's filter applies)
    assert running.leftovers == []
