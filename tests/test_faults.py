"""Faults against the real parts: a node's LXD that stops answering for a while, and one that
goes silent while a pit starts. The node is the local LXD reached through a loopback relay that
the test switches: up (forwarding), down (every connection reset, as a stopped daemon's host
answers), or silent (connections accepted and never answered, as a hung host)."""

import contextlib
import gc
import os
import socket
import struct

import httpx
import pytest
import trio

from snakepit.jobs.states import JobState
from tests.lxd_service import open_lxd_service

pytestmark = pytest.mark.lxd

NODE = f"fn{os.getpid()}"
HEAD = f"fh{os.getpid()}"


def _reset(stream: trio.SocketStream) -> None:
    # SO_LINGER 0: close with a reset, as the kernel of a host whose daemon is gone does.
    stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class SwitchableRelay:
    """A loopback TCP relay to LXD's port with three modes: up, down and silent."""

    def __init__(self) -> None:
        self.mode = "up"
        self._changed = trio.Event()

    def switch(self, mode: str) -> None:
        self.mode = mode
        self._changed.set()
        self._changed = trio.Event()

    async def serve(self, listener: trio.SocketListener) -> None:
        await trio.serve_listeners(self._handle, [listener])

    async def _handle(self, client: trio.SocketStream) -> None:
        if self.mode == "down":
            _reset(client)
            await client.aclose()
            return
        if self.mode == "silent":
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                async for _ in client:
                    pass  # swallow the request, answer nothing
            return
        upstream = await trio.open_tcp_stream("127.0.0.1", 8443)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pipe, client, upstream)
            nursery.start_soon(self._pipe, upstream, client)
            while self.mode == "up":
                await self._changed.wait()
            nursery.cancel_scope.cancel()
        for stream in (client, upstream):
            _reset(stream)
            await stream.aclose()

    @staticmethod
    async def _pipe(source: trio.SocketStream, sink: trio.SocketStream) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            async for chunk in source:
                await sink.send_all(chunk)


@pytest.fixture
async def relayed_node(nursery, make_config, tmp_path):
    """A service whose only node is the local LXD behind a switchable relay."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    relay = SwitchableRelay()
    nursery.start_soon(relay.serve, listeners[0])
    async with open_lxd_service(
        nursery,
        make_config,
        tmp_path,
        head=HEAD,
        nodes={NODE: {"endpoint": f"https://127.0.0.1:{port}"}},
        pollInterval="500ms",
        lxdTimeout="2s",
        containerTimeout="8s",
        maxStartDuration="20s",
    ) as running:
        async with running.admin() as admin:
            yield running.service, admin, relay
        relay.switch("up")
    # Collect the connections httpx dropped now, while the test's warning filter applies.
    gc.collect()
    assert running.leftovers == [], "the service left containers behind"


async def poll(client: httpx.AsyncClient, route: str, check, deadline_s: float):
    with trio.fail_after(deadline_s):
        while True:
            found = (await client.get(route)).json()
            if check(found):
                return found
            await trio.sleep(0.1)  # polling the API under the deadline above


@pytest.mark.filterwarnings(r"ignore:unclosed <socket\.socket .*:ResourceWarning")
async def test_a_node_whose_lxd_is_gone_for_a_while_goes_offline_and_its_job_survives(
    relayed_node,
):
    service, admin, relay = relayed_node
    script = 'echo started; while [ ! -e "$JOB_DIR/go" ]; do sleep 0.2; done; echo finished'
    job = (await admin.post("/jobs", json={"clusterRequest": "[]", "script": script})).json()["id"]
    await poll(admin, f"/jobs/{job}", lambda j: j["state"] == JobState.RUNNING, 120)

    relay.switch("down")
    with trio.fail_after(2 * 0.5 + 2 + 1):  # two polls, one LXD deadline, and a second
        await poll(admin, f"/nodes/{NODE}", lambda n: n["online"] is False, 10)
    for _ in range(5):  # the service keeps serving and the job keeps running meanwhile
        assert (await admin.get("/hello")).status_code == 200
        assert (await admin.get(f"/jobs/{job}")).json()["state"] == JobState.RUNNING
        await trio.sleep(0.5)  # (the outage lasts a few polls)

    relay.switch("up")
    await poll(admin, f"/nodes/{NODE}", lambda n: n["online"] is True, 10)
    (service.config.data_root / "pits" / str(job) / "go").write_text("")
    done = await poll(admin, f"/jobs/{job}", lambda j: j["state"] == JobState.DONE, 60)
    assert done["processes"][0]["status"] == 0, done
    log = (await admin.get(f"/jobs/{job}/log")).text
    assert "[worker 0] started" in log
    assert "[worker 0] finished" in log


# httpx under trio drops (does not close) a TLS connection whose handshake a deadline cancels:
# every call to the silent node leaves one for the garbage collector (see setup.cfg).
@pytest.mark.filterwarnings(r"ignore:unclosed <socket\.socket .*:ResourceWarning")
async def test_a_node_that_hangs_while_a_pit_starts_fails_the_start_in_time(relayed_node):
    _, admin, relay = relayed_node
    relay.switch("silent")
    start = trio.current_time()
    job = (await admin.post("/jobs", json={"clusterRequest": "[]", "script": "true"})).json()["id"]
    done = await poll(admin, f"/jobs/{job}", lambda j: j["state"] == JobState.DONE, 120)
    # The start gives up after containerTimeout (8 s) for the step, within maxStartDuration
    # (20 s). What follows is bounded too: the LXD client's shielded removal of the instance
    # it may have half-made (30 s) and the teardown on the silent node (2 x 8 s).
    elapsed = trio.current_time() - start
    assert elapsed < 8 + 30 + 16 + 10, f"the failed start took {elapsed:.1f} s"
    reasons = [change["reason"] for change in done["stateChanges"] if change["reason"]]
    assert any(
        reason.startswith("Problem during startup:") and "took more than 8 s" in reason
        for reason in reasons
    ), reasons

    relay.switch("up")
    again = (await admin.post("/jobs", json={"clusterRequest": "[]", "script": "true"})).json()
    finished = await poll(admin, f"/jobs/{again['id']}", lambda j: j["state"] == JobState.DONE, 120)
    assert finished["processes"][0]["status"] == 0, finished
