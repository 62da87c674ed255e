"""Jobs: submission, the status board, lists, details, stopping and the log."""

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from snakepit.client.connection import route
from snakepit.client.errors import ClientError
from snakepit.client.session import Session

#: Three-letter state names, by the service's state number.
STATE_LETTERS = ("NEW", "PRE", "WAI", "STA", "RUN", "STO", "CLN", "FIN", "ARC")
WAITING = 2
#: Most bytes of the log handed on at once.
LOG_CHUNK = 64 * 1024


def state_letters(state: Any) -> str:
    if isinstance(state, int) and 0 <= state < len(STATE_LETTERS):
        return STATE_LETTERS[state]
    return str(state)


@dataclasses.dataclass(frozen=True)
class JobSummary:
    """A job as lists show it (``JobSummary`` of the service)."""

    id: int
    title: str
    user: str
    resources: str
    state: int
    date: str
    since: tuple[int, int, int, int]
    schedule_position: int
    util_compute: float | None
    util_memory: float | None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> "JobSummary":
        since = body.get("since") or {}
        return cls(
            id=int(body["id"]),
            title=str(body.get("description") or ""),
            user=str(body.get("user") or ""),
            resources=str(body.get("resources") or ""),
            state=int(body.get("state", 0)),
            date=str(body.get("date") or ""),
            since=tuple(int(since.get(key, 0)) for key in ("days", "hours", "minutes", "seconds")),  # type: ignore[arg-type]
            schedule_position=int(body.get("schedulePosition") or 0),
            util_compute=body.get("utilComp"),
            util_memory=body.get("utilMem"),
        )


@dataclasses.dataclass(frozen=True)
class Board:
    """``GET jobs/status``: running, waiting and recently finished jobs."""

    running: list[JobSummary]
    waiting: list[JobSummary]
    done: list[JobSummary]
    raw: Any


def _summaries(items: Any) -> list[JobSummary]:
    if not isinstance(items, list):
        raise ClientError("Problem parsing pit response.")
    return [JobSummary.from_json(item) for item in items]


def status(session: Session) -> Board:
    raw = session.json("GET", "jobs/status")
    if not isinstance(raw, dict):
        raise ClientError("Problem parsing pit response.")
    return Board(
        _summaries(raw.get("running", [])),
        _summaries(raw.get("waiting", [])),
        _summaries(raw.get("done", [])),
        raw,
    )


def list_jobs(session: Session, filters: Mapping[str, str]) -> tuple[list[JobSummary], Any]:
    """``GET jobs?filters``: the summaries and the raw answer."""
    raw = session.json("GET", "jobs", params=filters)
    return _summaries(raw), raw


def get_job(session: Session, job: int) -> dict[str, Any]:
    answer = session.json("GET", route("jobs", job))
    if not isinstance(answer, dict):
        raise ClientError("Problem parsing pit response.")
    return answer


def submit(session: Session, job: Mapping[str, Any]) -> int:
    """``POST jobs``; returns the new job's number."""
    answer = session.json("POST", "jobs", dict(job))
    if not isinstance(answer, dict) or "id" not in answer:
        raise ClientError("Problem parsing pit response.")
    return int(answer["id"])


def stop(session: Session, job: int) -> None:
    session.request("POST", route("jobs", job, "stop"))


def follow_log(session: Session, job: int) -> Iterator[bytes]:
    """The job's log as it grows; ends when the job is done."""
    with session.stream("GET", route("jobs", job, "log")) as answer:
        while chunk := answer.read1(LOG_CHUNK):
            yield chunk
