"""Scheduling passes over the queue (spec 4.3) and the re-check after restrictions (spec 4.4)."""

import random
from collections.abc import Iterable, Sequence

import pytest

from snakepit.scheduling import (
    Allocation,
    Cluster,
    Node,
    Resource,
    WaitingJob,
    allocate,
    parse_request,
    plan_pass,
    unsatisfiable,
)


def node_gpus(
    node: str, first_id: int, *models: tuple[int, str, str | None, set[str]]
) -> list[Resource]:
    """``count`` GPUs of each ``(count, model name, alias, groups)``, ids from ``first_id``."""
    resources: list[Resource] = []
    for count, name, alias, groups in models:
        for _ in range(count):
            index = len(resources)
            resources.append(
                Resource(first_id + index, node, "cuda", index, name, alias, frozenset(groups))
            )
    return resources


def simple_cluster() -> Cluster:
    """Node a: 4 gtx (ids 0-3); node b: 2 TeslaV100 alias v100 (ids 10-11)."""
    return Cluster(
        [Node("a", True, True), Node("b", True, True)],
        [
            *node_gpus("a", 0, (4, "GeForce GTX 1070", "gtx", set())),
            *node_gpus("b", 10, (2, "TeslaV100", "v100", set())),
        ],
    )


def jobs(*requests: str, groups: Iterable[str] = ()) -> list[WaitingJob]:
    return [
        WaitingJob(number, parse_request(text), frozenset(groups))
        for number, text in enumerate(requests, start=1)
    ]


def started(
    waiting: Sequence[WaitingJob], cluster: Cluster, busy: Iterable[int] = ()
) -> dict[int, str]:
    return {
        job: allocation.summary()
        for job, allocation in plan_pass(waiting, cluster, frozenset(busy))
    }


def test_a_big_job_is_not_overtaken_by_a_later_job_wanting_the_same_name():
    waiting = jobs("[4:gtx]", "[gtx]", "2:[gtx]")
    assert started(waiting, simple_cluster(), busy=[0]) == {}


def test_later_jobs_with_other_names_or_no_resources_overtake():
    waiting = jobs("[4:gtx]", "[gtx]", "[v100]", "[]", "2:[]")
    # After job 3 took one V100, b has the fewest free GPUs: jobs without resources go there.
    assert started(waiting, simple_cluster(), busy=[0]) == {3: "b[cuda 0]", 4: "b[]", 5: "b[]"}


def test_alias_and_model_name_are_different_names_in_the_queue():
    waiting = jobs("[3:v100]", "[v100]", "[TeslaV100]")
    assert started(waiting, simple_cluster()) == {3: "b[cuda 0]"}


def test_a_job_with_several_names_blocks_all_of_them():
    waiting = jobs("[gtx,3:v100]", "[gtx]", "[v100]", "[gtx,v100]", "[]")
    assert started(waiting, simple_cluster()) == {5: "b[]"}


def test_several_jobs_start_in_one_pass():
    waiting = jobs("[2:gtx]", "[v100]", "[gtx]", "[]", "[v100]", "[gtx]")
    assert started(waiting, simple_cluster()) == {
        1: "a[cuda 0-1]",
        2: "b[cuda 0]",
        3: "a[cuda 2]",
        4: "a[]",
        5: "b[cuda 1]",
        6: "a[cuda 3]",
    }


def test_resources_taken_in_the_pass_are_not_given_twice():
    waiting = jobs("[2:gtx]", "[2:gtx]", "[2:gtx]", "[gtx]", "[2:v100]", "[v100]")
    plan = plan_pass(waiting, simple_cluster(), frozenset({11}))
    assert [job for job, _ in plan] == [1, 2]
    given = [resource for _, allocation in plan for resource in allocation.resource_ids]
    assert sorted(given) == [0, 1, 2, 3]


def test_busy_resources_and_offline_nodes_are_not_used():
    cluster = Cluster(
        [Node("a", True, True), Node("b", False, True)],
        [
            *node_gpus("a", 0, (4, "GeForce GTX 1070", "gtx", set())),
            *node_gpus("b", 10, (2, "TeslaV100", "v100", set())),
        ],
    )
    waiting = jobs("[v100]", "[3:gtx]", "[]")
    assert started(waiting, cluster, busy=[0, 1]) == {3: "a[]"}
    assert started(waiting, cluster, busy=[0]) == {2: "a[cuda 1-3]", 3: "a[]"}


def test_once_nothing_is_free_only_jobs_without_resources_start():
    waiting = jobs("[4:gtx]", "[2:v100]", "[gtx]", "[v100]", "[]", "[A100]", "3:[]")
    assert started(waiting, simple_cluster()) == {
        1: "a[cuda 0-3]",
        2: "b[cuda 0-1]",
        5: "a[]",
        7: "a[]",
    }


def test_the_fifo_holds_across_users():
    # Job 1 waits for open gtx; job 2 could use the free restricted ones, but the name is blocked.
    cluster = Cluster(
        [Node("a", True, True)],
        node_gpus(
            "a", 0, (2, "GeForce GTX 1070", "gtx", set()), (2, "GeForce GTX 1070", "gtx", {"lab"})
        ),
    )
    waiting = [*jobs("[gtx]"), WaitingJob(2, parse_request("[gtx]"), frozenset({"lab"}))]
    assert started(waiting, cluster, busy=[0, 1]) == {}
    assert started(waiting[1:], cluster, busy=[0, 1]) == {2: "a[cuda 2]"}


def test_an_empty_queue_or_cluster_starts_nothing():
    assert plan_pass([], simple_cluster(), frozenset()) == []
    assert plan_pass(jobs("[]", "[gtx]"), Cluster([], []), frozenset()) == []


def test_jobs_that_can_never_run_are_found_after_a_restriction():
    resources = [
        *node_gpus("a", 0, (4, "GeForce GTX 1070", "gtx", set())),
        *node_gpus("b", 10, (2, "TeslaV100", "v100", set())),
    ]
    nodes = [Node("a", True, True), Node("b", False, True)]
    waiting = [
        WaitingJob(1, parse_request("[2:v100]"), frozenset()),
        WaitingJob(2, parse_request("[2:v100]"), frozenset({"lab"})),
        WaitingJob(3, parse_request("2:[2:gtx]"), frozenset()),
        WaitingJob(4, parse_request("[]"), frozenset()),
        WaitingJob(5, parse_request("[5:gtx]"), frozenset({"lab"})),
    ]
    # Before: all but job 5 could run some day (node b is offline, which does not matter).
    assert unsatisfiable(waiting, Cluster(nodes, resources)) == [5]
    # The admin restricts the V100s to "lab".
    restricted = [
        Resource(r.id, r.node, r.type, r.index, r.name, r.alias, frozenset({"lab"}))
        if r.node == "b"
        else r
        for r in resources
    ]
    assert unsatisfiable(waiting, Cluster(nodes, restricted)) == [1, 5]
    # Node b is no longer available at all.
    gone = [Node("a", True, True), Node("b", True, False)]
    assert unsatisfiable(waiting, Cluster(gone, restricted)) == [1, 2, 5]


def test_repeated_jobs_are_judged_once_each():
    waiting = [
        WaitingJob(n, parse_request("[3:v100]" if n % 2 else "[v100]"), frozenset())
        for n in range(100)
    ]
    assert unsatisfiable(waiting, simple_cluster()) == list(range(1, 100, 2))


# A pass must start what repeating the published one-job tick until it starts nothing would.


def published_tick(
    waiting: list[WaitingJob], cluster: Cluster, busy: set[int]
) -> tuple[int, Allocation] | None:
    """Spec 4.3 read literally: at most one job per tick."""
    blocked: set[str] = set()
    for job in waiting:
        names = set(job.request.names)
        if names & blocked:
            continue
        blocked |= names
        allocation = allocate(
            job.request, cluster, user_groups=job.user_groups, busy=frozenset(busy)
        )
        if allocation is not None:
            return job.id, allocation
    return None


@pytest.mark.parametrize("seed", range(20))
def test_a_pass_starts_what_repeated_published_ticks_would(seed):
    rng = random.Random(seed)
    models = [
        (2, "GeForce GTX 1070", "gtx", set()),
        (2, "TeslaV100", "v100", set()),
        (1, "A100", None, {"lab"}),
    ]
    texts = [
        "[]",
        "[gtx]",
        "[2:gtx]",
        "2:[gtx]",
        "[v100]",
        "[TeslaV100]",
        "[A100]",
        "[gtx,v100]",
        "[3:v100]",
        "2:[],[A100]",
    ]
    for _ in range(20):
        nodes = [Node(f"n{i}", rng.random() < 0.9, True) for i in range(rng.randint(1, 4))]
        resources = []
        for node in nodes:
            resources += node_gpus(node.id, len(resources), *rng.sample(models, rng.randint(0, 3)))
        cluster = Cluster(nodes, resources)
        busy = {r.id for r in resources if rng.random() < 0.4}
        waiting = [
            WaitingJob(
                n,
                parse_request(rng.choice(texts)),
                frozenset(rng.sample(["lab", "x"], rng.randint(0, 1))),
            )
            for n in range(rng.randint(0, 30))
        ]
        plan = plan_pass(waiting, cluster, frozenset(busy))
        expected = []
        queue = list(waiting)
        while (tick := published_tick(queue, cluster, busy)) is not None:
            expected.append(tick)
            busy |= tick[1].resource_ids
            queue = [job for job in queue if job.id != tick[0]]
        assert [(job, a.workers) for job, a in plan] == sorted(
            ((job, a.workers) for job, a in expected), key=lambda pair: pair[0]
        )
