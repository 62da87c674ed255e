"""Moving jobs through their states: preparation, stopping, cleaning, recovery after a restart.

One task in the root nursery. It wakes on :meth:`JobRunner.wake` (a submission, a stop, a job's
end) or every ``pollInterval``, starts the preparation of NEW jobs (at most ``maxParallelPrep``
at a time, each in its own cancel scope under ``maxPrepDuration``), and makes a scheduling pass
over the queue: every WAITING job that fits gets its GPUs and a pit (one nursery per pit, see
:mod:`snakepit.pits`). Stopping a job cancels what it is doing (its preparation or its pit);
the job is then cleaned (its workers' exit codes and results recorded) and DONE.

Transitions (section 5.2 of the service spec)::

    NEW -> PREPARING -> WAITING                 (prepared)
    PREPARING -> CLEANING -> DONE               (failed, or stopped / too slow via STOPPING)
    NEW -> DONE                                 (stopped)
    WAITING -> CLEANING -> DONE                 (stopped)
    WAITING -> STARTING -> RUNNING              (allocated; the pit's containers run)
    STARTING -> CLEANING -> DONE                (the start failed)
    RUNNING -> STOPPING -> CLEANING -> DONE     (the workers ended, or stopped)
"""

import dataclasses
import logging
import sqlite3
from collections.abc import Callable
from functools import partial
from typing import TypeVar

import trio

from lxd import LxdError
from snakepit.config import Config
from snakepit.dataroot import DataRoot
from snakepit.errors import first_leaf
from snakepit.jobs.states import JobState
from snakepit.jobs.submission import read_job_source
from snakepit.models import Job
from snakepit.nodes.connect import NoClientCertificate
from snakepit.pits.plan import PitPlan, WorkerPlan, container_name
from snakepit.pits.runner import (
    Connector,
    PitError,
    PitHandle,
    PitOutcome,
    PitTimeouts,
    Samples,
    run_pit,
)
from snakepit.pits.teardown import remove_pit_containers
from snakepit.preparation import PreparationError, Preparer, clean
from snakepit.scheduling import Allocation, WaitingJob, parse_request, plan_pass, unsatisfiable
from snakepit.store import Database, StoreFull
from snakepit.store import jobs as job_store
from snakepit.store import nodes as node_store

log = logging.getLogger("snakepit.jobs")

T = TypeVar("T")

#: How long a round waits after being woken, so that a burst of events makes one round.
BURST_S = 0.05
#: How long the runner waits before writing again when the database's disk is full.
FULL_DISK_RETRY_S = 5.0
#: GPU utilisation is sampled every pollInterval, but not more often than this.
MIN_SAMPLE_INTERVAL_S = 1.0

#: Reasons recorded in the state history on recovery (section 5.4).
RECOVERY = {
    JobState.PREPARING: "Job interrupted during preparation",
    JobState.CLEANING: "Job interrupted during cleaning",
    JobState.STOPPING: "Job interrupted during stopping",
    JobState.STARTING: "Job interrupted during starting",
}
#: Reason for a RUNNING job whose pit cannot be attached to after a restart.
LOST_PIT = "Job interrupted by a restart of the service: its allocation is gone"


@dataclasses.dataclass(frozen=True)
class WorkerContainer:
    """Where a running job's worker lives: its node's LXD and its container's name."""

    endpoint: str
    server_cert: str
    name: str


class JobRunner:
    """Prepares, stops and cleans jobs; see the module docstring."""

    def __init__(
        self, config: Config, database: Database, data_root: DataRoot, connector: Connector
    ) -> None:
        self._config = config
        self._connector = connector
        self._pits: dict[int, trio.CancelScope] = {}
        self._database = database
        self._data_root = data_root
        self.preparer = Preparer(
            data_root.root / "cache",
            max_parallel=config.max_parallel_prep,
            schemes=frozenset(config.origin_schemes),
            protected=(data_root.root,),
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
            await self._attach_running(nursery)
            task_status.started()
            while True:
                await self._start_preparations(nursery)
                await self._schedule(nursery)
                with trio.move_on_after(self._config.poll_interval_s):
                    await self._wake.wait()
                # Gather a burst of wake-ups (many submissions at once) into one round.
                await trio.sleep(BURST_S)
                self._wake = trio.Event()

    async def recover(self) -> None:
        """Handle jobs that a previous run of the service left in the middle of something."""
        for state, reason in RECOVERY.items():
            for job in await self._jobs_in(state):
                log.info("job %d: %s", job.id, reason)
                if state in (JobState.STARTING, JobState.RUNNING, JobState.STOPPING):
                    await self._remove_containers(job.id)
                await self._clean(job.id, reason)

    async def _attach_running(self, nursery: trio.Nursery) -> None:
        """Supervise again the pits that were running when the service last stopped."""
        for job in await self._jobs_in(JobState.RUNNING):
            allocation = await self._database.read(
                partial(job_store.load_allocation, job_id=job.id)
            )
            if allocation is None:
                await self._set(job.id, JobState.STOPPING, LOST_PIT)
                await self._remove_containers(job.id)
                await self._clean(job.id, None)
                continue
            log.info("job %d: attaching to its running pit", job.id)
            scope = trio.CancelScope()
            self._pits[job.id] = scope
            nursery.start_soon(
                partial(self._run_pit, job.id, allocation, scope, attach=True),
                name=f"pit-{job.id}",
            )

    async def _remove_containers(self, job_id: int) -> None:
        """Remove every container of a pit on every node (after a restart), bounded."""
        nodes = await self._database.read(node_store.all_nodes)
        with trio.CancelScope(shield=True), trio.move_on_after(self._config.container_timeout_s):
            try:
                head = await self._head_certificate()
            except OSError as error:
                log.warning("job %d: cannot read the head's LXD certificate: %s", job_id, error)
                return
            endpoints: dict[str, tuple[str, set[str]]] = {
                self._config.endpoint: (head, {self._config.head_node})
            }
            for node in nodes:
                endpoints.setdefault(node.endpoint, (node.server_cert, set()))[1].add(node.id)
            for endpoint, (certificate, node_ids) in endpoints.items():
                try:
                    async with self._connector.open(endpoint, certificate) as lxd:
                        await remove_pit_containers(lxd, node_ids, job_id)
                except (LxdError, OSError, ValueError, NoClientCertificate) as error:
                    log.warning(
                        "job %d: cannot remove containers at %s: %s", job_id, endpoint, error
                    )

    async def _head_certificate(self) -> str:
        return await trio.Path(self._config.lxd_server_cert).read_text()

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
            if await self._set(job.id, JobState.PREPARING, expected=JobState.NEW):
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
        except* trio.TooSlowError:
            failure = "Exceeded max preparation time"
        except* PreparationError as group:
            failure = f"Problem during preparation step: {first_leaf(group)}"
        except* Exception as group:
            # A defect must end this job, never the service: log it whole, clean the job.
            log.error("job %d: unexpected error while preparing", job.id, exc_info=group)
            failure = f"Problem during preparation step: internal error ({first_leaf(group)!r})"
        finally:
            del self._preparing[job.id]
        if scope.cancelled_caught:
            failure = self._stop_reasons.pop(job.id, "Stopped")
        if failure is None:
            if await self._set(job.id, JobState.WAITING, expected=JobState.PREPARING):
                self.wake()  # schedule it now, not at the next round
                return
            # Stopped just as it finished: the stop recorded its reason with STOPPING.
            self._stop_reasons.pop(job.id, None)
        if JobState((await self._reload(job.id)).state) != JobState.DONE:
            await self._clean(job.id, failure)

    async def _schedule(self, nursery: trio.Nursery) -> None:
        """One scheduling pass: start every waiting job that fits, in queue order."""
        waiting = await self._database.read(job_store.waiting_jobs)
        if not waiting:
            return
        cluster = await self._database.read(node_store.cluster_snapshot)
        busy = await self._database.read(node_store.busy_resource_ids)
        queue = await self._as_queue(waiting)
        for job_id, allocation in plan_pass(queue, cluster, busy):
            started = await self._write(
                partial(job_store.record_allocation, job_id=job_id, allocation=allocation)
            )
            if started:
                scope = trio.CancelScope()
                self._pits[job_id] = scope
                nursery.start_soon(self._run_pit, job_id, allocation, scope, name=f"pit-{job_id}")

    async def _pit_plan(self, job_id: int, allocation: Allocation) -> PitPlan:
        job = await self._reload(job_id)
        nodes = {node.id: node for node in await self._database.read(node_store.all_nodes)}
        owner_groups = await self._database.read(partial(node_store.groups_of, user_id=job.user_id))
        workers = tuple(
            WorkerPlan(
                index=index,
                group_index=process.group,
                process_index=process.index,
                node_id=process.node,
                endpoint=nodes[process.node].endpoint,
                server_cert_pem=nodes[process.node].server_cert,
                gpu_indices=tuple(resource.index for resource in process.resources),
                gpu_resource_ids=process.resource_ids,
                gpu_binding=nodes[process.node].gpu_binding,
            )
            for index, process in enumerate(allocation.workers)
        )
        return PitPlan(
            job_id=job.id,
            owner=job.user_id,
            owner_groups=tuple(sorted(owner_groups)),
            workers=workers,
            head_endpoint=self._config.endpoint,
            head_server_cert_pem=await self._head_certificate(),
            lxd_domain=self._config.lxd_domain,
            head_node=self._config.head_node,
            worker_profiles=self._config.worker_profiles,
            worker_env=dict(self._config.worker_env),
        )

    async def _run_pit(
        self,
        job_id: int,
        allocation: Allocation,
        scope: trio.CancelScope,
        *,
        attach: bool = False,
    ) -> None:
        """Start the pit (or ``attach`` to it), mark the job RUNNING, wait for its end, clean
        the job. Cancelled from outside (the service stopping), it leaves job and pit running."""
        config = self._config
        timeouts = PitTimeouts(
            container_s=config.container_timeout_s,
            max_start_s=config.max_start_duration_s,
            poll_interval_s=config.poll_interval_s,
            sample_interval_s=max(config.poll_interval_s, MIN_SAMPLE_INTERVAL_S),
            # Containers go in parallel: removing one is a stop and a delete.
            teardown_s=2 * config.container_timeout_s,
        )
        outcome: PitOutcome | None = None
        failure = None
        try:
            with scope:
                plan = await self._pit_plan(job_id, allocation)

                send_samples, receive_samples = trio.open_memory_channel[Samples](2)

                async def pit(task_status: trio.TaskStatus[PitHandle]) -> None:
                    nonlocal outcome
                    async with send_samples:
                        outcome = await run_pit(
                            plan,
                            connector=self._connector,
                            data_root=self._data_root.root,
                            mount_uid=config.mount_uid,
                            timeouts=timeouts,
                            attach=attach,
                            stop_scope=scope,
                            samples=send_samples,
                            task_status=task_status,
                        )

                async with trio.open_nursery() as supervisor:
                    supervisor.start_soon(self._record_samples, job_id, receive_samples)
                    await supervisor.start(pit)
                    if not attach:
                        await self._set(job_id, JobState.RUNNING)
        except* (PitError, LxdError, OSError, KeyError, NoClientCertificate) as group:
            failure = f"Problem during startup: {first_leaf(group)}"
            log.warning("job %d: %s", job_id, failure)
        except* Exception as group:
            # A defect must end this job, never the service: log it whole, clean the job.
            log.error("job %d: unexpected error in its pit", job_id, exc_info=group)
            failure = f"Problem during startup: internal error ({first_leaf(group)!r})"
        finally:
            del self._pits[job_id]
        reason = self._stop_reasons.pop(job_id, None)
        await self._set(job_id, JobState.STOPPING, reason)
        if outcome is not None:
            results = [
                (process.group, process.index, worker.exit_code, worker.result)
                for process, worker in zip(allocation.workers, outcome.workers, strict=True)
            ]
            await self._write(partial(job_store.record_results, job_id=job_id, results=results))
        await self._clean(job_id, failure)
        self.wake()  # its GPUs are free again

    async def _record_samples(
        self, job_id: int, samples: trio.MemoryReceiveChannel[Samples]
    ) -> None:
        """Store a pit's GPU utilisation samples until the pit closes the channel."""
        async with samples:
            async for found in samples:
                await self._write(partial(job_store.record_samples, job_id=job_id, samples=found))

    async def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """A write of the job runner's, tried again until the disk has room.

        A job's progress must be recorded; while the database's disk is full, the job waits at
        that step (and the service goes on serving) instead of the runner failing.
        """
        while True:
            try:
                return await self._database.write(work)
            except StoreFull as error:
                log.error("%s; trying again in %g s", error, FULL_DISK_RETRY_S)
            await trio.sleep(FULL_DISK_RETRY_S)

    async def _set(
        self,
        job_id: int,
        state: JobState,
        reason: str | None = None,
        expected: JobState | None = None,
    ) -> bool:
        """Record a state change; False if the job was in ``state`` already, or, when
        ``expected`` is given, had left that state meanwhile (a stop racing a start)."""
        return await self._write(
            lambda c: job_store.set_state(c, job_id, state, reason, expected=expected)
        )

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
            if await self._set(job.id, JobState.DONE, reason, expected=JobState.NEW):
                return
            job = await self._reload(job.id)  # it started preparing meanwhile
            state = JobState(job.state)
        if state == JobState.PREPARING and job.id in self._preparing:
            await self._set(job.id, JobState.STOPPING, reason)
            self._stop_reasons[job.id] = reason
            self._preparing[job.id].cancel()
        elif state == JobState.WAITING:
            await self._clean(job.id, reason)
        elif state in (JobState.STARTING, JobState.RUNNING) and job.id in self._pits:
            await self._set(job.id, JobState.STOPPING, reason)
            self._stop_reasons[job.id] = reason
            self._pits[job.id].cancel()
        elif state in (JobState.STARTING, JobState.RUNNING, JobState.PREPARING):
            await self._set(job.id, JobState.STOPPING, reason)
            await self._clean(job.id, None)

    async def worker_container(self, job_id: int, instance: int) -> WorkerContainer | None:
        """The container of worker ``instance`` (flat index) of a RUNNING job whose pit this
        service supervises, or None."""
        if job_id not in self._pits:
            return None
        job = await self._database.read(lambda c: job_store.get_job(c, job_id))
        if job is None or job.state != JobState.RUNNING:
            return None
        processes = sorted(job.processes, key=lambda p: (p.group_index, p.process_index))
        node_id = processes[instance].node_id if 0 <= instance < len(processes) else None
        if node_id is None:
            return None
        node = await self._database.read(partial(node_store.get_node, node_id=node_id))
        if node is None:
            return None
        name = container_name(node.id, job_id, instance)
        return WorkerContainer(node.endpoint, node.server_cert, name)

    async def _reload(self, job_id: int) -> Job:
        job = await self._database.read(lambda c: job_store.get_job(c, job_id))
        assert job is not None
        return job

    async def _as_queue(self, jobs: list[tuple[int, str, str]]) -> list[WaitingJob]:
        """``(id, owner, request)`` entries as the scheduling functions take them, reading each
        owner's groups once."""
        groups: dict[str, frozenset[str]] = {}
        queue = []
        for job_id, owner, request in jobs:
            if owner not in groups:
                groups[owner] = await self._database.read(
                    partial(node_store.groups_of, user_id=owner)
                )
            queue.append(WaitingJob(job_id, parse_request(request), groups[owner]))
        return queue

    async def recheck_requests(self) -> list[int]:
        """Stop queued jobs whose request this cluster can no longer satisfy for their owner
        (after a group or restriction change; the published re-check never worked)."""
        candidates = await self._jobs_in(JobState.WAITING) + await self._jobs_in(JobState.PREPARING)
        if not candidates:
            return []
        cluster = await self._database.read(node_store.cluster_snapshot)
        queue = await self._as_queue([(job.id, job.user_id, job.request) for job in candidates])
        stopped = unsatisfiable(queue, cluster)
        by_id = {job.id: job for job in candidates}
        for job_id in stopped:
            await self.stop(by_id[job_id], "Cluster cannot fulfill resource request anymore")
        return stopped
