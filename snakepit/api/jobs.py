"""``/jobs``: submitting, listing, inspecting, sharing, stopping and deleting jobs.

Reading a job's basic fields is open to every signed-in user (the published ``pit status`` shows
everybody's jobs); its details, log and data need job access: an administrator, the owner, or a
member of a group the job is shared with. Changing a job (stop, share, delete) is for the owner
and administrators only: the published service let any member of a shared group do it.
"""

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import trio
from quart import Response, request

from snakepit.access import can_change, can_read
from snakepit.api.auth import Access
from snakepit.api.requests import Field, read_json
from snakepit.api.routing import Routes, id_param
from snakepit.errors import BadRequest, Forbidden, NotAcceptable, NotFound, PreconditionFailed
from snakepit.ids import GROUP_ID, JOB_ID
from snakepit.jobs.query import parse_query
from snakepit.jobs.states import JobState
from snakepit.jobs.submission import Submission, resolve_archive, write_job_files
from snakepit.models import Job, User
from snakepit.preparation import MAX_DIFF_BYTES, MAX_ORIGIN_CHARS, JobSource
from snakepit.scheduling import RequestError, allocate, parse_request
from snakepit.services import Services
from snakepit.store import accounts, jobs
from snakepit.store import nodes as node_store
from snakepit.store.jobs import job_status

#: Longest job title, as the published client allows.
MAX_TITLE = 40
SUBMISSION_FIELDS = {
    "clusterRequest": Field(str, required=True, max_length=1000),
    "description": Field(str),
    "private": Field(bool),
    "continueJob": Field(int),
    "script": Field(str, max_length=64 * 1024),
    "origin": Field(str, max_length=MAX_ORIGIN_CHARS),
    "hash": Field(str, max_length=64),
    "diff": Field(str, max_length=MAX_DIFF_BYTES, escaped_bytes=True),
    "archive": Field(str, max_length=1024),
}

#: Bytes read from a log file per chunk while streaming it.
LOG_CHUNK = 64 * 1024


def elapsed(since: str) -> dict[str, int]:
    """Time since a state change as the client shows it: days, hours, minutes, seconds."""
    seconds = max(0, int((datetime.now(UTC) - datetime.fromisoformat(since)).total_seconds()))
    days, seconds = divmod(seconds, 86400)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    return {"days": days, "hours": hours, "minutes": minutes, "seconds": seconds}


def job_summary(job: Job) -> dict[str, Any]:
    """A job in lists (``JobSummary`` of the published service)."""
    return {
        "id": job.id,
        "description": job.description,
        "user": job.user_id,
        "resources": job.allocation or job.request,
        "state": job.state,
        "date": job.since,
        "since": elapsed(job.since),
        "schedulePosition": job.rank,
        "utilComp": job.util_compute,
        "utilMem": job.util_memory,
    }


def job_detail(job: Job, *, full: bool) -> dict[str, Any]:
    """A single job (``JobDetail``); ``full`` adds what only job access may see."""
    body = job_summary(job)
    body["allocation"] = job.allocation
    body["clusterRequest"] = job.request
    if job.continues is not None:
        body["continueJob"] = job.continues
    if not full:
        return body
    body["provisioning"] = job.provisioning
    if job.groups:
        body["groups"] = list(job.groups)
    body["stateChanges"] = [
        {"state": change.state, "since": change.since, "reason": change.reason}
        for change in job.state_changes
    ]
    if job.processes:
        body["processes"] = [
            {
                "groupIndex": process.group_index,
                "processIndex": process.process_index,
                "status": "?" if process.status is None else process.status,
                "result": process.result,
            }
            for process in job.processes
        ]
    return body


def create_routes(services: Services) -> Routes:
    routes = Routes("jobs", services)
    database = services.database

    async def load_job(job: str) -> Job:
        number = int(id_param(job, JOB_ID, "job id"))
        found = await database.read(lambda c: jobs.get_job(c, number))
        if found is None:
            raise NotFound("Job not found")
        return found

    async def readable_job(caller: User, job: str) -> Job:
        found = await load_job(job)
        if not can_read(caller, found):
            raise Forbidden("Forbidden")
        return found

    async def changeable_job(caller: User, job: str) -> Job:
        found = await load_job(job)
        if not can_change(caller, found):
            raise Forbidden("Forbidden: only the job's owner and administrators may change it")
        return found

    @routes("POST", "/jobs", Access.USER)
    async def submit(caller: User) -> dict[str, int]:
        body = await read_json(SUBMISSION_FIELDS)
        if len(body.get("description", "")) > MAX_TITLE:
            raise BadRequest(f"Field 'description' is longer than {MAX_TITLE} characters")
        try:
            request_ = parse_request(body["clusterRequest"])
        except RequestError as error:
            raise BadRequest(f"Problem parsing allocation: {error.message}") from None
        # A few hundred indexed rows at most: cheaper here than a thread round trip.
        cluster = database.lookup(node_store.cluster_snapshot)
        groups = frozenset(caller.groups)
        if allocate(request_, cluster, user_groups=groups, busy=frozenset(), simulate=True) is None:
            raise NotAcceptable("Cluster cannot fulfill resource request")
        keep = None
        if "continueJob" in body:
            continued = await database.read(lambda c: jobs.get_job(c, int(body["continueJob"])))
            if continued is None:
                raise NotFound("The job to continue is not existing")
            if not can_read(caller, continued):
                raise Forbidden("Continuing provided job not allowed for current user")
            keep = services.data_root.pit(continued.id) / "keep"
        archive = None
        if "archive" in body:
            home = services.data_root.home(caller.id)
            try:
                archive = await trio.to_thread.run_sync(resolve_archive, home, body["archive"])
            except PermissionError:
                raise Forbidden("Archive outside user home") from None
            if archive is None:
                raise NotFound("Archive not found")
        submission = Submission(
            origin=body.get("origin"),
            commit=body.get("hash"),
            diff=body.get("diff"),
            archive=archive,
            script=body.get("script"),
        )
        await services.jobs.preparer.validate(
            JobSource(submission.origin, submission.commit, submission.diff, archive, keep)
        )
        if archive is None:
            provisioning = submission.provisioning()
        else:  # reads the archive's size
            provisioning = await trio.to_thread.run_sync(submission.provisioning)
        number = await database.write(
            lambda c: jobs.insert_job(
                c,
                user_id=caller.id,
                description=body.get("description", ""),
                provisioning=provisioning,
                request=str(request_),
                continues=int(body["continueJob"]) if "continueJob" in body else None,
                groups=() if body.get("private") else caller.autoshare,
            )
        )
        try:
            await trio.to_thread.run_sync(
                write_job_files, services.data_root.pit(number), submission
            )
        except OSError:
            with trio.CancelScope(shield=True):
                await database.write(lambda c: jobs.delete_job(c, number))
            raise
        services.jobs.wake()
        return {"id": number}

    @routes("POST", "/jobs/<job>/stop", Access.USER)
    async def stop(caller: User, job: str) -> tuple[str, int]:
        found = await changeable_job(caller, job)
        await read_json({})
        if found.state > JobState.STOPPING:
            raise PreconditionFailed("Only jobs before or in running state can be stopped")
        await services.jobs.stop(found, f"Stopped by user {caller.id}")
        return "", 200

    @routes("GET", "/jobs", Access.USER, query=("since", "till", "user", "title", "asc",
                                                "desc", "limit", "offset"))  # fmt: skip
    async def list_jobs(caller: User) -> list[dict[str, Any]]:
        query = parse_query(request.args.to_dict(flat=False), services.config.query_limit)
        return [job_summary(job) for job in await database.read(lambda c: jobs.list_jobs(c, query))]

    @routes("GET", "/jobs/status", Access.USER)
    async def status(caller: User) -> dict[str, list[dict[str, Any]]]:
        lists = await database.read(job_status)
        return {name: [job_summary(job) for job in found] for name, found in lists.items()}

    @routes("GET", "/jobs/<job>", Access.USER)
    async def get_job(caller: User, job: str) -> dict[str, Any]:
        found = await load_job(job)
        return job_detail(found, full=can_read(caller, found))

    async def change_share(caller: User, job: str, group: str, share: bool) -> tuple[str, int]:
        found = await changeable_job(caller, job)
        group_id = id_param(group, GROUP_ID, "group id")
        await read_json({})

        def apply(connection: Any) -> None:
            if accounts.get_group(connection, group_id) is None:
                raise NotFound("Group not found")
            (jobs.share if share else jobs.unshare)(connection, found.id, group_id)

        await database.write(apply)
        return "", 200

    @routes("PUT", "/jobs/<job>/groups/<group>", Access.USER)
    async def share_job(caller: User, job: str, group: str) -> tuple[str, int]:
        return await change_share(caller, job, group, True)

    @routes("DELETE", "/jobs/<job>/groups/<group>", Access.USER)
    async def unshare_job(caller: User, job: str, group: str) -> tuple[str, int]:
        return await change_share(caller, job, group, False)

    @routes("DELETE", "/jobs/<job>", Access.USER)
    async def delete_job(caller: User, job: str) -> dict[str, Any]:
        found = await changeable_job(caller, job)
        await read_json({})
        if found.state != JobState.DONE:
            raise PreconditionFailed("Only stopped jobs can be deleted")
        await database.write(lambda c: jobs.delete_job(c, found.id))
        folder = services.data_root.pit(found.id)
        await trio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))
        return {"message": f"Job {found.id} and its data deleted"}

    @routes("GET", "/jobs/<job>/log", Access.USER)
    async def log(caller: User, job: str) -> Response:
        found = await readable_job(caller, job)
        path = services.data_root.pit(found.id) / "pit.log"
        if found.state == JobState.DONE and not await trio.Path(path).exists():
            raise NotFound("Job log not found")
        return Response(
            follow_log(services, found.id, path),
            content_type="text/plain; charset=utf-8",
            headers={"Cache-Control": "no-cache"},
        )

    return routes


async def follow_log(services: Services, job_id: int, path: Path) -> AsyncIterator[bytes]:
    """Yield the log from its start, following it until the job is DONE, then its rest.

    Nothing is lost at the end: after DONE is seen, the file is read to its end once more.
    """
    position = 0
    poll_s = services.config.poll_interval_s
    while True:
        job = services.database.lookup(lambda c: jobs.get_job(c, job_id))
        finished = job is None or job.state == JobState.DONE
        chunk = await trio.to_thread.run_sync(_read_from, path, position)
        while chunk:
            position += len(chunk)
            yield chunk
            chunk = await trio.to_thread.run_sync(_read_from, path, position)
        if finished:
            return
        await trio.sleep(poll_s)


def _read_from(path: Path, position: int) -> bytes:
    try:
        with open(path, "rb") as log:
            log.seek(position)
            return log.read(LOG_CHUNK)
    except FileNotFoundError:
        return b""
