"""Jobs in the store: numbers, states with queue ranks and history, lists and the query language."""

import pytest

from snakepit.errors import BadRequest
from snakepit.jobs.query import JobQuery, parse_query
from snakepit.jobs.states import JobState
from snakepit.store import Database
from snakepit.store.accounts import insert_group, insert_user
from snakepit.store.jobs import (
    delete_job,
    get_job,
    insert_job,
    job_status,
    jobs_of_user_exist,
    list_jobs,
    record_allocation,
    record_results,
    set_state,
    share,
    unshare,
)


@pytest.fixture
def database(tmp_path):
    database = Database.open(tmp_path / "jobs.db")

    def setup(connection):
        for user in ("alice", "bob"):
            insert_user(connection, user, "hash", None, None, False)
        insert_group(connection, "lab", "The Lab")

    database.write_blocking(setup)
    yield database
    database.close()


def new_job(database, user="alice", title="train", request="[]", groups=()):
    return database.write_blocking(
        lambda c: insert_job(
            c,
            user_id=user,
            description=title,
            provisioning="Script",
            request=request,
            continues=None,
            groups=groups,
        )
    )


def move(database, job, state, reason=None):
    return database.write_blocking(lambda c: set_state(c, job, state, reason))


def fetch(database, job):
    return database.write_blocking(lambda c: get_job(c, job))


def test_new_job_has_a_fresh_number_state_new_and_history(database):
    first, second = new_job(database), new_job(database, groups=["lab"])
    assert second == first + 1
    job = fetch(database, second)
    assert (job.state, job.rank, job.groups) == (JobState.NEW, 0, ("lab",))
    assert [change.state for change in job.state_changes] == [JobState.NEW]


def test_a_conditional_state_change_loses_a_race_without_a_trace(database):
    """A stop and a start racing for a NEW job: whichever comes second changes nothing."""
    job = new_job(database)
    assert move(database, job, JobState.DONE, "Stopped by user alice")
    started = database.write_blocking(
        lambda c: set_state(c, job, JobState.PREPARING, expected=JobState.NEW)
    )
    assert started is False
    found = fetch(database, job)
    assert found.state == JobState.DONE
    assert [change.state for change in found.state_changes] == [JobState.NEW, JobState.DONE]


def test_numbers_never_repeat_after_deleting_jobs(database, tmp_path):
    numbers = [new_job(database) for _ in range(3)]
    for number in numbers:
        assert database.write_blocking(lambda c, n=number: delete_job(c, n))
    assert fetch(database, numbers[0]) is None
    database.close()
    reopened = Database.open(tmp_path / "jobs.db")
    try:
        assert new_job(reopened) == numbers[-1] + 1
    finally:
        reopened.close()


def test_waiting_ranks_are_a_fifo_queue(database):
    jobs = [new_job(database) for _ in range(4)]
    for job in jobs:
        move(database, job, JobState.WAITING)
    assert [fetch(database, job).rank for job in jobs] == [1, 2, 3, 4]
    move(database, jobs[1], JobState.STARTING)
    assert [fetch(database, job).rank for job in jobs] == [1, 0, 2, 3]
    move(database, jobs[0], JobState.CLEANING, "Stopped by user alice")
    assert [fetch(database, job).rank for job in jobs] == [0, 0, 1, 2]
    late = new_job(database)
    move(database, late, JobState.WAITING)
    assert fetch(database, late).rank == 3


def test_state_history_keeps_long_reasons(database):
    job = new_job(database)
    reason = "Problem during cleaning step - exit code: 1\n" + "x" * 1000
    assert move(database, job, JobState.CLEANING, reason)
    assert not move(database, job, JobState.CLEANING, "again")
    changes = fetch(database, job).state_changes
    assert [c.state for c in changes] == [JobState.NEW, JobState.CLEANING]
    assert changes[-1].reason == reason


def test_status_groups_jobs_as_the_client_shows_them(database):
    new, preparing, waiting, running, done = (new_job(database) for _ in range(5))
    move(database, preparing, JobState.PREPARING)
    move(database, waiting, JobState.WAITING)
    move(database, running, JobState.RUNNING)
    move(database, done, JobState.DONE)
    status = database.write_blocking(job_status)
    assert [job.id for job in status["running"]] == [running]
    assert [job.id for job in status["waiting"]] == [waiting, preparing, new]
    assert [job.id for job in status["done"]] == [done]


def test_list_filters_and_orders(database):
    a = new_job(database, title="train big model")
    b = new_job(database, user="bob", title="eval")
    c = new_job(database, title="train small")
    everything = JobQuery()
    assert [job.id for job in database.write_blocking(lambda x: list_jobs(x, everything))] == [
        c,
        b,
        a,
    ]
    query = parse_query({"user": ["alice"], "title": ["train%"], "asc": ["title"]}, 100)
    assert [job.id for job in database.write_blocking(lambda x: list_jobs(x, query))] == [a, c]
    page = parse_query({"limit": ["1"], "offset": ["1"]}, 100)
    assert [job.id for job in database.write_blocking(lambda x: list_jobs(x, page))] == [b]
    since = fetch(database, a).since
    window = parse_query({"since": [since], "till": ["2999-01-01"]}, 100)
    assert len(database.write_blocking(lambda x: list_jobs(x, window))) == 3
    empty = parse_query({"since": ["2999-01-01"], "till": ["3000-01-01"]}, 100)
    assert database.write_blocking(lambda x: list_jobs(x, empty)) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"colour": ["red"]}, "Unknown query parameter colour"),
        ({"since": ["yesterday"]}, "Cannot parse query parameter since"),
        ({"asc": ["size"]}, "Cannot parse query parameter asc"),
        ({"limit": ["0"]}, "Cannot parse query parameter limit"),
        ({"limit": ["-1"]}, "Cannot parse query parameter limit"),
        ({"offset": ["x"]}, "Cannot parse query parameter offset"),
        ({"user": ["Robert'); DROP TABLE jobs;--"]}, "Cannot parse query parameter user"),
    ],
)
def test_query_errors_name_the_parameter(args, message):
    with pytest.raises(BadRequest, match=message.replace("(", r"\(")):
        parse_query(args, 100)


def test_limit_is_capped_by_query_limit():
    assert parse_query({"limit": ["5000"]}, 100).limit == 100
    assert parse_query({}, 50).limit == 50


def test_sharing_and_owner_lookup(database):
    job = new_job(database)
    database.write_blocking(lambda c: share(c, job, "lab"))
    assert fetch(database, job).groups == ("lab",)
    database.write_blocking(lambda c: unshare(c, job, "lab"))
    assert fetch(database, job).groups == ()
    assert database.write_blocking(lambda c: jobs_of_user_exist(c, "alice"))
    assert not database.write_blocking(lambda c: jobs_of_user_exist(c, "bob"))


def test_an_allocation_makes_a_waiting_job_starting_and_busies_its_gpus(database):
    from snakepit.scheduling import allocate, parse_request
    from snakepit.store.nodes import (
        busy_resource_ids,
        cluster_snapshot,
        insert_node,
        set_resources,
    )

    def add_node(connection):
        insert_node(connection, "n0", "https://127.0.0.1:8443", "cert")
        set_resources(connection, "n0", [("cuda", i, "GTX") for i in range(4)])
        connection.execute("UPDATE nodes SET online = 1")

    database.write_blocking(add_node)
    job = new_job(database, request="2:[2:GTX]")
    move(database, job, JobState.WAITING)
    cluster = database.write_blocking(cluster_snapshot)
    allocation = allocate(
        parse_request("2:[2:GTX]"), cluster, user_groups=frozenset(), busy=frozenset()
    )
    assert allocation is not None
    assert database.write_blocking(lambda c: record_allocation(c, job, allocation))
    started = fetch(database, job)
    assert (started.state, started.allocation, started.rank) == (
        JobState.STARTING,
        "n0[cuda 0-3]",
        0,
    )
    assert [(p.group_index, p.process_index, p.node_id) for p in started.processes] == [
        (0, 0, "n0"),
        (0, 1, "n0"),
    ]
    assert len(database.write_blocking(busy_resource_ids)) == 4
    # Not twice: the job is no longer waiting.
    assert not database.write_blocking(lambda c: record_allocation(c, job, allocation))
    database.write_blocking(lambda c: record_results(c, job, [(0, 0, 0, "ok"), (0, 1, 3, None)]))
    finished = fetch(database, job)
    assert [(p.status, p.result) for p in finished.processes] == [(0, "ok"), (3, None)]
    move(database, job, JobState.DONE)
    assert database.write_blocking(busy_resource_ids) == frozenset()
