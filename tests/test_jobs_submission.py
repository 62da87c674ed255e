"""Submitting jobs: validation, git and archive sources, preparation into the queue, stopping
in each state reached so far, time limits, re-checks after restrictions, restart recovery."""

import io
import json
import subprocess
import tarfile

import pytest
import trio

from snakepit.jobs.states import JobState
from tests.conftest import (
    insert_job_directly,
    insert_node_directly,
    register,
    start_service,
    write_directly,
)


def git(*args, cwd):
    subprocess.run(
        ["git", "-c", "user.name=T", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def origin(tmp_path):
    """A git repository with two commits; the first has `model.py` saying 'v1'."""
    repo = tmp_path / "origin"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "model.py").write_text("print('v1')\n")
    (repo / ".compute").write_text("python3 model.py\n")
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "v1", cwd=repo)
    first = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()
    (repo / "model.py").write_text("print('v2')\n")
    git("commit", "-q", "-am", "v2", cwd=repo)
    return repo, first


@pytest.fixture
async def lab(nursery, make_config):
    """A service that accepts local git origins and has a node with two GTX 1070."""
    service = await start_service(
        nursery,
        make_config(originSchemes=["file", "git"], pollInterval="100ms", maxPrepDuration="1m"),
    )
    insert_node_directly(service.config, "nx", gpus=2)
    async with service.client() as anon:
        root = await register(anon, "root")
        alice = await register(anon, "alice")
    async with service.client(root) as admin, service.client(alice) as user:
        await admin.put("/aliases/gtx", json={"name": "GeForce GTX 1070"})
        yield service, admin, user
    await service.stop()


async def wait_for_state(client, job, state, deadline_s=30):
    with trio.fail_after(deadline_s):
        while True:
            found = (await client.get(f"/jobs/{job}")).json()
            if found["state"] == state:
                return found
            await trio.sleep(0.05)  # polling the API under the deadline above


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"clusterRequest": "2:gtx"}, 400, 'Problem parsing allocation: expected "["'),
        ({"clusterRequest": "[3:gtx]"}, 406, "Cluster cannot fulfill resource request"),
        ({"clusterRequest": "[v100]"}, 406, "Cluster cannot fulfill resource request"),
        ({"clusterRequest": "[]", "description": "t" * 41}, 400, "longer than 40"),
        ({"clusterRequest": "[]", "continueJob": 999}, 404, "The job to continue is not"),
        ({"clusterRequest": "[]", "archive": "../root/x.tgz"}, 403, "Archive outside user home"),
        ({"clusterRequest": "[]", "archive": "missing.tgz"}, 404, "Archive not found"),
        ({"clusterRequest": "[]", "origin": "--upload-pack=touch /tmp/pwned"}, 400, "origin"),
        ({"clusterRequest": "[]", "origin": "ext::sh -c touch% /tmp/pwned"}, 400, "origin"),
        ({"clusterRequest": "[]", "origin": "git://x/y", "hash": "--output=/x"}, 400, "hash"),
        ({"clusterRequest": "[]", "origin": "https://example.org/r.git"}, 400, "https"),
        ({"clusterRequest": "[]", "description": "bad \ud800"}, 400, "not valid text"),
        ({"clusterRequest": "[]", "script": "echo \udcff"}, 400, "not valid text"),
    ],
)
async def test_refused_submissions(lab, body, status, message):
    _, _, alice = lab
    # (Encoded here: lone surrogates travel as JSON escapes, which httpx would refuse to send.)
    content = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    answer = await alice.post("/jobs", content=content, headers=headers)
    assert answer.status_code == status, answer.text
    assert message in answer.json()["message"]
    assert (await alice.get("/jobs")).json() == []


async def test_a_diff_of_files_that_are_not_utf8_applies_byte_for_byte(lab, origin, tmp_path):
    """Bytes that are not UTF-8 travel in the JSON string as U+DC80..U+DCFF (how a Python
    client sends them); the service writes and applies them as the bytes they were."""
    service, _, alice = lab
    repo, _ = origin
    (repo / "latin1.txt").write_bytes(b"caf\xe9\n")
    git("add", "latin1.txt", cwd=repo)
    git("commit", "-q", "-m", "latin-1", cwd=repo)
    base = await trio.run_process(["git", "rev-parse", "HEAD"], cwd=repo, capture_stdout=True)
    base = base.stdout.decode().strip()
    (repo / "latin1.txt").write_bytes(b"na\xefve caf\xe9\n")
    raw = (
        await trio.run_process(["git", "diff", "--binary", base], cwd=repo, capture_stdout=True)
    ).stdout
    diff = raw.decode("utf-8", "surrogateescape")
    body = {"clusterRequest": "[]", "origin": str(repo), "hash": base, "diff": diff}
    content = json.dumps(body).encode()  # (the escapes as a Python client sends them)
    answer = await alice.post(
        "/jobs", content=content, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    job = answer.json()["id"]
    await wait_for_state(alice, job, JobState.WAITING)
    src = service.config.data_root / "pits" / str(job) / "src" / "latin1.txt"
    assert src.read_bytes() == b"na\xefve caf\xe9\n"


async def test_a_git_job_is_prepared_into_the_queue(lab, origin):
    service, _, alice = lab
    repo, first = origin
    diff = "--- model.py\n+++ model.py\n@@ -1 +1 @@\n-print('v1')\n+print('patched')\n"
    answer = await alice.post(
        "/jobs",
        json={
            "clusterRequest": "[2:gtx]",
            "description": "first light",
            "origin": str(repo),
            "hash": first,
            "diff": diff,
        },
    )
    assert answer.status_code == 200, answer.text
    job = answer.json()["id"]
    detail = await wait_for_state(alice, job, JobState.WAITING)
    assert detail["provisioning"] == f"Git commit {first} from {repo} with 5 LoC diff"
    assert detail["clusterRequest"] == "[2:gtx]"
    assert detail["schedulePosition"] == 1
    states = [change["state"] for change in detail["stateChanges"]]
    assert states == [JobState.NEW, JobState.PREPARING, JobState.WAITING]
    folder = service.config.data_root / "pits" / str(job)
    assert (folder / "src" / "model.py").read_text() == "print('patched')\n"
    assert (folder / "script.sh").read_text().startswith("if [ -f .compute ]")
    assert "[prepare] Preparation done." in (folder / "pit.log").read_text()


async def test_an_archive_job_from_the_home_folder(lab):
    service, _, alice = lab
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = b"print('from an archive')\n"
        member = tarfile.TarInfo("train.py")
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    home = service.config.data_root / "home" / "alice"
    (home / "upload.tar.gz").write_bytes(buffer.getvalue())
    answer = await alice.post(
        "/jobs", json={"clusterRequest": "[]", "archive": "upload.tar.gz", "script": "ls"}
    )
    job = answer.json()["id"]
    detail = await wait_for_state(alice, job, JobState.WAITING)
    assert detail["provisioning"] == f"Archive ({len(buffer.getvalue())} bytes)"
    folder = service.config.data_root / "pits" / str(job)
    assert (folder / "src" / "train.py").read_bytes() == data
    assert (folder / "script.sh").read_text() == "ls\n"


async def test_a_failing_preparation_ends_the_job_with_the_reason(lab, origin):
    _, _, alice = lab
    repo, _ = origin
    answer = await alice.post(
        "/jobs", json={"clusterRequest": "[]", "origin": str(repo), "hash": "abcdef12"}
    )
    detail = await wait_for_state(alice, answer.json()["id"], JobState.DONE)
    reasons = [change["reason"] for change in detail["stateChanges"]]
    assert any(reason and "Problem during preparation step" in reason for reason in reasons)


async def test_stop_a_waiting_job(lab):
    service, _, alice = lab
    job = (await alice.post("/jobs", json={"clusterRequest": "[]", "script": "true"})).json()["id"]
    await wait_for_state(alice, job, JobState.WAITING)
    assert (await alice.post(f"/jobs/{job}/stop")).status_code == 200
    detail = await wait_for_state(alice, job, JobState.DONE)
    assert "Stopped by user alice" in [change["reason"] for change in detail["stateChanges"]]
    assert not (service.config.data_root / "pits" / str(job) / "src").exists()
    again = await alice.post(f"/jobs/{job}/stop")
    assert again.status_code == 412


@pytest.fixture
async def silent_git_server(nursery):
    """A git:// server that accepts connections and never answers: a clone hangs."""
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")

    async def hold(stream):
        async with stream:
            await trio.sleep_forever()

    nursery.start_soon(trio.serve_listeners, hold, listeners)
    return f"git://127.0.0.1:{listeners[0].socket.getsockname()[1]}/repo.git"


async def test_stop_a_job_while_it_is_being_prepared(lab, silent_git_server):
    _, _, alice = lab
    answer = await alice.post("/jobs", json={"clusterRequest": "[]", "origin": silent_git_server})
    job = answer.json()["id"]
    await wait_for_state(alice, job, JobState.PREPARING)
    assert (await alice.post(f"/jobs/{job}/stop")).status_code == 200
    detail = await wait_for_state(alice, job, JobState.DONE)
    states = [change["state"] for change in detail["stateChanges"]]
    assert states[-3:] == [JobState.STOPPING, JobState.CLEANING, JobState.DONE]


async def test_stop_a_new_job_that_waits_for_a_preparation_slot(lab, silent_git_server):
    """maxParallelPrep (2) jobs hang in preparation; the third stays NEW until stopped."""
    _, _, alice = lab
    body = {"clusterRequest": "[]", "origin": silent_git_server}
    busy = [(await alice.post("/jobs", json=body)).json()["id"] for _ in range(2)]
    for job in busy:
        await wait_for_state(alice, job, JobState.PREPARING)
    queued = (await alice.post("/jobs", json=body)).json()["id"]
    assert (await alice.get(f"/jobs/{queued}")).json()["state"] == JobState.NEW
    assert (await alice.post(f"/jobs/{queued}/stop")).status_code == 200
    detail = await wait_for_state(alice, queued, JobState.DONE)
    assert [change["state"] for change in detail["stateChanges"]] == [JobState.NEW, JobState.DONE]
    assert detail["stateChanges"][-1]["reason"] == "Stopped by user alice"
    for job in busy:
        assert (await alice.post(f"/jobs/{job}/stop")).status_code == 200
        await wait_for_state(alice, job, JobState.DONE)


async def test_preparation_time_is_limited(nursery, make_config, silent_git_server):
    service = await start_service(
        nursery, make_config(originSchemes=["git"], maxPrepDuration="1s", pollInterval="100ms")
    )
    insert_node_directly(service.config, "nx")
    async with service.client() as anon:
        token = await register(anon, "alice")
    async with service.client(token) as alice:
        answer = await alice.post(
            "/jobs", json={"clusterRequest": "[]", "origin": silent_git_server}
        )
        detail = await wait_for_state(alice, answer.json()["id"], JobState.DONE)
        reasons = [change["reason"] for change in detail["stateChanges"]]
        assert "Exceeded max preparation time" in reasons
    await service.stop()


async def test_losing_access_to_the_gpus_stops_a_waiting_job(lab):
    _, admin, alice = lab
    await admin.put("/groups/lab", json={"title": "Lab"})
    await admin.put("/users/alice/groups/lab")
    await admin.put("/nodes/nx/groups/lab")
    job = (await alice.post("/jobs", json={"clusterRequest": "[gtx]", "script": "true"})).json()
    await wait_for_state(alice, job["id"], JobState.WAITING)
    assert (await admin.delete("/users/alice/groups/lab")).status_code == 200
    detail = await wait_for_state(alice, job["id"], JobState.DONE)
    reasons = [change["reason"] for change in detail["stateChanges"]]
    assert "Cluster cannot fulfill resource request anymore" in reasons


async def test_jobs_interrupted_by_a_restart_are_cleaned(nursery, make_config):
    config = make_config(pollInterval="100ms")
    service = await start_service(nursery, config)
    async with service.client() as anon:
        token = await register(anon, "alice")
    await service.stop()
    preparing = insert_job_directly(config, "alice", JobState.PREPARING, b"")
    waiting = insert_job_directly(config, "alice", JobState.WAITING, b"")
    service = await start_service(nursery, config)
    async with service.client(token) as alice:
        detail = await wait_for_state(alice, preparing, JobState.DONE)
        reasons = [change["reason"] for change in detail["stateChanges"]]
        assert "Job interrupted during preparation" in reasons
        assert (await alice.get(f"/jobs/{waiting}")).json()["state"] == JobState.WAITING
    await service.stop()


async def test_a_pit_that_cannot_start_ends_its_job_not_the_service(nursery, make_config):
    # No LXD client certificate, and a node that only the database believes is online.
    service = await start_service(nursery, make_config(pollInterval="1h"))
    insert_node_directly(service.config, "nx")
    write_directly(service.config, lambda c: c.execute("UPDATE nodes SET online = 1"))
    async with service.client() as anon:
        token = await register(anon, "alice")
    async with service.client(token) as alice:
        answer = await alice.post("/jobs", json={"clusterRequest": "[]", "script": "true"})
        detail = await wait_for_state(alice, answer.json()["id"], JobState.DONE)
        reasons = [change["reason"] or "" for change in detail["stateChanges"]]
        assert any(reason.startswith("Problem during startup") for reason in reasons), reasons
        assert (await alice.get("/hello")).text == "Here I am"
    await service.stop()
