"""Queries on jobs: creation, state changes with queue ranks and history, lists and details.

Plain functions over a ``sqlite3.Connection`` (see :mod:`snakepit.store.accounts`). Every state
change goes through :func:`set_state`, which keeps ``rank`` (the 1-based queue position of
WAITING jobs) and the history in ``job_states`` consistent.
"""

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

from snakepit.jobs.query import JobQuery
from snakepit.jobs.states import ACTIVE, JobState
from snakepit.models import Job, ProcessRecord, StateChange
from snakepit.scheduling import Allocation, ProcessAllocation, Resource
from snakepit.store.pits import new_job_number

#: Longest reason kept in the history (the published service broke on more than 255).
MAX_REASON = 4000
#: How many finished jobs ``/jobs/status`` shows.
DONE_IN_STATUS = 20

_ACTIVE_SQL = ",".join(str(int(state)) for state in sorted(ACTIVE))
_COLUMNS = f"""
    jobs.id, jobs.user_id, jobs.description, jobs.provisioning, jobs.request, jobs.state,
    jobs.since, jobs.rank, jobs.allocation, jobs.continues,
    (SELECT CASE WHEN jobs.state = {int(JobState.RUNNING)}
                 THEN coalesce(avg(a.ccompute), 0)
                 ELSE coalesce(sum(a.acompute) / nullif(sum(a.samples), 0), 0) END
       FROM allocations a JOIN processes p ON a.process_id = p.id
      WHERE p.job_id = jobs.id) AS util_compute,
    (SELECT CASE WHEN jobs.state = {int(JobState.RUNNING)}
                 THEN coalesce(avg(a.cmemory), 0)
                 ELSE coalesce(sum(a.amemory) / nullif(sum(a.samples), 0), 0) END
       FROM allocations a JOIN processes p ON a.process_id = p.id
      WHERE p.job_id = jobs.id) AS util_memory
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def insert_job(
    connection: sqlite3.Connection,
    *,
    user_id: str,
    description: str,
    provisioning: str,
    request: str,
    continues: int | None,
    groups: Iterable[str],
) -> int:
    """Create a NEW job under a fresh job number and share it with ``groups``."""
    number = new_job_number(connection)
    moment = now()
    connection.execute(
        "INSERT INTO jobs (id, user_id, description, provisioning, request, state, since,"
        " continues) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (number, user_id, description, provisioning, request, int(JobState.NEW), moment, continues),
    )
    connection.execute(
        "INSERT INTO job_states (job_id, state, since, reason) VALUES (?, ?, ?, NULL)",
        (number, int(JobState.NEW), moment),
    )
    connection.executemany(
        "INSERT OR IGNORE INTO job_groups (job_id, group_id) VALUES (?, ?)",
        [(number, group) for group in groups],
    )
    return number


def set_state(
    connection: sqlite3.Connection,
    job_id: int,
    state: JobState,
    reason: str | None = None,
    expected: JobState | None = None,
) -> bool:
    """Move a job to ``state``, keeping ranks and history.

    Returns:
        False if it was in that state already, or not in ``expected`` when that is given
        (nothing is changed then).
    """
    row = connection.execute("SELECT state, rank FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None or row["state"] == state:
        return False
    if expected is not None and row["state"] != expected:
        return False
    moment = now()
    rank = 0
    if row["state"] == JobState.WAITING:
        connection.execute(
            "UPDATE jobs SET rank = rank - 1 WHERE state = ? AND rank > ?",
            (int(JobState.WAITING), row["rank"]),
        )
    if state == JobState.WAITING:
        rank = (
            1
            + connection.execute(
                "SELECT coalesce(max(rank), 0) FROM jobs WHERE state = ?", (int(JobState.WAITING),)
            ).fetchone()[0]
        )
    connection.execute(
        "UPDATE jobs SET state = ?, since = ?, rank = ? WHERE id = ?",
        (int(state), moment, rank, job_id),
    )
    connection.execute(
        "INSERT INTO job_states (job_id, state, since, reason) VALUES (?, ?, ?, ?)",
        (job_id, int(state), moment, reason[:MAX_REASON] if reason else None),
    )
    return True


def _job(row: sqlite3.Row, connection: sqlite3.Connection | None = None) -> Job:
    groups: tuple[str, ...] = ()
    changes: tuple[StateChange, ...] = ()
    processes: tuple[ProcessRecord, ...] = ()
    if connection is not None:
        groups = tuple(
            r[0]
            for r in connection.execute(
                "SELECT group_id FROM job_groups WHERE job_id = ? ORDER BY group_id", (row["id"],)
            )
        )
        changes = tuple(
            StateChange(r["state"], r["since"], r["reason"])
            for r in connection.execute(
                "SELECT state, since, reason FROM job_states WHERE job_id = ? ORDER BY id",
                (row["id"],),
            )
        )
        processes = tuple(
            ProcessRecord(
                r["group_index"], r["process_index"], r["node_id"], r["status"], r["result"]
            )
            for r in connection.execute(
                "SELECT group_index, process_index, node_id, status, result FROM processes"
                " WHERE job_id = ? ORDER BY group_index, process_index",
                (row["id"],),
            )
        )
    return Job(
        id=row["id"],
        user_id=row["user_id"],
        description=row["description"],
        provisioning=row["provisioning"],
        request=row["request"],
        state=row["state"],
        since=row["since"],
        rank=row["rank"],
        allocation=row["allocation"],
        continues=row["continues"],
        util_compute=float(row["util_compute"] or 0),
        util_memory=float(row["util_memory"] or 0),
        groups=groups,
        state_changes=changes,
        processes=processes,
    )


def get_job(connection: sqlite3.Connection, job_id: int) -> Job | None:
    """A job with its groups, state history and processes."""
    row = connection.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
    return None if row is None else _job(row, connection)


def list_jobs(connection: sqlite3.Connection, query: JobQuery) -> list[Job]:
    """Jobs matching the query language, newest state change last in the sort order."""
    conditions, values = [], []
    if query.since is not None:
        conditions.append("since >= ?")
        values.append(query.since)
    if query.till is not None:
        conditions.append("since <= ?")
        values.append(query.till)
    if query.user is not None:
        conditions.append("user_id = ?")
        values.append(query.user)
    if query.title is not None:
        conditions.append("description LIKE ?")
        values.append(query.title)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    # Columns come from a fixed table (query.SORT_FIELDS), never from the request's text.
    order = [f"{column} {'ASC' if ascending else 'DESC'}" for column, ascending in query.order]
    order.extend(["since DESC", "id DESC"])
    sql = f"SELECT {_COLUMNS} FROM jobs {where} ORDER BY {', '.join(order)} LIMIT ? OFFSET ?"
    rows = connection.execute(sql, (*values, query.limit, query.offset)).fetchall()
    return [_job(row) for row in rows]


def jobs_in_state(connection: sqlite3.Connection, state: JobState, limit: int = -1) -> list[Job]:
    """Jobs in one state, oldest number first (through the state index); ``limit`` < 0: all."""
    rows = connection.execute(
        f"SELECT {_COLUMNS} FROM jobs WHERE state = ? ORDER BY id LIMIT ?", (int(state), limit)
    ).fetchall()
    return [_job(row) for row in rows]


def job_status(connection: sqlite3.Connection) -> dict[str, list[Job]]:
    """Running (STARTING..STOPPING by id), waiting (WAITING by rank, then PREPARING, then NEW)
    and the 20 most recently finished jobs."""

    def select(where: str, order: str, *values: object) -> list[Job]:
        sql = f"SELECT {_COLUMNS} FROM jobs WHERE {where} ORDER BY {order}"
        return [_job(row) for row in connection.execute(sql, values)]

    return {
        "running": select(f"state IN ({_ACTIVE_SQL})", "id"),
        "waiting": select(
            "state IN (?, ?, ?)",
            "CASE state WHEN ? THEN 0 WHEN ? THEN 1 ELSE 2 END, rank, id",
            int(JobState.WAITING),
            int(JobState.PREPARING),
            int(JobState.NEW),
            int(JobState.WAITING),
            int(JobState.PREPARING),
        ),
        "done": select(
            "state >= ?", f"since DESC, id DESC LIMIT {DONE_IN_STATUS}", int(JobState.CLEANING)
        ),
    }


def share(connection: sqlite3.Connection, job_id: int, group_id: str) -> None:
    connection.execute(
        "INSERT OR IGNORE INTO job_groups (job_id, group_id) VALUES (?, ?)", (job_id, group_id)
    )


def unshare(connection: sqlite3.Connection, job_id: int, group_id: str) -> None:
    connection.execute(
        "DELETE FROM job_groups WHERE job_id = ? AND group_id = ?", (job_id, group_id)
    )


def delete_job(connection: sqlite3.Connection, job_id: int) -> bool:
    """Delete a job with its history, processes and allocations (its number stays used)."""
    return connection.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount > 0


def jobs_of_user_exist(connection: sqlite3.Connection, user_id: str) -> bool:
    return (
        connection.execute("SELECT 1 FROM jobs WHERE user_id = ? LIMIT 1", (user_id,)).fetchone()
        is not None
    )


def record_allocation(connection: sqlite3.Connection, job_id: int, allocation: Allocation) -> bool:
    """Give a WAITING job its processes and resources and make it STARTING, in one step.

    Returns:
        False if the job was no longer waiting (stopped meanwhile): nothing is written.
    """
    row = connection.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if row is None or row["state"] != JobState.WAITING:
        return False
    for process in allocation.workers:
        cursor = connection.execute(
            "INSERT INTO processes (job_id, group_index, process_index, node_id)"
            " VALUES (?, ?, ?, ?)",
            (job_id, process.group, process.index, process.node),
        )
        connection.executemany(
            "INSERT INTO allocations (process_id, resource_id) VALUES (?, ?)",
            [(cursor.lastrowid, resource_id) for resource_id in process.resource_ids],
        )
    connection.execute(
        "UPDATE jobs SET allocation = ? WHERE id = ?", (allocation.summary(), job_id)
    )
    set_state(connection, job_id, JobState.STARTING)
    return True


def jobs_with_states(
    connection: sqlite3.Connection, states: Iterable[int], ids: Iterable[int]
) -> set[int]:
    """Which of the jobs ``ids`` exist and are in one of ``states``."""
    wanted = sorted(set(ids))
    codes = ",".join(str(int(state)) for state in states)
    found: set[int] = set()
    for start in range(0, len(wanted), 500):  # SQLite limits the number of parameters
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = connection.execute(
            f"SELECT id FROM jobs WHERE state IN ({codes}) AND id IN ({marks})", chunk
        )
        found.update(row[0] for row in rows)
    return found


def load_allocation(connection: sqlite3.Connection, job_id: int) -> Allocation | None:
    """The allocation :func:`record_allocation` stored for a job, or None if it has none
    (or a node it used was deleted since)."""
    processes = connection.execute(
        "SELECT id, group_index, process_index, node_id FROM processes WHERE job_id = ?"
        " ORDER BY group_index, process_index",
        (job_id,),
    ).fetchall()
    if not processes or any(row["node_id"] is None for row in processes):
        return None
    groups: dict[int, list[ProcessAllocation]] = {}
    for row in processes:
        resources = tuple(
            Resource(
                id=resource["id"],
                node=resource["node_id"],
                type=resource["type"],
                index=resource["idx"],
                name=resource["name"],
            )
            for resource in connection.execute(
                "SELECT r.id, r.node_id, r.type, r.idx, r.name FROM allocations a"
                " JOIN resources r ON a.resource_id = r.id WHERE a.process_id = ? ORDER BY r.id",
                (row["id"],),
            )
        )
        process = ProcessAllocation(
            row["group_index"], row["process_index"], row["node_id"], resources
        )
        groups.setdefault(row["group_index"], []).append(process)
    return Allocation(tuple(tuple(groups[index]) for index in sorted(groups)))


def record_samples(
    connection: sqlite3.Connection,
    job_id: int,
    samples: Iterable[tuple[int, float, float]],
) -> None:
    """Add GPU utilisation samples ``(resource id, compute, memory)``, fractions from 0 to 1.

    The allocation of that resource to this job takes them as its current value and adds them
    to its sums (section 7 of the service spec).
    """
    connection.executemany(
        "UPDATE allocations SET ccompute = ?, cmemory = ?, acompute = acompute + ?,"
        " amemory = amemory + ?, samples = samples + 1"
        " WHERE resource_id = ? AND process_id IN (SELECT id FROM processes WHERE job_id = ?)",
        [
            (compute, memory, compute, memory, resource_id, job_id)
            for resource_id, compute, memory in samples
        ],
    )


def record_results(
    connection: sqlite3.Connection,
    job_id: int,
    results: Iterable[tuple[int, int, int | None, str | None]],
) -> None:
    """Store ``(group index, process index, exit code, result text)`` of finished workers."""
    connection.executemany(
        "UPDATE processes SET status = ?, result = ?"
        " WHERE job_id = ? AND group_index = ? AND process_index = ?",
        [(status, result, job_id, group, index) for group, index, status, result in results],
    )


def waiting_jobs(connection: sqlite3.Connection) -> list[tuple[int, str, str]]:
    """``(id, owner, request)`` of WAITING jobs in queue order."""
    return [
        (row["id"], row["user_id"], row["request"])
        for row in connection.execute(
            "SELECT id, user_id, request FROM jobs WHERE state = ? ORDER BY rank",
            (int(JobState.WAITING),),
        )
    ]
