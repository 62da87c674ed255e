"""Jobs end to end on the real LXD: submitted over HTTP, prepared, scheduled onto the local LXD
registered as node n0, run in a daemon and a worker container, ended, cleaned; and stopped."""

import os

import pytest
import trio

from lxd import open_lxd
from snakepit.jobs.states import JobState
from tests.conftest import register, start_service, write_directly
from tests.lxd_fixtures import UNIX_SOCKET
from tests.lxd_service import open_lxd_service, wait_for

pytestmark = pytest.mark.lxd

#: This run's node id: containers of other test runs on the same LXD are not ours.
NODE = f"e{os.getpid()}"
#: And its head's id, so that its pit daemons are not those of another run either.
HEAD = f"h{os.getpid()}"


@pytest.fixture
async def cluster(nursery, make_config, tmp_path):
    """A service with its own LXD identity, the local LXD as its node, and a user alice."""
    async with open_lxd_service(
        nursery, make_config, tmp_path, head=HEAD, nodes={NODE: {}}
    ) as running:
        async with running.service.client() as anon:
            alice = await register(anon, "alice")
        async with running.service.client(alice) as client:
            yield running.service, client
    assert running.leftovers == [], "the service left containers behind"


async def pit_containers(job):
    ours = {f"sp-{HEAD}-{job}-d"}
    async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
        names = await lxd.instances.names()
    return [name for name in names if name in ours or name.startswith(f"sp-{NODE}-{job}-")]


async def test_a_job_runs_to_its_end(cluster):
    _, alice = cluster
    script = 'echo "hello from job $JOB_NUMBER on $(hostname)"; echo 42 > "$RESULT_FILE"; exit 3'
    answer = await alice.post("/jobs", json={"clusterRequest": "[]", "script": script})
    assert answer.status_code == 200, answer.text
    job = answer.json()["id"]
    detail = await wait_for(alice, job, {JobState.DONE})
    states = [change["state"] for change in detail["stateChanges"]]
    assert states == [
        JobState.NEW,
        JobState.PREPARING,
        JobState.WAITING,
        JobState.STARTING,
        JobState.RUNNING,
        JobState.STOPPING,
        JobState.CLEANING,
        JobState.DONE,
    ], detail["stateChanges"]
    assert detail["allocation"] == f"{NODE}[]"
    assert detail["processes"] == [
        {"groupIndex": 0, "processIndex": 0, "status": 3, "result": "42\n"}
    ]
    log = (await alice.get(f"/jobs/{job}/log")).text
    assert f"[worker 0] hello from job {job} on sp-{NODE}-{job}-0" in log
    assert "] [prepare] Preparation done." in log
    assert await pit_containers(job) == []


async def test_stopping_a_running_job_removes_its_pit(cluster):
    _, alice = cluster
    answer = await alice.post("/jobs", json={"clusterRequest": "[]", "script": "sleep 600"})
    job = answer.json()["id"]
    await wait_for(alice, job, {JobState.RUNNING})
    assert len(await pit_containers(job)) == 2  # the daemon and one worker
    assert (await alice.post(f"/jobs/{job}/stop")).status_code == 200
    detail = await wait_for(alice, job, {JobState.DONE}, deadline_s=120)
    assert "Stopped by user alice" in [change["reason"] for change in detail["stateChanges"]]
    assert await pit_containers(job) == []


async def test_stopping_a_starting_job_removes_what_was_made(cluster):
    _, alice = cluster
    answer = await alice.post("/jobs", json={"clusterRequest": "[]", "script": "sleep 600"})
    job = answer.json()["id"]
    with trio.fail_after(60):
        while True:
            if (await alice.get(f"/jobs/{job}")).json()["state"] == JobState.STARTING:
                break
            await trio.sleep(0.01)  # polling closely: the start takes about two seconds
    assert (await alice.post(f"/jobs/{job}/stop")).status_code == 200
    detail = await wait_for(alice, job, {JobState.DONE}, deadline_s=120)
    states = [change["state"] for change in detail["stateChanges"]]
    assert states[-3:] == [JobState.STOPPING, JobState.CLEANING, JobState.DONE]
    assert "Stopped by user alice" in [change["reason"] for change in detail["stateChanges"]]
    assert await pit_containers(job) == []


async def test_a_restarted_service_attaches_to_the_running_pit(cluster, nursery):
    service, alice = cluster
    script = 'for i in $(seq 1 150); do echo "line $i"; sleep 0.1; done; '
    script += 'echo fine > "$RESULT_FILE"; exit 4'
    answer = await alice.post("/jobs", json={"clusterRequest": "[]", "script": script})
    job = answer.json()["id"]
    await wait_for(alice, job, {JobState.RUNNING})
    # (The log route follows the log until the job ends: read the file as it grows instead.)
    log_file = trio.Path(service.config.data_root / "pits" / str(job) / "pit.log")
    with trio.fail_after(60):
        while True:
            if await log_file.exists() and "line 3\n" in await log_file.read_text():
                break
            await trio.sleep(0.1)  # polling the API under the deadline above
    await service.stop()
    assert len(await pit_containers(job)) == 2, "stopping the service must leave the pit running"
    restarted = await start_service(nursery, service.config)
    async with restarted.client(alice.headers["X-Auth-Token"]) as client:
        detail = await wait_for(client, job, {JobState.DONE}, deadline_s=120)
        log = (await client.get(f"/jobs/{job}/log")).text
    assert detail["processes"] == [
        {"groupIndex": 0, "processIndex": 0, "status": 4, "result": "fine\n"}
    ]
    states = [change["state"] for change in detail["stateChanges"]]
    assert states.count(JobState.RUNNING) == 1, detail["stateChanges"]
    assert all(change["reason"] is None for change in detail["stateChanges"]), detail
    worker_lines = [
        line.split("] [worker 0] ")[1] for line in log.splitlines() if "[worker 0]" in line
    ]
    assert [line for line in worker_lines if line.startswith("line ")] == [
        f"line {i}" for i in range(1, 151)
    ]
    assert worker_lines.count("Worker 0 ended with exit code 4") == 1
    assert await pit_containers(job) == []


async def test_a_running_job_whose_allocation_is_gone_ends_after_a_restart(cluster, nursery):
    service, alice = cluster
    answer = await alice.post("/jobs", json={"clusterRequest": "[]", "script": "sleep 600"})
    job = answer.json()["id"]
    await wait_for(alice, job, {JobState.RUNNING})
    await service.stop()
    write_directly(
        service.config,
        lambda c: c.execute("UPDATE processes SET node_id = NULL WHERE job_id = ?", (job,)),
    )
    restarted = await start_service(nursery, service.config)
    async with restarted.client(alice.headers["X-Auth-Token"]) as client:
        detail = await wait_for(client, job, {JobState.DONE}, deadline_s=120)
    reasons = [change["reason"] for change in detail["stateChanges"]]
    assert "Job interrupted by a restart of the service: its allocation is gone" in reasons
    assert await pit_containers(job) == []


async def test_containers_of_pits_that_do_not_run_are_removed(cluster):
    """Zombies: containers named like a pit of this service's nodes whose job is not active
    (here: jobs that never existed) go within a few polls; other containers stay."""
    zombies = [f"sp-{NODE}-9999-0", f"sp-{HEAD}-9999-d"]
    bystander = f"zz-{NODE}-bystander"
    async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
        for name in [*zombies, bystander]:
            await lxd.instances.create(name, image_alias="snakepit-tiny")
        try:
            with trio.fail_after(60):
                while True:
                    if not set(zombies) & set(await lxd.instances.names()):
                        break
                    await trio.sleep(0.2)  # polling LXD under the deadline above
            assert bystander in await lxd.instances.names()
        finally:
            await lxd.instances.remove(bystander)
