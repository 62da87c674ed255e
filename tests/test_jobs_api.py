"""Reading, sharing, deleting jobs and following their logs over HTTP.

Jobs are put into the database directly here (insert_job_directly); submission and running
come with the scheduler.
"""

import trio

from snakepit.jobs.states import JobState
from snakepit.store.jobs import set_state
from tests.conftest import insert_job_directly, write_directly


def set_job_state(config, job, state):
    write_directly(config, lambda c: set_state(c, job, state, "moved by the test"))


async def test_everyone_sees_the_list_and_status(users, service):
    mine = insert_job_directly(service.config, "alice", JobState.WAITING, title="mine")
    theirs = insert_job_directly(service.config, "bob", JobState.RUNNING, title="theirs")
    listed = (await users.bob.get("/jobs")).json()
    assert [job["id"] for job in listed] == [theirs, mine]
    first = listed[1]
    assert first["description"] == "mine"
    assert first["user"] == "alice"
    assert first["resources"] == "[]"
    assert first["state"] == JobState.WAITING
    assert first["schedulePosition"] == 1
    assert set(first["since"]) == {"days", "hours", "minutes", "seconds"}
    status = (await users.bob.get("/jobs/status")).json()
    assert [job["id"] for job in status["running"]] == [theirs]
    assert [job["id"] for job in status["waiting"]] == [mine]
    assert status["done"] == []


async def test_query_language_over_http(users, service):
    insert_job_directly(service.config, "alice", title="train a")
    insert_job_directly(service.config, "bob", title="eval b")
    answer = await users.alice.get("/jobs", params={"user": "bob"})
    assert [job["user"] for job in answer.json()] == ["bob"]
    answer = await users.alice.get("/jobs", params={"title": "train%", "asc": "date"})
    assert [job["description"] for job in answer.json()] == ["train a"]
    bad = await users.alice.get("/jobs", params={"sort": "date"})
    assert (bad.status_code, bad.json()["message"]) == (400, "Unknown query parameter sort")


async def test_details_only_with_job_access(users, service):
    job = insert_job_directly(service.config, "alice", JobState.DONE)
    own = (await users.alice.get(f"/jobs/{job}")).json()
    assert own["provisioning"] == "Script"
    assert own["clusterRequest"] == "[]"
    assert [change["state"] for change in own["stateChanges"]] == [0, JobState.DONE]
    other = (await users.bob.get(f"/jobs/{job}")).json()
    assert "provisioning" not in other
    assert "stateChanges" not in other
    missing = await users.bob.get("/jobs/99999")
    assert (missing.status_code, missing.json()["message"]) == (404, "Job not found")
    wrong = await users.bob.get("/jobs/abc")
    assert (wrong.status_code, wrong.json()["message"]) == (400, "Wrong job id format")


async def test_sharing_gives_group_members_read_access_only(users, service):
    await users.admin.put("/groups/lab", json={"title": "Lab"})
    await users.admin.put("/users/bob/groups/lab")
    job = insert_job_directly(service.config, "alice", JobState.DONE, b"line\n")
    assert (await users.bob.get(f"/jobs/{job}/log")).status_code == 403
    assert (await users.bob.put(f"/jobs/{job}/groups/lab")).status_code == 403
    assert (await users.alice.put(f"/jobs/{job}/groups/lab")).status_code == 200
    assert (await users.alice.get(f"/jobs/{job}")).json()["groups"] == ["lab"]
    assert (await users.bob.get(f"/jobs/{job}/log")).text == "line\n"
    assert "stateChanges" in (await users.bob.get(f"/jobs/{job}")).json()
    # Members read; they do not change the job (the published service let them).
    assert (await users.bob.delete(f"/jobs/{job}/groups/lab")).status_code == 403
    assert (await users.bob.delete(f"/jobs/{job}")).status_code == 403
    assert (await users.alice.put(f"/jobs/{job}/groups/nolab")).status_code == 404
    assert (await users.alice.delete(f"/jobs/{job}/groups/lab")).status_code == 200
    assert (await users.bob.get(f"/jobs/{job}/log")).status_code == 403


async def test_only_finished_jobs_are_deleted_with_their_data(users, service):
    running = insert_job_directly(service.config, "alice", JobState.RUNNING, b"x")
    answer = await users.alice.delete(f"/jobs/{running}")
    assert (answer.status_code, answer.json()["message"]) == (
        412,
        "Only stopped jobs can be deleted",
    )
    done = insert_job_directly(service.config, "alice", JobState.DONE, b"x")
    folder = service.config.data_root / "pits" / str(done)
    assert folder.is_dir()
    assert (await users.alice.delete(f"/jobs/{done}")).status_code == 200
    assert not folder.exists()
    assert (await users.alice.get(f"/jobs/{done}")).status_code == 404


async def test_log_of_a_finished_job_without_a_log_is_404(users, service):
    job = insert_job_directly(service.config, "alice", JobState.DONE)
    answer = await users.alice.get(f"/jobs/{job}/log")
    assert (answer.status_code, answer.json()["message"]) == (404, "Job log not found")


async def test_log_is_followed_until_the_job_is_done_without_losing_the_end(users, service):
    job = insert_job_directly(service.config, "alice", JobState.RUNNING, b"first\n")
    log = service.config.data_root / "pits" / str(job) / "pit.log"
    received = bytearray()
    with trio.fail_after(20):
        async with users.alice.stream("GET", f"/jobs/{job}/log") as answer:
            assert answer.status_code == 200
            chunks = answer.aiter_bytes()
            received += await chunks.__anext__()
            assert received == b"first\n"
            with log.open("ab") as output:
                output.write(b"second\n")
            # The last line is written right before the job ends; it must still arrive.
            with log.open("ab") as output:
                output.write(b"last\n")
            set_job_state(service.config, job, JobState.DONE)
            async for chunk in chunks:
                received += chunk
    assert bytes(received) == b"first\nsecond\nlast\n"


def test_no_response_deadline_cuts_a_followed_log(make_config):
    """Quart's default RESPONSE_TIMEOUT (60 s) ended every `pit log -f` after a minute (found
    by bench/load.py); a stream now lasts until the job ends or the client goes away."""
    from snakepit.api import create_app
    from snakepit.services import Services

    app = create_app(Services.build(make_config(), database=None))  # type: ignore[arg-type]
    assert app.config["RESPONSE_TIMEOUT"] is None
