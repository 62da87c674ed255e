"""Placing a job's processes on the GPUs of a cluster snapshot (spec 4.2).

The published algorithm, kept: candidates are the resources on available (and online) nodes that
are free and that the user may use (a resource without restriction groups is open to everybody,
otherwise the user must share one of its groups; admins get no bypass). Nodes are tried in
ascending order of their candidate count (best fit: fill the fullest nodes first), ties by node
id. Each process of each group, in order, goes to the first node that has enough untaken
candidates for every requested name, matched on the model name or the alias id, lowest resource
ids first; a process never spans nodes and there is no backtracking: if one process finds no node,
the whole allocation fails. Processes without resources therefore land on the node with the fewest
free GPUs. A simulation ignores ``online`` and the busy resources: "could this user's hardware
satisfy the request at all".

Fixed: a resource is never given twice, not even to two entries of one process that name the same
GPU (by alias and by model name). Within a process the entries are served in order, greedily.
"""

import dataclasses
from collections.abc import Container, Iterable, Mapping, Sequence
from types import MappingProxyType

from snakepit.scheduling.grammar import ClusterRequest, ResourceRequest


@dataclasses.dataclass(frozen=True)
class Node:
    """A node of the cluster; only ``available`` nodes get work, only ``online`` ones right now."""

    id: str
    online: bool
    available: bool


@dataclasses.dataclass(frozen=True)
class Resource:
    """One GPU: ``index`` is its CUDA index on ``node``; ``groups`` restrict it (empty: open)."""

    id: int
    node: str
    type: str
    index: int
    name: str
    alias: str | None = None
    groups: frozenset[str] = frozenset()

    @property
    def keys(self) -> tuple[str, ...]:
        """The names a request may use for this resource: the model name and the alias id."""
        if self.alias is None or self.alias == self.name:
            return (self.name,)
        return (self.name, self.alias)

    def usable_by(self, user_groups: frozenset[str]) -> bool:
        """Whether a member of ``user_groups`` may use this resource."""
        return not self.groups or not self.groups.isdisjoint(user_groups)


class Cluster:
    """An immutable snapshot of nodes and resources, indexed once for allocation.

    Args:
        nodes: every node; resources of nodes not listed here are refused.
        resources: every resource.

    Raises:
        ValueError: duplicate node or resource ids, or a resource on an unknown node.
    """

    def __init__(self, nodes: Iterable[Node], resources: Iterable[Resource]) -> None:
        by_node: dict[str, Node] = {}
        for node in sorted(nodes, key=lambda node: node.id):
            if node.id in by_node:
                raise ValueError(f"duplicate node {node.id!r}")
            by_node[node.id] = node
        by_id: dict[int, Resource] = {}
        on_node: dict[str, list[Resource]] = {node: [] for node in by_node}
        matching: dict[str, dict[str, list[Resource]]] = {node: {} for node in by_node}
        for resource in sorted(resources, key=lambda resource: resource.id):
            if resource.id in by_id:
                raise ValueError(f"duplicate resource {resource.id}")
            if resource.node not in by_node:
                raise ValueError(f"resource {resource.id} is on unknown node {resource.node!r}")
            by_id[resource.id] = resource
            on_node[resource.node].append(resource)
            for key in resource.keys:
                matching[resource.node].setdefault(key, []).append(resource)
        self.nodes: Mapping[str, Node] = MappingProxyType(by_node)
        self.resources: Mapping[int, Resource] = MappingProxyType(by_id)
        self._on_node = {node: tuple(found) for node, found in on_node.items()}
        self._matching = {
            node: {key: tuple(found) for key, found in keys.items()}
            for node, keys in matching.items()
        }
        usable = [node for node in by_node.values() if node.available]
        self._eligible = (
            tuple(node.id for node in usable if node.online),
            tuple(node.id for node in usable),
        )

    def eligible(self, *, simulate: bool = False) -> tuple[str, ...]:
        """Ids of the nodes that may get work, in id order (available; online unless simulating)."""
        return self._eligible[simulate]

    def on_node(self, node: str) -> tuple[Resource, ...]:
        """The resources of ``node``, by ascending id."""
        return self._on_node[node]

    def matching(self, node: str, name: str) -> tuple[Resource, ...]:
        """The resources of ``node`` whose model name or alias is ``name``, by ascending id."""
        return self._matching[node].get(name, ())


@dataclasses.dataclass(frozen=True)
class ProcessAllocation:
    """Where process ``index`` of group ``group`` runs, and its resources by ascending id."""

    group: int
    index: int
    node: str
    resources: tuple[Resource, ...]

    @property
    def resource_ids(self) -> tuple[int, ...]:
        """The ids of ``resources``, ascending."""
        return tuple(resource.id for resource in self.resources)


@dataclasses.dataclass(frozen=True)
class Allocation:
    """The placement of every process of a job: ``groups[g][p]`` is process ``p`` of group ``g``."""

    groups: tuple[tuple[ProcessAllocation, ...], ...]

    @property
    def workers(self) -> tuple[ProcessAllocation, ...]:
        """The processes in worker order: groups by index, then processes by index."""
        return tuple(process for group in self.groups for process in group)

    @property
    def resource_ids(self) -> frozenset[int]:
        """Every resource taken."""
        return frozenset(resource.id for process in self.workers for resource in process.resources)

    def summary(self) -> str:
        """The human summary stored with the job, e.g. ``mlc1[cuda 0-1] + mlc3[cuda 4,6]``.

        Nodes in order of first use; per node its resource types in order of first use, each with
        its sorted CUDA indices compressed to ranges; a node with only GPU-less processes gives
        ``<node>[]``.
        """
        per_node: dict[str, dict[str, list[int]]] = {}
        for process in self.workers:
            types = per_node.setdefault(process.node, {})
            for resource in process.resources:
                types.setdefault(resource.type, []).append(resource.index)
        return " + ".join(
            node + "[" + " + ".join(f"{kind} {_ranges(ix)}" for kind, ix in types.items()) + "]"
            for node, types in per_node.items()
        )


def allocate(
    request: ClusterRequest,
    cluster: Cluster,
    *,
    user_groups: frozenset[str],
    busy: frozenset[int],
    simulate: bool = False,
) -> Allocation | None:
    """Place every process of ``request``, or none.

    Args:
        request: the parsed cluster request.
        cluster: the snapshot to place it on.
        user_groups: the groups of the job's owner (restricted resources need one of theirs).
        busy: ids of the resources with an active allocation.
        simulate: ignore ``online`` and ``busy``: could the request ever be met for this user?

    Returns:
        The allocation, or ``None`` when some process finds no node.
    """
    if simulate:
        busy = frozenset()
    order = node_order(cluster, cluster.eligible(simulate=simulate), busy, user_groups)
    return place(request, cluster, order, busy=busy, user_groups=user_groups)


def node_order(
    cluster: Cluster, nodes: Sequence[str], busy: Container[int], user_groups: frozenset[str]
) -> list[str]:
    """``nodes`` (given in id order) by ascending count of free resources usable by the user.

    O(resources on ``nodes`` + n log n).
    """
    counts = {
        node: sum(
            1
            for resource in cluster.on_node(node)
            if resource.id not in busy and resource.usable_by(user_groups)
        )
        for node in nodes
    }
    return sorted(nodes, key=counts.__getitem__)


def place(
    request: ClusterRequest,
    cluster: Cluster,
    order: Sequence[str],
    *,
    busy: Container[int],
    user_groups: frozenset[str],
) -> Allocation | None:
    """Place the processes of ``request`` greedily on the nodes of ``order`` (see the module doc).

    Resources taken by ``busy`` or by earlier processes of this request are skipped. Because a
    node only loses resources while a request is placed, a node that could not take a process of
    a group cannot take a later one of the same group either: each group resumes the node scan
    where its previous process was placed. Cost per group: O(nodes + processes) fit checks, each
    O(requested resources + resources of those names on the node).

    Returns:
        The allocation, or ``None`` when a process finds no node.
    """
    taken: set[int] = set()
    groups = []
    for group_index, group in enumerate(request.groups):
        wanted = [resource for resource in group.resources if resource.count > 0]
        if not wanted and order:
            # Every node fits a process without resources, so the first one takes them all.
            groups.append(
                tuple(ProcessAllocation(group_index, i, order[0], ()) for i in range(group.count))
            )
            continue
        processes = []
        start = 0
        for process_index in range(group.count):
            for position in range(start, len(order)):
                node = order[position]
                picked = _fit(cluster, node, wanted, busy, taken, user_groups)
                if picked is not None:
                    break
            else:
                return None
            start = position
            taken.update(resource.id for resource in picked)
            picked.sort(key=lambda resource: resource.id)
            processes.append(ProcessAllocation(group_index, process_index, node, tuple(picked)))
        groups.append(tuple(processes))
    return Allocation(tuple(groups))


def _fit(
    cluster: Cluster,
    node: str,
    wanted: Sequence[ResourceRequest],
    busy: Container[int],
    taken: set[int],
    user_groups: frozenset[str],
) -> list[Resource] | None:
    """The lowest-id untaken usable resources of ``node`` for every entry, or ``None``."""
    picked: list[Resource] = []
    mine: set[int] = set()
    for entry in wanted:
        needed = entry.count
        for resource in cluster.matching(node, entry.name):
            if resource.id in busy or resource.id in taken or resource.id in mine:
                continue
            if resource.groups and resource.groups.isdisjoint(user_groups):
                continue
            picked.append(resource)
            mine.add(resource.id)
            needed -= 1
            if needed == 0:
                break
        if needed:
            return None
    return picked


def _ranges(indices: Iterable[int]) -> str:
    """``0,1,2,4,6`` as ``0-2,4,6``."""
    values = sorted(set(indices))
    parts = []
    first = 0
    for position, value in enumerate(values):
        if position + 1 == len(values) or values[position + 1] != value + 1:
            start = values[first]
            parts.append(str(start) if start == value else f"{start}-{value}")
            first = position + 1
    return ",".join(parts)
