"""Pure scheduling: the cluster request grammar, allocation on a cluster snapshot, queue passes.

Nothing here does I/O: the scheduler service reads a snapshot from the store, asks these
functions what to start, and writes the answer back.
"""

from snakepit.scheduling.allocation import (
    Allocation,
    Cluster,
    Node,
    ProcessAllocation,
    Resource,
    allocate,
)
from snakepit.scheduling.grammar import (
    MAX_PER_NAME,
    MAX_PROCESSES,
    MAX_REQUEST_LENGTH,
    ClusterRequest,
    ProcessGroupRequest,
    RequestError,
    RequestLimitError,
    RequestSyntaxError,
    ResourceRequest,
    parse_request,
)
from snakepit.scheduling.queue import WaitingJob, plan_pass, unsatisfiable

__all__ = [
    "MAX_PER_NAME",
    "MAX_PROCESSES",
    "MAX_REQUEST_LENGTH",
    "Allocation",
    "Cluster",
    "ClusterRequest",
    "Node",
    "ProcessAllocation",
    "ProcessGroupRequest",
    "RequestError",
    "RequestLimitError",
    "RequestSyntaxError",
    "Resource",
    "ResourceRequest",
    "WaitingJob",
    "allocate",
    "parse_request",
    "plan_pass",
    "unsatisfiable",
]
