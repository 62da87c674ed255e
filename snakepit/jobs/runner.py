"""Moving jobs through their states: preparation, stopping, cleaning, recovery after a restart.

One task in the root nursery. It wakes on :meth:`JobRunner.wake` (a submission, a stop) or
every ``pollInterval``, and starts the preparation of NEW jobs, at most ``maxParallelPrep`` at a
time, each in its own cancel scope under ``maxPrepDuration``. A prepared job becomes WAITING in
the queue; starting pits from the queue is the scheduler's (to come). Stopping a job that is
being prepared cancels its scope; the job is then cleaned and DONE.

Transitions (section 5.2 of the service spec)::

    NEW -> PREPARING -> WAITING                 (prepared)
    PREPARING -> CLEANING -> DONE               (failed, or stopped / too slow via STOPPING)
    NEW -> DONE                                 (stopped)
    WAITING -> CLEANING -> DONE                 (stopped)
    STARTING | RUNNING -> STOPPING -> CLEANING -> DONE
"""

import logging
from functools import partial

import trio

from snakepit.config import Config
from snakepit.dataroot import DataRoot
from snakepit.jobs.states import JobState
from snakepit.jobs.submission import read_job_source
from snakepit.models import Job
from snakepit.preparation import PreparationError, Preparer, clean
from snakepit.scheduling import WaitingJob, parse_request, unsatisfiable
from snakepit.store import Database
from snakepit.store import jobs as job_store
from snakepit.store import nodes as node_store

log = logging.getLogger("snakepit.jobs")

#: Reasons recorded in the state history on recovery (section 5.4).
RECOVERY = {
    JobState.PREPARING: "Job interrupted during preparation",
    JobState.CLEANING: "Job interrupted during cleaning",
    JobState.STOPPING: "Job interrupted during stopping",
    JobState.STARTING: "Job interrupted during starting",
}


class JobRunner:
    """Prepares, stops and cleans jobs; see the module docstring."""

    def __init__(self, config: Config, database: Database, data_root: DataRoot) -> None:
        self._config = config
        self._database = database
        self._data_root = data_root
        self.preparer = Preparer(
            data_root.root / "cache",
            max_parallel=config.max_parallel_prep,
            schemes=frozenset(config.origin_schemes),
        )
        self._wake = trio.Event()
        self._preparing: dict[int, trio.CancelScope] = {}
        self._stop_reasons: dict[int, str] = {}
        self._nursery: trio.Nursery | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self.recover()
            task_status.started()
            while True:
                await self._start_preparations(nursery)
                with trio.move_on_after(self._config.poll_interval_s):
                    await self._wake.wait()
                self._wake = trio.Event()

    async def recover(self) -> None:
        """Handle jobs that a previous run of the service left in the middle of something."""
        for state, reason in RECOVERY.items():
            for job in await self._jobs_in(state):
                log.info("job %d: %s", job.id, reason)
                await self._clean(job.id, reason)

    async def _jobs_in(self, state: JobState) -> list[Job]:
        return await self._database.read(partial(job_store.jobs_in_state, state=state))

    async def _start_preparations(self, nursery: trio.Nursery) -> None:
        free = self._config.max_parallel_prep - len(self._preparing)
        if free <= 0:
            return
        new = await self._database.read(
            partial(job_store.jobs_in_state, state=JobState.NEW, limit=free)
        )
        for job in new:
            if await self._set(job.id, JobState.PREPARING):
                scope = trio.CancelScope()
                self._preparing[job.id] = scope
                nursery.start_soon(self._prepare, job, scope, name=f"prepare-{job.id}")

    async def _prepare(self, job: Job, scope: trio.CancelScope) -> None:
        folder = self._data_root.pit(job.id)
        keep = self._data_root.pit(job.continues) / "keep" if job.continues else None
        failure = None
        try:
            with scope:
                source = await trio.to_thread.run_sync(read_job_source, folder, keep)
                with trio.fail_after(self._config.max_prep_duration_s):
                    await self.preparer.prepare(folder, source)
        except trio.TooSlowError:
            failure = "Exceeded max preparation time"
        except PreparationError as error:
            failure = f"Problem during preparation step: {error}"
        finally:
            del self._preparing[job.id]
        if scope.cancelled_caught:
            failure = self._stop_reasons.pop(job.id, "Stopped")
        if failure is None:
            await self._set(job.id, JobState.WAITING)
            return
        await self._clean(job.id, failure)

    async def _set(self, job_id: int, state: JobState, reason: str | None = None) -> bool:
        return await self._database.write(lambda c: job_store.set_state(c, job_id, state, reason))

    async def _clean(self, job_id: int, reason: str | None) -> None:
        """CLEANING (with the reason), remove the job's work folders, DONE."""
        await self._set(job_id, JobState.CLEANING, reason)
        problem = None
        folder = self._data_root.pit(job_id)
        if await trio.Path(folder).is_dir():
            try:
                with trio.CancelScope(shield=True):
                    await clean(folder)
            except PreparationError as error:
                problem = f"Problem during cleaning step: {error}"
        await self._set(job_id, JobState.DONE, problem)

    async def stop(self, job: Job, reason: str) -> None:
        """Stop a job in any state before CLEANING (the caller checked that)."""
        state = JobState(job.state)
        if state == JobState.NEW:
            if await self._set(job.id, JobState.DONE, reason):
                return
            job = await self._reload(job.id)  # it started preparing meanwhile
            state = JobState(job.state)
        if state == JobState.PREPARING and job.id in self._preparing:
            await self._set(job.id, JobState.STOPPING, reason)
            self._stop_reasons[job.id] = reason
            self._preparing[job.id].cancel()
        elif state == JobState.WAITING:
            await self._clean(job.id, reason)
        elif state in (JobState.STARTING, JobState.RUNNING, JobState.PREPARING):
            await self._set(job.id, JobState.STOPPING, reason)
            await self._clean(job.id, None)

    async def _reload(self, job_id: int) -> Job:
        job = await self._database.read(lambda c: job_store.get_job(c, job_id))
        assert job is not None
        return job

    async def recheck_requests(self) -> list[int]:
        """Stop queued jobs whose request this cluster can no longer satisfy for their owner
        (after a group or restriction change; the published re-check never worked)."""
        candidates = await self._jobs_in(JobState.WAITING) + await self._jobs_in(JobState.PREPARING)
        if not candidates:
            return []
        cluster = await self._database.read(node_store.cluster_snapshot)
        waiting = []
        for job in candidates:
            groups = await self._database.read(partial(node_store.groups_of, user_id=job.user_id))
            waiting.append(WaitingJob(job.id, parse_request(job.request), groups))
        stopped = unsatisfiable(waiting, cluster)
        by_id = {job.id: job for job in candidates}
        for job_id in stopped:
            await self.stop(by_id[job_id], "Cluster cannot fulfill resource request anymore")
        return stopped
