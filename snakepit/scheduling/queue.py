"""Which waiting jobs to start now (spec 4.3), and which can never run (spec 4.4).

The published queue order, kept: waiting jobs are tried by rank; a job that asks for a name an
earlier waiting job of this pass asked for and did not get is skipped, so each resource name is
strictly FIFO (a big job is never overtaken by later jobs wanting the same name; no backfilling,
no starvation), while jobs wanting other names, or no resources at all (``[]``), may overtake.
Alias ids and model names are different names here, as published. A job's names are the ones
it needs at least one of: ``[0:v100]`` needs nothing and queues like ``[]``.

One difference: the published tick started at most one job per ``pollInterval``. ``plan_pass``
starts every job that fits, which is what repeating the published tick until it starts nothing
would start: a started job is no longer waiting, so its names block nobody; the names of jobs that
stay waiting are blocked.

Cost of a pass over J waiting jobs on a cluster of R resources and N nodes: one set-disjointness
test per job (O(names of the job)); real allocation attempts happen only for jobs whose names are
not blocked, and every failed attempt blocks at least one new name, so there are at most
(distinct names) failed attempts plus the successful ones. An attempt first compares the job's
total demand per name with the free count per name (O(names)); only then does it place processes,
O(R + N log N) for the node order (cached per set of user groups until a start changes the free
resources) plus O(N + processes) fit checks per group. Once every name that still has a free
resource is blocked, jobs needing resources are skipped by a flag test. Memory: O(R + started).
"""

import dataclasses
from collections.abc import Iterable, Sequence

from snakepit.scheduling.allocation import Allocation, Cluster, node_order, place
from snakepit.scheduling.grammar import ClusterRequest


@dataclasses.dataclass(frozen=True)
class WaitingJob:
    """A job in the queue: its number, its parsed request and its owner's groups."""

    id: int
    request: ClusterRequest
    user_groups: frozenset[str] = frozenset()


def plan_pass(
    waiting: Sequence[WaitingJob], cluster: Cluster, busy: frozenset[int]
) -> list[tuple[int, Allocation]]:
    """One scheduling pass: the jobs to start now and their allocations.

    Args:
        waiting: the waiting jobs in rank order.
        cluster: the snapshot to place them on.
        busy: ids of the resources with an active allocation.

    Returns:
        ``(job id, allocation)`` in rank order; no resource appears in two allocations, nor in
        ``busy``.
    """
    free = _FreeResources(cluster, busy)
    blocked: set[str] = set()
    exhausted = free.exhausted(blocked)
    started = []
    for job in waiting:
        names = job.request.names
        if names and (exhausted or not names.isdisjoint(blocked)):
            continue
        allocation = free.allocate(job)
        if allocation is None:
            blocked.update(names)
        else:
            started.append((job.id, allocation))
        if names:
            exhausted = free.exhausted(blocked)
    return started


def unsatisfiable(jobs: Iterable[WaitingJob], cluster: Cluster) -> list[int]:
    """The jobs that the hardware their owners may use could never satisfy.

    This is the ``restricted`` re-check after a membership, group or restriction change: the
    allocation is simulated, ignoring online state and current allocations, as at submission.
    Equal (request, user groups) pairs are judged once.

    Args:
        jobs: the PREPARING and WAITING jobs.
        cluster: the snapshot after the change.

    Returns:
        The ids of those jobs, in the order given.
    """
    nodes = cluster.eligible(simulate=True)
    orders: dict[frozenset[str], list[str]] = {}
    verdicts: dict[tuple[ClusterRequest, frozenset[str]], bool] = {}
    found = []
    for job in jobs:
        key = (job.request, job.user_groups)
        fits = verdicts.get(key)
        if fits is None:
            order = orders.get(job.user_groups)
            if order is None:
                order = orders[job.user_groups] = node_order(
                    cluster, nodes, frozenset(), job.user_groups
                )
            allocation = place(job.request, cluster, order, busy=(), user_groups=job.user_groups)
            fits = verdicts[key] = allocation is not None
        if not fits:
            found.append(job.id)
    return found


class _FreeResources:
    """The resources still free during one pass, with free counts per name and node orders."""

    def __init__(self, cluster: Cluster, busy: frozenset[int]) -> None:
        self.cluster = cluster
        self.nodes = cluster.eligible()
        self.busy = set(busy)
        self.per_name: dict[str, int] = {}
        for node in self.nodes:
            for resource in cluster.on_node(node):
                if resource.id not in busy:
                    for key in resource.keys:
                        self.per_name[key] = self.per_name.get(key, 0) + 1
        self.orders: dict[frozenset[str], list[str]] = {}

    def exhausted(self, blocked: set[str]) -> bool:
        """Whether every name with a free resource is blocked (jobs needing GPUs cannot start)."""
        return self.per_name.keys() <= blocked

    def allocate(self, job: WaitingJob) -> Allocation | None:
        """Place ``job`` on the free resources and take what it got."""
        per_name = self.per_name
        for name, needed in job.request.demand.items():
            if per_name.get(name, 0) < needed:
                return None
        order = self.orders.get(job.user_groups)
        if order is None:
            order = self.orders[job.user_groups] = node_order(
                self.cluster, self.nodes, self.busy, job.user_groups
            )
        allocation = place(
            job.request, self.cluster, order, busy=self.busy, user_groups=job.user_groups
        )
        if allocation is not None:
            self._take(allocation)
        return allocation

    def _take(self, allocation: Allocation) -> None:
        taken = [resource for process in allocation.workers for resource in process.resources]
        if not taken:
            return  # jobs without resources leave the node orders as they are
        for resource in taken:
            self.busy.add(resource.id)
            for key in resource.keys:
                left = self.per_name[key] - 1
                if left:
                    self.per_name[key] = left
                else:
                    del self.per_name[key]
        self.orders.clear()
