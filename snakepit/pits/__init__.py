"""Pits: the containers that run one job, and their supervision.

A pit is one daemon container on the head node (chrooted SFTP over the pit's data) and one worker
container per process of the job, on the nodes the scheduler allocated. The workers mount the
daemon's ``/data`` over sshfs and run the job's ``script.sh`` (section 1.7 of the service spec).

- :mod:`snakepit.pits.plan`: what to start (frozen plans), the workers' environment, container
  names. Pure.
- :mod:`snakepit.pits.results`: outcomes, the handle, deadlines and errors.
- :mod:`snakepit.pits.data`: the pit's directories on the host and their ownership.
- :mod:`snakepit.pits.logs`: the workers' logs collected into ``pit.log``.
- :mod:`snakepit.pits.teardown`: removing a pit's containers from a node by their names.
- :mod:`snakepit.pits.runner`: :func:`run_pit`, a nursery that starts the containers, supervises
  the workers, collects their logs into ``pit.log`` and their GPUs' utilisation, and tears
  everything down (unless the service is shutting down: then the pit runs on, to be attached
  to by the next start).
"""

from snakepit.pits.plan import (
    DAEMON_SPEC,
    HEAD_NODE,
    ContainerName,
    PitPlan,
    WorkerPlan,
    container_name,
    daemon_name,
    env_file,
    gpu_devices,
    gpu_environment,
    parse_container_name,
    worker_environment,
    worker_name,
)
from snakepit.pits.results import (
    PitError,
    PitHandle,
    PitOutcome,
    PitStartFailed,
    PitStartTimeout,
    PitTimeouts,
    WorkerOutcome,
)
from snakepit.pits.runner import Connector, run_pit
from snakepit.pits.teardown import remove_pit_containers

__all__ = [
    "DAEMON_SPEC",
    "HEAD_NODE",
    "Connector",
    "ContainerName",
    "PitError",
    "PitHandle",
    "PitOutcome",
    "PitPlan",
    "PitStartFailed",
    "PitStartTimeout",
    "PitTimeouts",
    "WorkerOutcome",
    "WorkerPlan",
    "container_name",
    "daemon_name",
    "env_file",
    "gpu_devices",
    "gpu_environment",
    "parse_container_name",
    "remove_pit_containers",
    "run_pit",
    "worker_environment",
    "worker_name",
]
