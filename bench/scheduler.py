"""Speed of one scheduling pass over a long queue, against a plain loop over the same queue.

Builds 20 nodes x 8 GPUs (four models, aliases for some, two nodes restricted to the group
``lab``, one node offline) and 10,000 waiting jobs of mixed requests (mostly for GPUs that are
busy, some ``[]``, some with several processes or groups, some asking for names nobody has).
Then times ``plan_pass`` over ``--passes`` cluster states with 50% to 100% of the GPUs busy, and,
in the same run, a baseline loop that only iterates the jobs and reads their request names.
Prints p50/p99 pass time in ms, the ratio to the baseline, the peak memory of a pass
(tracemalloc) and of the process (VmHWM), and PASS/FAIL for the targets p99 <= 100 ms and
peak memory <= 200 MB. Pure CPU, no service needed:

    .venv/bin/python bench/scheduler.py [--passes 50] [--rounds 3] [--jobs 10000] [--json]
"""

import argparse
import functools
import json
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from snakepit.scheduling import Cluster, Node, Resource, WaitingJob, parse_request, plan_pass

TARGET_P99_MS = 100.0
TARGET_MEMORY_MB = 200.0

#: (model name, alias id or None, restriction groups) per node kind.
MODELS = {
    "gtx": ("GeForce GTX 1080 Ti", "gtx1080ti", frozenset[str]()),
    "v100": ("TeslaV100", "v100", frozenset[str]()),
    "a100": ("A100", None, frozenset[str]()),
    "rtx": ("GeForce RTX 2080", "rtx2080", frozenset[str]()),
    "lab": ("A100", None, frozenset({"lab"})),
}

#: Requests and their weights in the queue.
REQUESTS = [
    ("[gtx1080ti]", 20),
    ("[2:gtx1080ti]", 15),
    ("[8:gtx1080ti]", 5),
    ("4:[8:gtx1080ti]", 3),
    ("[v100]", 10),
    ("2:[4:v100]", 5),
    ("[TeslaV100]", 5),
    ("[A100]", 10),
    ("[4:A100]", 5),
    ("[2:rtx2080]", 5),
    ("[gtx1080ti,v100]", 2),
    ("2:[],4:[gtx1080ti,2:rtx2080]", 3),
    ("[]", 3),
    ("2:[]", 1),
    ("[gtx1070]", 2),
    ("[0:v100]", 1),
]


def build_cluster() -> Cluster:
    """20 nodes x 8 GPUs: 8 gtx, 5 v100, 3 half a100 / half rtx, 2 restricted a100, 2 v100."""
    kinds = ["gtx"] * 8 + ["v100"] * 5 + ["mixed"] * 3 + ["lab"] * 2 + ["v100"] * 2
    nodes = [Node(f"n{number:02}", number != 5, True) for number in range(len(kinds))]
    resources: list[Resource] = []
    for node, kind in zip(nodes, kinds, strict=True):
        per_index = ["a100"] * 4 + ["rtx"] * 4 if kind == "mixed" else [kind] * 8
        for index, model in enumerate(per_index):
            name, alias, groups = MODELS[model]
            resources.append(
                Resource(len(resources) + 1, node.id, "cuda", index, name, alias, groups)
            )
    return Cluster(nodes, resources)


def build_queue(rng: random.Random, count: int) -> list[WaitingJob]:
    parsed = {text: parse_request(text) for text, _ in REQUESTS}
    texts = rng.choices([text for text, _ in REQUESTS], [w for _, w in REQUESTS], k=count)
    user_groups = [frozenset(["lab"] if user % 5 == 0 else []) for user in range(40)]
    return [
        WaitingJob(number, parsed[text], rng.choice(user_groups))
        for number, text in enumerate(texts, start=1)
    ]


def busy_states(rng: random.Random, cluster: Cluster, count: int) -> list[frozenset[int]]:
    ids = list(cluster.resources)
    return [
        frozenset(rng.sample(ids, round(len(ids) * (0.5 + 0.5 * number / max(count - 1, 1)))))
        for number in range(count)
    ]


def timed(function: Callable[[], object], rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return times


def baseline(queue: Sequence[WaitingJob]) -> int:
    """What any pass must at least do: look at every job's names."""
    seen = 0
    for job in queue:
        if job.request.names:
            seen += 1
    return seen


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def vm_hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(passes: int, rounds: int, jobs: int, seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    cluster = build_cluster()
    queue = build_queue(rng, jobs)
    states = busy_states(rng, cluster, passes)
    plan_pass(queue, cluster, states[0])  # warm-up, also fills the cached request names
    started = [len(plan_pass(queue, cluster, busy)) for busy in states]
    pass_ms = []
    for _ in range(rounds):
        for busy in states:
            pass_ms += timed(functools.partial(plan_pass, queue, cluster, busy), 1)
    base_ms = timed(lambda: baseline(queue), passes * rounds)
    tracemalloc.start()
    for busy in states[:5]:
        plan_pass(queue, cluster, busy)
    pass_peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    p50, p99 = percentile(pass_ms, 0.5), percentile(pass_ms, 0.99)
    base_p50 = percentile(base_ms, 0.5)
    hwm = vm_hwm_mb()
    return {
        "jobs": jobs,
        "passes": passes,
        "rounds": rounds,
        "resources": len(cluster.resources),
        "started_per_pass": {
            "min": min(started),
            "median": statistics.median(started),
            "max": max(started),
        },
        "pass_p50_ms": round(p50, 3),
        "pass_p99_ms": round(p99, 3),
        "pass_max_ms": round(max(pass_ms), 3),
        "baseline_p50_ms": round(base_p50, 3),
        "ratio_p50": round(p50 / base_p50, 2),
        "pass_peak_mb": round(pass_peak_mb, 2),
        "vm_hwm_mb": round(hwm, 1),
        "pass_p99": p99 <= TARGET_P99_MS,
        "pass_memory": hwm <= TARGET_MEMORY_MB,
    }


def print_report(result: dict[str, object]) -> None:
    started = result["started_per_pass"]
    assert isinstance(started, dict)
    print(
        f"plan_pass: {result['jobs']} waiting jobs, {result['resources']} GPUs, "
        f"{result['passes']} cluster states x {result['rounds']} rounds "
        f"(50% to 100% of the GPUs busy; "
        f"jobs started per pass: min {started['min']}, median {started['median']}, "
        f"max {started['max']})"
    )
    print(
        f"pass        p50 {result['pass_p50_ms']:8.3f} ms   p99 {result['pass_p99_ms']:8.3f} ms"
        f"   max {result['pass_max_ms']:8.3f} ms"
    )
    print(f"baseline    p50 {result['baseline_p50_ms']:8.3f} ms   (iterate jobs, read names)")
    print(f"ratio       p50 {result['ratio_p50']:8.2f} x baseline")
    print(
        f"memory      pass peak {result['pass_peak_mb']:.2f} MB (tracemalloc), "
        f"process peak {result['vm_hwm_mb']:.1f} MB (VmHWM)"
    )
    print(
        f"{'PASS' if result['pass_p99'] else 'FAIL'}  p99 {result['pass_p99_ms']:.3f} ms "
        f"<= {TARGET_P99_MS:.0f} ms"
    )
    print(
        f"{'PASS' if result['pass_memory'] else 'FAIL'}  peak memory {result['vm_hwm_mb']:.1f} MB "
        f"<= {TARGET_MEMORY_MB:.0f} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passes", type=int, default=50, help="cluster states to time")
    parser.add_argument("--rounds", type=int, default=3, help="times each state is timed")
    parser.add_argument("--jobs", type=int, default=10_000, help="waiting jobs")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random queue and states")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args()
    result = measure(args.passes, args.rounds, args.jobs, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
