"""Running a pit: start its containers, supervise its workers, always tear it down.

:func:`run_pit` is one nursery per pit. It creates and starts the daemon on the head node and
every worker on its node (in parallel, each a child task), calls ``task_status.started(handle)``
and then polls the workers until all have exited or one has failed, while a child task collects
the workers' logs into ``pit.log``. Stopping a pit is cancelling it (:meth:`PitHandle.stop`).
Whatever happens, the ``finally`` removes every container of the pit on every node it touches,
found by name (so half-made ones go too), shielded and bounded.

Its errors and results are in :mod:`snakepit.pits.results`; how the daemon's ``worker`` gets to
own the pit, home and group data (handing it to the host ids the daemon's uid 2525 maps to, or
``raw.idmap`` when the deployment delegated a data owner) is explained in
:mod:`snakepit.pits.data`.
"""

import contextlib
import dataclasses
import logging
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Protocol

import trio

from lxd import ImageServer, Lxd, LxdError, NotFound
from lxd.transport import describe
from snakepit.pits import data
from snakepit.pits.logs import LogCollector
from snakepit.pits.plan import (
    PitPlan,
    WorkerPlan,
    daemon_name,
    env_file,
    gpu_devices,
    worker_environment,
    worker_name,
)
from snakepit.pits.results import (
    DEFAULT_TIMEOUTS,
    ContainerTimeout,
    PitError,
    PitHandle,
    PitOutcome,
    PitStartFailed,
    PitStartTimeout,
    PitTimeouts,
    WorkerOutcome,
)
from snakepit.pits.teardown import remove_pit_containers

log = logging.getLogger(__name__)

#: Image aliases of the daemon and the workers.
DAEMON_IMAGE = "snakepit-daemon"
WORKER_IMAGE = "snakepit-worker"
#: Succeeds in the daemon once its sshd serves.
SSHD_READY = ("systemctl", "is-active", "--quiet", "ssh.service")
#: Asks a worker for the utilisation of its GPUs, one ``<compute>, <memory>`` line each (in
#: percent), in the order CUDA numbers them; ``/env.sh`` holds the GPU selection when the node
#: binds GPUs by environment.
UTILISATION_QUERY = (
    "bash",
    "-c",
    "if [ -r /env.sh ]; then . /env.sh; fi; exec nvidia-smi"
    " --query-gpu=utilization.gpu,utilization.memory --format=csv,noheader,nounits",
)

#: GPU utilisation samples of a pit, one round at a time: ``(resource id, compute, memory)``
#: with utilisation as fractions from 0 to 1.
Samples = list[tuple[int, float, float]]


class Connector(Protocol):
    """Opens LXD clients for nodes (:class:`snakepit.nodes.connect.LxdConnector`)."""

    def open(
        self, endpoint: str, server_cert: str
    ) -> contextlib.AbstractAsyncContextManager[Lxd]: ...


@contextlib.contextmanager
def _deadline(seconds: float, what: str) -> Iterator[None]:
    try:
        with trio.fail_after(seconds):
            yield
    except trio.TooSlowError:
        raise ContainerTimeout(f"{what} took more than {seconds:g} s") from None


@contextlib.contextmanager
def _step(seconds: float, what: str) -> Iterator[None]:
    """A step of the start: bounded, and its LXD errors say which step failed."""
    try:
        with _deadline(seconds, what):
            yield
    except LxdError as error:
        raise PitStartFailed(f"{what}: {describe(error)}") from error


@dataclasses.dataclass
class _Node:
    """One LXD endpoint the pit uses, with the node ids it is registered as."""

    client: Lxd
    node_ids: set[str]


async def run_pit(
    plan: PitPlan,
    *,
    connector: Connector,
    data_root: Path,
    mount_uid: int | None = None,
    mount_gid: int | None = None,
    timeouts: PitTimeouts = DEFAULT_TIMEOUTS,
    attach: bool = False,
    stop_scope: trio.CancelScope | None = None,
    samples: trio.MemorySendChannel[Samples] | None = None,
    task_status: trio.TaskStatus[PitHandle] = trio.TASK_STATUS_IGNORED,
) -> PitOutcome:
    """Run a job's pit to its end and return what its workers left.

    The pit directory ``<data_root>/pits/<job>`` must hold ``script.sh`` (and ``src/``).

    Args:
        plan: the job, its owner and its workers.
        connector: opens an LXD client per node.
        data_root: the data root on this machine (``mountRoot``).
        mount_uid, mount_gid: the data owner, mapped to the daemon's ``worker`` with
            ``raw.idmap`` (needs delegation in ``/etc/subuid`` and ``/etc/subgid``); without
            them the data is handed to the host ids the daemon's 2525 maps to (see
            :mod:`snakepit.pits.data`).
        timeouts: deadlines of the phases.
        attach: take over a pit that an earlier run of the service started (its containers
            run, or have ended) instead of starting one.
        stop_scope: a scope of the caller's around this call whose cancellation means "stop
            this pit" (as :meth:`PitHandle.stop` does), before or after it started.
        samples: gets the GPU utilisation of the workers every ``sample_interval_s`` while
            they run (a round is dropped when the receiver lags behind).
        task_status: gets a :class:`PitHandle` once every container runs.

    A pit stopped (through its handle or ``stop_scope``), or one that fails, is torn down. A
    pit cancelled from anywhere else (the service shutting down) is left running, its log
    collected up to the last complete line, so that the next run can attach to it.

    Raises:
        PitStartTimeout: the start took longer than ``timeouts.max_start_s``.
        PitStartFailed: LXD or the host refused a step of the start.
    """
    pit = _Pit(plan, data_root, timeouts, mount_uid, mount_gid)
    detached = False
    async with pit.open_nodes(connector):
        scope = trio.CancelScope()
        try:
            with scope:
                if attach:
                    await pit.attach()
                else:
                    await pit.start()
                task_status.started(PitHandle(plan.job_id, scope))
                await pit.supervise(samples)
            return await pit.outcome(stopped=scope.cancelled_caught)
        except BaseException as error:
            # Cancelled from outside rather than stopped: the service is shutting down. The
            # containers and files are the ground truth (section 5.4): leave the pit running
            # for the next run of the service to attach to.
            stopped = scope.cancel_called or (stop_scope is not None and stop_scope.cancel_called)
            detached = _only_cancellation(error) and not stopped
            raise
        finally:
            with trio.CancelScope(shield=True):
                if detached:
                    log.info("pit %d: left running for the next start of the service", plan.job_id)
                else:
                    with trio.move_on_after(timeouts.teardown_s) as bounded:
                        await pit.teardown()
                    if bounded.cancelled_caught:
                        log.error(
                            "pit %d: teardown took over %g s", plan.job_id, timeouts.teardown_s
                        )
                await trio.to_thread.run_sync(pit.logs.collect, not detached)


class _Pit:
    def __init__(
        self,
        plan: PitPlan,
        data_root: Path,
        timeouts: PitTimeouts,
        mount_uid: int | None,
        mount_gid: int | None,
    ) -> None:
        if (mount_uid is None) != (mount_gid is None):
            raise ValueError("give both mount_uid and mount_gid, or neither")
        self.plan = plan
        self.data_root = data_root
        self.timeouts = timeouts
        self.mount_ids: tuple[int, int] | None = None
        if mount_uid is not None and mount_gid is not None:
            self.mount_ids = (mount_uid, mount_gid)
        self.pit_dir = data.pit_dir(data_root, plan.job_id)
        self.logs = LogCollector(self.pit_dir, [worker.index for worker in plan.workers])
        self.nodes: dict[str, _Node] = {}

    @contextlib.asynccontextmanager
    async def open_nodes(self, connector: Connector) -> AsyncIterator[None]:
        """Open one client per LXD endpoint of the pit for its whole life."""
        plan = self.plan
        wanted = {plan.head_endpoint: (plan.head_server_cert_pem, {plan.head_node})}
        for worker in self.plan.workers:
            cert, ids = wanted.setdefault(worker.endpoint, (worker.server_cert_pem, set()))
            ids.add(worker.node_id)
        async with contextlib.AsyncExitStack() as stack:
            for endpoint, (cert, ids) in wanted.items():
                client = await stack.enter_async_context(connector.open(endpoint, cert))
                self.nodes[endpoint] = _Node(client, ids)
            yield

    # Start

    async def start(self) -> None:
        seconds = self.timeouts.max_start_s
        try:
            with trio.fail_after(seconds):
                with tempfile.TemporaryDirectory(prefix="snakepit-pit-") as folder:
                    private, public = await self._make_key(Path(folder))
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._start_daemon, public, name="pit daemon")
                    for worker in self.plan.workers:
                        nursery.start_soon(
                            self._start_worker, worker, private, name=f"pit worker {worker.index}"
                        )
        except trio.TooSlowError:
            raise PitStartTimeout(self.plan.job_id, seconds) from None
        except (PitError, LxdError, OSError, ValueError, subprocess.SubprocessError) as error:
            raise PitStartFailed(f"pit {self.plan.job_id}: {_message(error)}") from error
        except BaseExceptionGroup as group:
            failures, rest = group.split(Exception)
            if rest is not None or failures is None:
                raise
            messages = "; ".join(_message(error) for error in _leaves(failures))
            raise PitStartFailed(f"pit {self.plan.job_id}: {messages}") from group

    async def _make_key(self, folder: Path) -> tuple[bytes, bytes]:
        key = folder / "id_rsa"
        await trio.run_process(
            [
                "ssh-keygen",
                "-q",
                "-t",
                "ed25519",
                "-N",
                "",
                "-C",
                f"snakepit-pit-{self.plan.job_id}",
                "-f",
                str(key),
            ],
            capture_stdout=True,
            capture_stderr=True,
        )
        return await trio.Path(key).read_bytes(), await trio.Path(f"{key}.pub").read_bytes()

    def _daemon_devices(self) -> dict[str, dict[str, str]]:
        root = self.data_root
        devices = {
            "pit": {"type": "disk", "source": str(self.pit_dir), "path": "/data/rw/pit"},
            "home": {
                "type": "disk",
                "source": str(root / "home" / self.plan.owner),
                "path": "/data/rw/home",
            },
            "shared": {
                "type": "disk",
                "source": str(root / "shared"),
                "path": "/data/ro/shared",
                "readonly": "true",
            },
        }
        for group in self.plan.owner_groups:
            devices[f"group-{group}"] = {
                "type": "disk",
                "source": str(root / "groups" / group),
                "path": f"/data/rw/group-{group}",
            }
        return devices

    def _owned_directories(self) -> list[Path]:
        root = self.data_root
        groups = [root / "groups" / group for group in self.plan.owner_groups]
        return [self.pit_dir, root / "home" / self.plan.owner, *groups]

    async def _start_daemon(self, public_key: bytes) -> None:
        plan, seconds = self.plan, self.timeouts.container_s
        lxd = self.nodes[plan.head_endpoint].client
        name = daemon_name(plan.job_id, plan.head_node)
        await trio.to_thread.run_sync(
            data.make_directories,
            self.data_root,
            plan.job_id,
            plan.owner,
            plan.owner_groups,
            [worker.index for worker in plan.workers],
        )
        config: dict[str, str] = {}
        if self.mount_ids is not None:
            uid, gid = self.mount_ids
            config["raw.idmap"] = f"uid {uid} {data.WORKER_ID}\ngid {gid} {data.WORKER_ID}"
            config["security.idmap.isolated"] = "true"
        with _step(seconds, f"creating {name}"):
            instance = await lxd.instances.create(
                name, image_alias=DAEMON_IMAGE, config=config, devices=self._daemon_devices()
            )
        owner = self.mount_ids or data.mapped_ids(instance.config.get("volatile.idmap.next", ""))
        await trio.to_thread.run_sync(data.hand_over, self._owned_directories(), *owner)
        with _step(seconds, f"starting {name}"):
            await lxd.instances.start(name)
        with _step(seconds, f"pushing the key to {name}"):
            await lxd.files.push(
                name,
                "/home/worker/.ssh/authorized_keys",
                public_key,
                mode=0o644,
                uid=data.WORKER_ID,
                gid=data.WORKER_ID,
            )
        # The pit runs once the daemon serves (its workers are mounting it meanwhile).
        with _step(seconds, f"waiting for sshd in {name}"):
            while True:
                if (await lxd.exec.run(name, SSHD_READY)).exit_code == 0:
                    break
                await trio.sleep(0.1)

    async def _start_worker(self, worker: WorkerPlan, private_key: bytes) -> None:
        seconds = self.timeouts.container_s
        lxd = self.nodes[worker.endpoint].client
        name = worker_name(self.plan.job_id, worker)
        devices = {
            "fuse": {
                "type": "unix-char",
                "source": "/dev/fuse",
                "path": "/dev/fuse",
                "mode": "0666",
            }
        }
        devices.update(gpu_devices(worker))
        environment = env_file(worker_environment(self.plan, worker)).encode()
        with _step(seconds, f"creating {name}"):
            await lxd.instances.create(
                name,
                image_alias=WORKER_IMAGE,
                devices=devices,
                profiles=self.plan.worker_profiles,
                image_server=self._image_server(worker),
            )
        with _step(seconds, f"starting {name}"):
            await lxd.instances.start(name)
        with _step(seconds, f"pushing the key to {name}"):
            await lxd.files.push(name, "/root/.ssh/id_rsa", private_key, mode=0o600)
        # The worker starts mounting the daemon as soon as /env.sh arrives, trying five times a
        # second until the daemon's sshd answers (it boots meanwhile): no need to wait for it.
        with _step(seconds, f"pushing /env.sh to {name}"):
            await lxd.files.push(name, "/env.sh", environment, mode=0o600)

    async def attach(self) -> None:
        """Take over the running pit: say which of its workers are there."""
        for worker in self.plan.workers:
            stopped = await self._has_stopped(worker)
            log.info(
                "pit %d: attached; worker %d %s",
                self.plan.job_id,
                worker.index,
                "has stopped" if stopped else "runs",
            )

    def _image_server(self, worker: WorkerPlan) -> ImageServer | None:
        """Where a worker's node gets the image: its own copy on the head's LXD, else a pull
        from the head (public images, the head's certificate pinned)."""
        plan = self.plan
        if worker.endpoint == plan.head_endpoint:
            return None
        return ImageServer(plan.head_endpoint, plan.head_server_cert_pem)

    # Supervision

    async def supervise(self, samples: trio.MemorySendChannel[Samples] | None) -> None:
        """Return when every worker has exited, or as soon as one has failed."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.logs.run, self.timeouts.log_interval_s, name="pit logs")
            if samples is not None and any(w.gpu_indices for w in self.plan.workers):
                nursery.start_soon(self._sample_utilisation, samples, name="pit samples")
            await self._watch_workers()
            nursery.cancel_scope.cancel()

    async def _sample_utilisation(self, samples: trio.MemorySendChannel[Samples]) -> None:
        workers = [worker for worker in self.plan.workers if worker.gpu_indices]
        while True:
            await trio.sleep(self.timeouts.sample_interval_s)
            found: Samples = []
            for worker in workers:
                found.extend(await self._utilisation(worker))
            if found:
                with contextlib.suppress(trio.WouldBlock):
                    samples.send_nowait(found)

    async def _utilisation(self, worker: WorkerPlan) -> Samples:
        """One sample of the worker's GPUs; none when the worker cannot say (it is ending)."""
        name = worker_name(self.plan.job_id, worker)
        try:
            with _deadline(self.timeouts.container_s, f"sampling the GPUs of {name}"):
                result = await self.nodes[worker.endpoint].client.exec.run(name, UTILISATION_QUERY)
        except (LxdError, ContainerTimeout) as error:
            log.debug("pit %d: %s", self.plan.job_id, describe(error))
            return []
        if result.exit_code != 0:
            return []
        return parse_utilisation(result.stdout.decode(errors="replace"), worker.gpu_resource_ids)

    async def _watch_workers(self) -> None:
        running = list(self.plan.workers)
        stopped_before: set[int] = set()
        while True:
            for worker in list(running):
                if not await self._has_stopped(worker):
                    stopped_before.discard(worker.index)
                    continue
                code, _ = await trio.to_thread.run_sync(
                    data.read_worker_files, self.data_root, self.plan.job_id, worker.index
                )
                if code is None and worker.index not in stopped_before:
                    # Stopped without a status: a reboot shows as stopped for a moment. Ended
                    # only if it is still stopped at the next poll.
                    stopped_before.add(worker.index)
                    continue
                running.remove(worker)
                log.info("pit %d: worker %d exited with %s", self.plan.job_id, worker.index, code)
                if code != 0:
                    return
            if not running:
                return
            await trio.sleep(self.timeouts.poll_interval_s)

    async def _has_stopped(self, worker: WorkerPlan) -> bool:
        name = worker_name(self.plan.job_id, worker)
        try:
            with _deadline(self.timeouts.container_s, f"asking for the state of {name}"):
                state = await self.nodes[worker.endpoint].client.instances.state(name)
        except NotFound:
            return True
        except (LxdError, ContainerTimeout) as error:
            # A node that does not answer for a moment does not end the job; the next poll asks
            # again.
            log.warning("pit %d: %s", self.plan.job_id, describe(error))
            return False
        return state.status.lower() == "stopped"

    async def outcome(self, *, stopped: bool) -> PitOutcome:
        workers = []
        for worker in self.plan.workers:
            code, result = await trio.to_thread.run_sync(
                data.read_worker_files, self.data_root, self.plan.job_id, worker.index
            )
            workers.append(WorkerOutcome(worker.index, code, result))
        return PitOutcome(self.plan.job_id, tuple(workers), stopped)

    # Teardown

    async def teardown(self) -> None:
        """Force-stop and delete every container of the pit on every node; errors are logged."""
        async with trio.open_nursery() as nursery:
            for endpoint, node in self.nodes.items():
                nursery.start_soon(
                    remove_pit_containers,
                    node.client,
                    node.node_ids,
                    self.plan.job_id,
                    name=f"pit teardown {endpoint}",
                )


def parse_utilisation(text: str, resource_ids: tuple[int, ...]) -> Samples:
    """``nvidia-smi`` lines ``<compute>, <memory>`` (percent) matched in order to the worker's
    resources; lines that are not two numbers (``[N/A]``) are skipped, extra lines ignored."""
    values = []
    for line in text.splitlines():
        parts = [part.strip().rstrip("%").strip() for part in line.split(",")]
        try:
            compute, memory = (min(max(float(part) / 100, 0.0), 1.0) for part in parts)
        except ValueError:
            continue
        values.append((compute, memory))
    return [
        (resource_id, compute, memory)
        for resource_id, (compute, memory) in zip(resource_ids, values, strict=False)
    ]


def _only_cancellation(error: BaseException) -> bool:
    """Whether ``error`` is trio's Cancelled, or a group of nothing else."""
    if isinstance(error, BaseExceptionGroup):
        return all(_only_cancellation(inner) for inner in error.exceptions)
    return isinstance(error, trio.Cancelled)


def _message(error: BaseException) -> str:
    return str(error) if isinstance(error, PitError) else describe(error)


def _leaves(group: BaseExceptionGroup[Exception]) -> Iterator[BaseException]:
    for error in group.exceptions:
        if isinstance(error, BaseExceptionGroup):
            yield from _leaves(error)
        else:
            yield error


# The results are re-exported: callers import them from here too.
__all__ = [
    "Connector",
    "PitError",
    "PitHandle",
    "PitOutcome",
    "PitStartFailed",
    "PitStartTimeout",
    "PitTimeouts",
    "WorkerOutcome",
    "run_pit",
]
