"""Allocation on a cluster snapshot (spec 4.2): best fit, all or nothing, access and the summary."""

import random
from collections.abc import Iterable

import pytest

from snakepit.scheduling import (
    Allocation,
    Cluster,
    ClusterRequest,
    Node,
    ProcessGroupRequest,
    Resource,
    ResourceRequest,
    allocate,
    parse_request,
)

GTX = "GeForce GTX 1070"


def gpus(
    node: str,
    count: int,
    *,
    first_id: int,
    name: str = GTX,
    alias: str | None = "gtx",
    groups: Iterable[str] = (),
    kind: str = "cuda",
    first_index: int = 0,
) -> list[Resource]:
    return [
        Resource(first_id + i, node, kind, first_index + i, name, alias, frozenset(groups))
        for i in range(count)
    ]


def cluster_of(*per_node: tuple[str, int], offline: Iterable[str] = ()) -> Cluster:
    """Nodes with ``count`` gtx each; resource ids are ``node number * 100 + index``."""
    nodes = [Node(name, name not in offline, True) for name, _ in per_node]
    resources = [
        resource
        for number, (name, count) in enumerate(per_node)
        for resource in gpus(name, count, first_id=number * 100)
    ]
    return Cluster(nodes, resources)


def run(
    text: str,
    cluster: Cluster,
    *,
    groups: Iterable[str] = (),
    busy: Iterable[int] = (),
    simulate: bool = False,
) -> Allocation | None:
    return allocate(
        parse_request(text),
        cluster,
        user_groups=frozenset(groups),
        busy=frozenset(busy),
        simulate=simulate,
    )


def placed(allocation: Allocation | None) -> list[tuple[str, tuple[int, ...]]]:
    assert allocation is not None
    return [(process.node, process.resource_ids) for process in allocation.workers]


def test_best_fit_fills_the_node_with_the_fewest_free_gpus_first():
    cluster = cluster_of(("a", 4), ("b", 2), ("c", 3))
    assert placed(run("[2:gtx]", cluster)) == [("b", (100, 101))]
    assert placed(run("[3:gtx]", cluster)) == [("c", (200, 201, 202))]
    assert placed(run("[4:gtx]", cluster)) == [("a", (0, 1, 2, 3))]
    assert placed(run("[gtx]", cluster, busy=[0, 1, 2])) == [("a", (3,))]


def test_ties_go_to_the_lowest_node_id():
    cluster = cluster_of(("n2", 2), ("n1", 2), ("n10", 2))
    assert placed(run("[gtx]", cluster)) == [("n1", (100,))]


def test_the_node_order_is_fixed_for_the_whole_request():
    # b is fuller, so it is tried first for every process, even once a has lost GPUs to the job.
    cluster = cluster_of(("a", 3), ("b", 2))
    assert placed(run("3:[gtx]", cluster)) == [("b", (100,)), ("b", (101,)), ("a", (0,))]


def test_later_processes_see_what_earlier_ones_of_the_job_took():
    cluster = cluster_of(("a", 4), ("b", 3))
    assert placed(run("2:[2:gtx]", cluster)) == [("b", (100, 101)), ("a", (0, 1))]
    assert placed(run("[3:gtx],[2:gtx],[2:gtx]", cluster)) == [
        ("b", (100, 101, 102)),
        ("a", (0, 1)),
        ("a", (2, 3)),
    ]
    # Greedy, no backtracking: 7 free GPUs for 7 wanted, but the 3 come last.
    assert run("[2:gtx],[2:gtx],[3:gtx]", cluster) is None


def test_all_or_nothing():
    cluster = cluster_of(("a", 4), ("b", 2))
    assert run("2:[3:gtx]", cluster) is None
    assert run("[gtx],[5:gtx]", cluster) is None
    assert run("[],[gtx],[v100]", cluster) is None


def test_a_process_never_spans_nodes():
    cluster = cluster_of(("a", 2), ("b", 2))
    assert run("[3:gtx]", cluster) is None
    assert placed(run("2:[2:gtx]", cluster)) == [("a", (0, 1)), ("b", (100, 101))]


def test_processes_of_one_group_may_land_on_different_nodes():
    cluster = cluster_of(("a", 1), ("b", 1), ("c", 1))
    assert placed(run("3:[gtx]", cluster)) == [("a", (0,)), ("b", (100,)), ("c", (200,))]


def test_names_match_the_model_name_or_the_alias_exactly():
    cluster = Cluster(
        [Node("a", True, True)],
        [
            *gpus("a", 1, first_id=1, name=GTX, alias="gtx"),
            *gpus("a", 1, first_id=2, name="A100", alias=None),
            *gpus("a", 1, first_id=3, name="TeslaV100", alias="v100"),
        ],
    )
    assert placed(run("[gtx]", cluster)) == [("a", (1,))]
    assert placed(run("[A100]", cluster)) == [("a", (2,))]
    assert placed(run("[TeslaV100,gtx]", cluster)) == [("a", (1, 3))]
    assert run("[2:v100]", cluster) is None
    assert placed(run("[TeslaV100]", cluster)) == placed(run("[v100]", cluster)) == [("a", (3,))]
    for unknown in ["[a100]", "[GeForce]", "[Gtx]", "[GTX]"]:
        assert run(unknown, cluster) is None


def test_a_resource_is_never_given_twice_within_one_process():
    cluster = Cluster(
        [Node("a", True, True)], gpus("a", 1, first_id=1, name="TeslaV100", alias="v100")
    )
    assert run("[1:v100,1:v100]", cluster) is None
    assert run("[v100,TeslaV100]", cluster) is None
    cluster = Cluster(
        [Node("a", True, True)], gpus("a", 2, first_id=1, name="TeslaV100", alias="v100")
    )
    assert placed(run("[1:v100,1:v100]", cluster)) == [("a", (1, 2))]
    assert placed(run("[v100,TeslaV100]", cluster)) == [("a", (1, 2))]
    # Even a request built by hand, with the duplicate entries the parser would have merged.
    twice = ProcessGroupRequest(1, (ResourceRequest(1, "v100"), ResourceRequest(1, "v100")))
    allocation = allocate(
        ClusterRequest((twice,)), cluster, user_groups=frozenset(), busy=frozenset({2})
    )
    assert allocation is None


def test_restricted_resources_need_a_shared_group_and_admins_get_no_bypass():
    cluster = Cluster(
        [Node("a", True, True), Node("b", True, True)],
        [
            *gpus("a", 4, first_id=0, groups={"lab", "ops"}),
            *gpus("b", 2, first_id=10),
        ],
    )
    # There is no admin flag to pass: an admin outside "lab" and "ops" is just a user here.
    assert placed(run("[2:gtx]", cluster, groups={"lab"})) == [("b", (10, 11))]
    assert placed(run("[3:gtx]", cluster, groups={"ops"})) == [("a", (0, 1, 2))]
    assert placed(run("[3:gtx]", cluster, groups={"other", "lab"})) == [("a", (0, 1, 2))]
    for groups in [(), ("other",), ("admin",)]:
        assert run("[3:gtx]", cluster, groups=groups) is None
        assert run("[3:gtx]", cluster, groups=groups, simulate=True) is None
        assert placed(run("[2:gtx]", cluster, groups=groups)) == [("b", (10, 11))]


def test_the_node_order_counts_only_what_the_user_may_use():
    cluster = Cluster(
        [Node("a", True, True), Node("b", True, True)],
        [
            *gpus("a", 3, first_id=0, groups={"lab"}),
            *gpus("a", 1, first_id=3),
            *gpus("b", 2, first_id=10),
        ],
    )
    # For an outsider a has 1 usable GPU, b has 2: a is the fuller node.
    assert placed(run("[gtx]", cluster)) == [("a", (3,))]
    # For a member a has 4: b is the fuller node.
    assert placed(run("[gtx]", cluster, groups={"lab"})) == [("b", (10,))]


def test_busy_resources_are_skipped_and_the_lowest_free_ids_taken():
    cluster = cluster_of(("a", 8))
    assert placed(run("[3:gtx]", cluster, busy=[0, 2, 3])) == [("a", (1, 4, 5))]
    assert run("[6:gtx]", cluster, busy=[0, 2, 3]) is None
    assert placed(run("[6:gtx]", cluster, busy=[0, 2, 3], simulate=True)) == [
        ("a", (0, 1, 2, 3, 4, 5))
    ]


def test_offline_nodes_get_nothing_now_but_count_in_a_simulation():
    cluster = cluster_of(("a", 2), ("b", 4), offline=["b"])
    assert run("[4:gtx]", cluster) is None
    assert run("[]", cluster_of(("a", 2), offline=["a"])) is None
    assert placed(run("[4:gtx]", cluster, simulate=True)) == [("b", (100, 101, 102, 103))]
    assert placed(run("[gtx]", cluster)) == [("a", (0,))]


def test_unavailable_nodes_are_never_used():
    cluster = Cluster(
        [Node("a", True, True), Node("b", True, False), Node("c", False, False)],
        [*gpus("a", 1, first_id=0), *gpus("b", 4, first_id=10), *gpus("c", 4, first_id=20)],
    )
    for simulate in (False, True):
        assert run("[2:gtx]", cluster, simulate=simulate) is None
        assert placed(run("3:[]", cluster, simulate=simulate)) == [("a", ())] * 3


def test_processes_without_resources_go_to_the_node_with_the_fewest_free_gpus():
    cluster = cluster_of(("a", 8), ("b", 8), ("c", 8))
    assert placed(run("2:[]", cluster, busy=range(100, 106))) == [("b", ()), ("b", ())]
    head = Cluster([Node("head", True, True), *cluster.nodes.values()], cluster.resources.values())
    assert placed(run("[]", head)) == [("head", ())]
    assert placed(run("[0:gtx]", cluster, busy=[200])) == [("c", ())]


def test_zero_counts_need_nothing():
    cluster = cluster_of(("a", 1))
    assert placed(run("0:[5:gtx]", cluster)) == []
    assert run("0:[5:gtx]", cluster).summary() == ""
    assert placed(run("[0:v100,gtx]", cluster)) == [("a", (0,))]


def test_workers_come_in_group_then_process_order():
    cluster = cluster_of(("a", 4), ("b", 2))
    allocation = run("2:[],2:[gtx],[2:gtx]", cluster)
    assert allocation is not None
    assert [(w.group, w.index) for w in allocation.workers] == [
        (0, 0),
        (0, 1),
        (1, 0),
        (1, 1),
        (2, 0),
    ]
    assert [len(group) for group in allocation.groups] == [2, 2, 1]
    assert allocation.resource_ids == {100, 101, 0, 1}


@pytest.mark.parametrize(
    ("text", "busy", "summary"),
    [
        ("[2:gtx],[2:gtx]", [200, 201, 202, 203, 204, 205], "mlc3[cuda 6-7] + mlc1[cuda 0-1]"),
        ("[2:gtx]", [200, 201, 202, 203, 205, 207], "mlc3[cuda 4,6]"),
        ("[3:gtx]", [200, 201, 203, 205, 207], "mlc3[cuda 2,4,6]"),
        ("2:[3:gtx]", [3, 4, 200, 201, 203, 205, 207], "mlc3[cuda 2,4,6] + mlc1[cuda 0-2]"),
        ("[8:gtx]", [], "mlc1[cuda 0-7]"),
        ("2:[],[gtx]", [200, 201, 202, 203, 204, 205, 206], "mlc3[cuda 7]"),
        ("[],[8:gtx]", [200], "mlc3[] + mlc1[cuda 0-7]"),
    ],
)
def test_summaries(text, busy, summary):
    cluster = cluster_of(("mlc1", 8), ("mlc2", 8), ("mlc3", 8))
    assert run(text, cluster, busy=busy).summary() == summary


def test_the_published_summary_example():
    cluster = Cluster(
        [Node("mlc1", True, True), Node("mlc3", True, True)],
        [
            *gpus("mlc1", 2, first_id=10, name="K80", alias="k"),
            *gpus("mlc3", 1, first_id=20, first_index=4),
            *gpus("mlc3", 1, first_id=21, first_index=6),
        ],
    )
    assert run("[2:k],[2:gtx]", cluster).summary() == "mlc1[cuda 0-1] + mlc3[cuda 4,6]"


def test_summaries_with_several_types_on_a_node():
    cluster = Cluster(
        [Node("n", True, True)],
        [
            *gpus("n", 3, first_id=0, alias="a"),
            *gpus("n", 2, first_id=3, name="Mi100", alias=None, kind="rocm", first_index=5),
        ],
    )
    assert run("[3:a,Mi100]", cluster).summary() == "n[cuda 0-2 + rocm 5]"
    assert run("[Mi100],[a]", cluster).summary() == "n[rocm 5 + cuda 0]"


def test_a_snapshot_refuses_inconsistent_input():
    node = Node("a", True, True)
    with pytest.raises(ValueError, match="duplicate node 'a'"):
        Cluster([node, node], [])
    with pytest.raises(ValueError, match="duplicate resource 1"):
        Cluster([node], [*gpus("a", 1, first_id=1), *gpus("a", 1, first_id=1)])
    with pytest.raises(ValueError, match="resource 1 is on unknown node 'b'"):
        Cluster([node], gpus("b", 1, first_id=1))


# Random clusters and requests, checked against the rules and a literal reading of spec 4.2.

NAMES = [("GeForce GTX 1070", "gtx"), ("A100", None), ("TeslaV100", "v100"), ("v100", None)]


def random_cluster(rng: random.Random) -> Cluster:
    nodes = [
        Node(f"n{i}", rng.random() < 0.8, rng.random() < 0.9) for i in range(rng.randint(0, 6))
    ]
    resources = []
    for node in nodes:
        for index in range(rng.randint(0, 8)):
            name, alias = rng.choice(NAMES)
            groups = frozenset(rng.sample(["lab", "ops"], rng.choice([0, 0, 0, 1, 2])))
            resources.append(
                Resource(len(resources) + 7, node.id, "cuda", index, name, alias, groups)
            )
    rng.shuffle(resources)
    return Cluster(nodes, resources)


def random_request(rng: random.Random) -> ClusterRequest:
    keys = ["gtx", "gtx", "A100", "TeslaV100", "v100", "v100", "GeForce", "nothing"]
    groups = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        entries = ",".join(
            f"{rng.choice([0, 1, 1, 1, 2, 3])}:{rng.choice(keys)}"
            for _ in range(rng.choice([0, 1, 1, 1, 2, 3]))
        )
        groups.append(f"{rng.choice([0, 1, 1, 1, 2, 3])}:[{entries}]")
    return parse_request(",".join(groups))


def reference(
    request: ClusterRequest,
    cluster: Cluster,
    user_groups: frozenset[str],
    busy: frozenset[int],
    simulate: bool,
) -> list[tuple[str, tuple[int, ...]]] | None:
    """Spec 4.2 read literally, without indexes or shortcuts."""
    nodes = [
        n
        for n in sorted(cluster.nodes)
        if cluster.nodes[n].available and (simulate or cluster.nodes[n].online)
    ]
    candidates = {
        n: [
            r
            for r in sorted(cluster.resources.values(), key=lambda r: r.id)
            if r.node == n
            and (simulate or r.id not in busy)
            and (not r.groups or r.groups & user_groups)
        ]
        for n in nodes
    }
    order = sorted(nodes, key=lambda n: (len(candidates[n]), n))
    taken: set[int] = set()
    result = []
    for group in request.groups:
        for _ in range(group.count):
            for n in order:
                picked: list[int] = []
                for entry in group.resources:
                    free = [
                        r.id
                        for r in candidates[n]
                        if entry.name in (r.name, r.alias)
                        and r.id not in taken
                        and r.id not in picked
                    ]
                    if len(free) < entry.count:
                        break
                    picked += free[: entry.count]
                else:
                    taken.update(picked)
                    result.append((n, tuple(sorted(picked))))
                    break
            else:
                return None
    return result


@pytest.mark.parametrize("seed", range(20))
def test_random_allocations_follow_the_rules(seed):
    rng = random.Random(seed)
    for _ in range(100):
        cluster = random_cluster(rng)
        request = random_request(rng)
        user_groups = frozenset(rng.sample(["lab", "ops", "other"], rng.randint(0, 2)))
        busy = frozenset(r for r in cluster.resources if rng.random() < 0.3)
        simulate = rng.random() < 0.3
        allocation = allocate(
            request, cluster, user_groups=user_groups, busy=busy, simulate=simulate
        )
        expected = reference(request, cluster, user_groups, busy, simulate)
        if allocation is None:
            assert expected is None
            continue
        assert placed(allocation) == expected
        taken = [r.id for w in allocation.workers for r in w.resources]
        assert len(taken) == len(set(taken)), "a resource was given twice"
        assert len(allocation.workers) == request.process_count
        for worker in allocation.workers:
            node = cluster.nodes[worker.node]
            assert node.available
            assert simulate or node.online
            wanted = request.groups[worker.group].resources
            assert len(worker.resources) == sum(entry.count for entry in wanted)
            for resource in worker.resources:
                assert resource.node == worker.node, "a process spans nodes"
                assert simulate or resource.id not in busy
                assert resource.usable_by(user_groups)
                assert any(entry.name in resource.keys for entry in wanted if entry.count)
            for entry in wanted:
                assert sum(entry.name in r.keys for r in worker.resources) >= entry.count
