"""What a pit is made of, the environment its workers see, and its container names. Pure.

Container names are ``sp-<node>-<pit>-<spec>`` (section 1.5 of the service spec): ``spec`` is
``d`` for the daemon, which always runs on the node ``head``, or the flat worker index. Names
that do not match the pattern exactly (node ``[a-z][a-z0-9]*``, pit digits, spec ``d`` or an
integer without leading zeros) are not Snakepit's.

The workers' environment is the table of section 1.7, computed for the whole job first and then
per worker, so that every worker sees the ``HOST_GROUP<g>_PROCESS<p>`` entry of every worker
(the published service snapshotted it while still filling it in).
"""

import dataclasses
import re
from collections.abc import Mapping

#: Node id of the head node, where every pit's daemon runs.
HEAD_NODE = "head"
#: The container-name spec of a pit's daemon.
DAEMON_SPEC = "d"
#: Environment variable names ``/env.sh`` may set.
VARIABLE_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")

_CONTAINER_NAME = re.compile(r"sp-([a-z][a-z0-9]*)-([0-9]+)-(d|0|[1-9][0-9]*)")
_NODE_ID = re.compile(r"[a-z][a-z0-9]*")


@dataclasses.dataclass(frozen=True)
class WorkerPlan:
    """One worker: its flat index, its place in the cluster request, its node and GPUs."""

    index: int
    group_index: int
    process_index: int
    node_id: str
    endpoint: str
    server_cert_pem: str
    gpu_indices: tuple[int, ...] = ()
    #: The resource ids of ``gpu_indices``, in the same order (for utilisation samples).
    gpu_resource_ids: tuple[int, ...] = ()
    #: ``lxd``: one LXD ``gpu`` device per GPU; ``environment``: only the variables.
    gpu_binding: str = "lxd"


@dataclasses.dataclass(frozen=True)
class PitPlan:
    """Everything needed to start a job's pit."""

    job_id: int
    owner: str
    owner_groups: tuple[str, ...]
    workers: tuple[WorkerPlan, ...]
    head_endpoint: str
    head_server_cert_pem: str
    lxd_domain: str = "lxd"
    head_node: str = HEAD_NODE
    worker_profiles: tuple[str, ...] = ("default",)
    worker_env: Mapping[str, str] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class ContainerName:
    """A parsed container name; ``worker`` is None for the daemon."""

    node_id: str
    pit_id: int
    worker: int | None


def container_name(node_id: str, pit_id: int, spec: str | int) -> str:
    """``sp-<node>-<pit>-<spec>``.

    Raises:
        ValueError: the node id or the spec is not valid in a container name.
    """
    if not _NODE_ID.fullmatch(node_id):
        raise ValueError(f"node id {node_id!r} is not [a-z][a-z0-9]*")
    if pit_id < 0:
        raise ValueError(f"pit id {pit_id} is negative")
    if isinstance(spec, int) and spec < 0:
        raise ValueError(f"worker index {spec} is negative")
    if isinstance(spec, str) and spec != DAEMON_SPEC:
        raise ValueError(f"container spec {spec!r} is neither {DAEMON_SPEC!r} nor an index")
    return f"sp-{node_id}-{pit_id}-{spec}"


def daemon_name(pit_id: int, head_node: str = HEAD_NODE) -> str:
    """The daemon container of a pit: ``sp-head-<pit>-d`` (the head's id is configurable)."""
    return container_name(head_node, pit_id, DAEMON_SPEC)


def worker_name(pit_id: int, worker: WorkerPlan) -> str:
    """A worker container: ``sp-<node>-<pit>-<index>``."""
    return container_name(worker.node_id, pit_id, worker.index)


def parse_container_name(name: str) -> ContainerName | None:
    """The parts of a Snakepit container name, or None for any other name."""
    match = _CONTAINER_NAME.fullmatch(name)
    if match is None:
        return None
    node_id, pit, spec = match.groups()
    return ContainerName(node_id, int(pit), None if spec == DAEMON_SPEC else int(spec))


def _job_environment(plan: PitPlan) -> dict[str, str]:
    """The variables every worker of the job shares, before ``workerEnv`` and counts."""
    variables = {
        "JOB_NUMBER": str(plan.job_id),
        "DATA_ROOT": "/data",
        "JOB_DIR": "/data/rw/pit",
        "SRC_DIR": "/data/rw/pit/src",
        "WORK_DIR": "/data/rw/pit/src",
        "SHARED_DIR": "/data/ro/shared",
        "USER_DIR": "/data/rw/home",
    }
    for group in plan.owner_groups:
        variables[f"{group.upper()}_GROUP_DIR"] = f"/data/rw/group-{group}"
    return variables


def _topology(plan: PitPlan) -> dict[str, str]:
    """``NUM_GROUPS``, ``NUM_PROCESSES_GROUP<g>`` and every ``HOST_GROUP<g>_PROCESS<p>``."""
    counts: dict[int, int] = {}
    hosts: dict[str, str] = {}
    for worker in plan.workers:
        counts[worker.group_index] = counts.get(worker.group_index, 0) + 1
        name = worker_name(plan.job_id, worker)
        key = f"HOST_GROUP{worker.group_index}_PROCESS{worker.process_index}"
        hosts[key] = f"{name}.{plan.lxd_domain}"
    variables = {"NUM_GROUPS": str(len(counts))}
    for group, count in sorted(counts.items()):
        variables[f"NUM_PROCESSES_GROUP{group}"] = str(count)
    variables.update(hosts)
    return variables


def worker_environment(plan: PitPlan, worker: WorkerPlan) -> dict[str, str]:
    """The variables of ``/env.sh`` for one worker (section 1.7).

    Config ``workerEnv`` overrides the base variables (even ``DAEMON`` and the indices) and is
    itself overridden by ``NUM_*`` and ``HOST_*``, as published. ``RESULT_FILE`` and
    ``DEBIAN_FRONTEND`` are set by the worker image.
    """
    variables = {
        "DAEMON": f"{daemon_name(plan.job_id, plan.head_node)}.{plan.lxd_domain}",
        "WORKER_INDEX": str(worker.index),
        "GROUP_INDEX": str(worker.group_index),
        "PROCESS_INDEX": str(worker.process_index),
        **_job_environment(plan),
    }
    variables.update(plan.worker_env)
    variables.update(_topology(plan))
    variables.update(gpu_environment(worker))
    return variables


def gpu_environment(worker: WorkerPlan) -> dict[str, str]:
    """What tells CUDA which GPUs are the worker's, when no device does.

    With ``lxd`` binding the container has exactly its GPUs as devices (CUDA numbers them from
    0) and needs nothing. With ``environment`` binding the node's profiles pass GPUs to every
    container, and these variables pick the worker's by their index on the node.
    """
    if worker.gpu_binding != "environment":
        return {}
    indices = ",".join(str(index) for index in worker.gpu_indices)
    return {"CUDA_VISIBLE_DEVICES": indices, "NVIDIA_VISIBLE_DEVICES": indices or "none"}


def gpu_devices(worker: WorkerPlan) -> dict[str, dict[str, str]]:
    """The LXD devices that give a worker its GPUs (none with ``environment`` binding)."""
    if worker.gpu_binding == "environment":
        return {}
    return {
        f"gpu{number}": {"type": "gpu", "gputype": "physical", "id": str(index)}
        for number, index in enumerate(worker.gpu_indices)
    }


def _ansi_c_quote(value: str) -> str:
    escaped = (
        value.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r")
    )
    return f"$'{escaped}'"


def env_file(variables: Mapping[str, str]) -> str:
    """``export NAME=$'<value>'`` lines, values in bash's ANSI-C quoting.

    Raises:
        ValueError: a name is not ``[A-Z_][A-Z0-9_]*``, or a value holds a NUL character
            (bash cannot hold one in a variable).
    """
    lines = []
    for name, value in variables.items():
        if not VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"invalid environment variable name {name!r}")
        if "\0" in value:
            raise ValueError(f"the value of {name} holds a NUL character")
        lines.append(f"export {name}={_ansi_c_quote(value)}\n")
    return "".join(lines)
