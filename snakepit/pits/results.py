"""What running a pit gives back, its deadlines and its errors.

Errors::

    PitError
    ├── PitStartTimeout   the start took longer than ``max_start_s``
    ├── PitStartFailed    LXD or the host refused a step of the start
    └── ContainerTimeout  one LXD call took longer than ``container_s`` (inside a start it
                          becomes PitStartFailed; while supervising, the next poll asks again)
"""

import dataclasses

import trio


class PitError(Exception):
    """A pit could not be run."""


class PitStartTimeout(PitError):
    def __init__(self, job_id: int, seconds: float) -> None:
        super().__init__(f"pit {job_id} did not start within {seconds:g} s")
        self.job_id = job_id


class PitStartFailed(PitError):
    """A step of the start failed; the message says which."""


@dataclasses.dataclass(frozen=True)
class PitTimeouts:
    """Deadlines of a pit's phases (seconds)."""

    container_s: float = 30.0  #: each LXD call
    max_start_s: float = 300.0  #: the whole start
    poll_interval_s: float = 1.0  #: between polls of the workers' containers
    log_interval_s: float = 0.2  #: between collections of the workers' logs
    teardown_s: float = 60.0  #: removing the containers
    sample_interval_s: float = 5.0  #: between samples of the workers' GPU utilisation


#: Deadlines like the configuration's defaults (containerTimeout, maxStartDuration, pollInterval).
DEFAULT_TIMEOUTS = PitTimeouts()


@dataclasses.dataclass(frozen=True)
class WorkerOutcome:
    index: int
    exit_code: int | None  #: None: the worker wrote no status
    result: str | None  #: the content of ``$RESULT_FILE``, None without one


@dataclasses.dataclass(frozen=True)
class PitOutcome:
    job_id: int
    workers: tuple[WorkerOutcome, ...]
    stopped: bool  #: the pit was stopped (cancelled through its handle)

    @property
    def succeeded(self) -> bool:
        return not self.stopped and all(worker.exit_code == 0 for worker in self.workers)


@dataclasses.dataclass(frozen=True)
class PitHandle:
    """Given to the caller once the pit has started."""

    job_id: int
    cancel_scope: trio.CancelScope

    def stop(self) -> None:
        """Stop the pit: its containers are removed and :func:`run_pit` returns."""
        self.cancel_scope.cancel()


class ContainerTimeout(PitError):
    """One LXD call took longer than ``container_s``."""
