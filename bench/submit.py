"""Load benchmark of job submission (``POST /jobs``) against the real service.

What is measured
    Job submissions per second over the API: 20 keep-alive clients (one request in flight per
    connection) send ``POST /jobs`` with ``{"clusterRequest": "[]", "description": "bench",
    "script": "true"}`` for 20 s after a 1 s warm-up. Every submission's body is the same, so the
    load generator sends the same bytes each time. A submission counts only if it is answered
    200 with a body that starts with ``{"id":``; anything else is an error, reported by kind.

Setup
    The service is started as in production (``python -m snakepit serve``) with the temporary
    configuration, data root, SQLite database and token secret of ``bench/api.py`` (whose pieces
    this script imports), plus ``pollInterval: 1h`` and ``maxParallelPrep: 1``: the node monitor
    stays idle after its first round and at most one preparation runs at a time, so the
    preparation of the submitted jobs competes little with the submissions. The user ``bench``
    is registered and signs in. Once the service has created its database, one node with 8 GPUs
    is written into it directly (available but offline, through ``snakepit.store.nodes``) so
    that the request ``[]`` is accepted (submission checks ignore reachability) while no pit is
    started: the jobs queue up, and the figure is the submission path alone; a first submission
    through httpx checks the setup.

Baseline
    In the same run and with the same load generator and clients: authenticated
    ``GET /users/bench`` (token check + SQLite reads, no write), measured before the
    submissions. The submission figure is also printed as a ratio to it (compare ratios between
    runs on shared machines), with the server's CPU milliseconds per request for both.

Consistency
    After the load, the jobs in the database are counted: they must be the pre-check's job plus
    one per submission answered 200 (warm-up, measured window and the drain after it), with the
    same job numbers as the answers, each number given out once.

Usage
    .venv/bin/python bench/submit.py [--duration 20] [--clients 20] [--json]

Exit status: 0 whatever the verdict on the target (this is a report); 1 when the service cannot
be started, the setup fails or the load generator fails; 3 when more than 1% of the requests of a
phase failed; 4 when the database and the answers disagree (a count or a duplicate job number).
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import api as api_bench

TARGET_SUBMISSIONS_PER_S = 200.0
EXIT_INCONSISTENT = 4

#: Added to bench/api.py's configuration: no monitor rounds, one preparation at a time.
CONFIG_EXTRA = "pollInterval: 1h\nmaxParallelPrep: 1\n"
NODE_ID = "benchnode"
NODE_GPUS = [("cuda", index, "NVIDIA GeForce GTX 1080 Ti") for index in range(8)]
SUBMISSION = {"clusterRequest": "[]", "description": "bench", "script": "true"}
SUBMIT_EXPECT = '{"id":'
BASELINE_EXPECT = f'"id":"{api_bench.USER}"'


# --------------------------------------------------------------------------------------------
# Load generator: runs in its own process (``submit.py _loadgen SPEC MODE``), prints JSON.
# --------------------------------------------------------------------------------------------


def build_post(spec: api_bench.LoadSpec, body: bytes) -> bytes:
    lines = [
        f"POST {spec.path} HTTP/1.1",
        f"Host: {api_bench.HOST}:{spec.port}",
        "Accept: */*",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{name}: {value}" for name, value in spec.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class SubmitLoadGenerator(api_bench.LoadGenerator):
    """bench/api.py's generator; ``submit`` mode POSTs the submission and keeps the job ids.

    In ``submit`` mode a success is a 200 whose body starts with ``spec.expect``; the job number
    of every success (inside the measured window or not) is kept for the consistency check.
    """

    def __init__(self, spec: api_bench.LoadSpec, submit: bool) -> None:
        super().__init__(spec)
        self.submit = submit
        self.job_ids: list[int] = []
        if submit:
            self.request = build_post(spec, json.dumps(SUBMISSION).encode())

    def _record(self, connection: Any, status: int, body: bytearray, now_ns: int) -> None:
        if status != 200:
            self._count_error(f"HTTP {status}", now_ns)
            return
        expect = self.expect or b""
        if not (body.startswith(expect) if self.submit else expect in body):
            self._count_error("200 with unexpected body", now_ns)
            return
        if self.submit:
            try:
                self.job_ids.append(int(json.loads(body)["id"]))
            except (ValueError, KeyError, TypeError):
                self._count_error("200 without a job number", now_ns)
                return
        if self.record_from_ns <= now_ns < self.stop_at_ns:
            self.latencies_ns.append(now_ns - connection.sent_ns)
            self.per_second[(now_ns - self.record_from_ns) // 1_000_000_000] += 1


def loadgen_main(spec_json: str, mode: str) -> int:
    spec = api_bench.LoadSpec(**json.loads(spec_json))
    generator = SubmitLoadGenerator(spec, submit=mode == "submit")
    result = generator.run()
    print(json.dumps({"result": dataclasses.asdict(result), "job_ids": generator.job_ids}))
    return 0


# --------------------------------------------------------------------------------------------
# Orchestration.
# --------------------------------------------------------------------------------------------


def run_phase(
    name: str, server: api_bench.Server, spec: api_bench.LoadSpec, mode: str
) -> tuple[api_bench.Phase, list[int]]:
    """bench/api.py's ``run_phase`` with this script's generator; also returns the job ids."""
    api_bench.progress(f"{name}: {spec.clients} clients on {spec.path} for {spec.duration_s:g}s")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_loadgen",
        json.dumps(dataclasses.asdict(spec)),
        mode,
    ]
    limit = spec.warmup_s + spec.duration_s + spec.timeout_s + 30
    samples: dict[str, tuple[float, float, float]] = {}
    lines: list[str] = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as generator:
        watchdog = threading.Timer(limit, generator.kill)
        watchdog.start()
        try:
            assert generator.stdout is not None
            for line in generator.stdout:
                line = line.strip()
                if line in ("measuring", "stopped"):
                    samples[line] = (
                        api_bench.cpu_seconds(server.pid),
                        *api_bench.machine_cpu_seconds(),
                    )
                else:
                    lines.append(line)
            generator.wait()
        finally:
            watchdog.cancel()
            if generator.poll() is None:
                generator.kill()
                generator.wait()
    if generator.returncode != 0 or len(samples) != 2 or not lines:
        raise api_bench.BenchError(
            f"load generator for {name} failed (exit {generator.returncode})"
        )
    if server.process.poll() is not None:
        raise api_bench.BenchError(f"{server.name} exited during {name}\n{server.log_tail()}")
    output = json.loads(lines[-1])
    result = api_bench.LoadResult(**output["result"])
    (cpu0, busy0, steal0), (cpu1, busy1, steal1) = samples["measuring"], samples["stopped"]
    phase = api_bench.Phase(name, spec.path, result, cpu1 - cpu0, busy1 - busy0, steal1 - steal0)
    return phase, [int(number) for number in output["job_ids"]]


def add_node(database: Path) -> None:
    """Write an available but offline node with 8 GPUs into the service's database."""
    from snakepit.store import nodes as node_store

    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA busy_timeout = 5000")
        connection.execute("BEGIN IMMEDIATE")
        try:
            if not node_store.insert_node(connection, NODE_ID, "https://127.0.0.1:9", "bench"):
                raise api_bench.BenchError(f"node {NODE_ID} already exists")
            node_store.set_resources(connection, NODE_ID, NODE_GPUS)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
    except sqlite3.Error as error:
        raise api_bench.BenchError(f"cannot add the node to {database}: {error}") from None
    finally:
        connection.close()


def submit_once(port: int, token: str) -> int:
    """One submission through httpx, to check the setup; returns its job number."""
    url = f"http://{api_bench.HOST}:{port}/jobs"
    try:
        response = httpx.post(url, json=SUBMISSION, headers={"X-Auth-Token": token}, timeout=10)
    except httpx.HTTPError as error:
        raise api_bench.BenchError(f"pre-check submission: {error!r}") from None
    if response.status_code != 200 or not response.text.startswith(SUBMIT_EXPECT):
        raise api_bench.BenchError(
            f"pre-check submission: HTTP {response.status_code} {response.text}"
        )
    return int(response.json()["id"])


@dataclasses.dataclass(frozen=True)
class JobCheck:
    """The database after the load, against the answers."""

    in_database: int
    pre_check: int
    answered: int  #: submissions answered 200 (all of them, not only in the window)
    answered_distinct: int
    same_numbers: bool  #: the database's job numbers are the answers' plus the pre-check's
    states: dict[str, int]
    numbers: frozenset[int] = frozenset()  #: the answers' job numbers

    @property
    def count_ok(self) -> bool:
        return self.in_database == self.answered + 1

    @property
    def unique(self) -> bool:
        return self.answered_distinct == self.answered and self.pre_check not in self.numbers

    def as_dict(self) -> dict[str, Any]:
        return {
            "jobs_in_database": self.in_database,
            "pre_check_job": self.pre_check,
            "submissions_answered_200": self.answered,
            "distinct_job_numbers_answered": self.answered_distinct,
            "count_matches": self.count_ok,
            "job_numbers_unique": self.unique,
            "same_job_numbers_as_database": self.same_numbers,
            "job_states": self.states,
        }


def check_jobs(database: Path, pre_check: int, answered: list[int]) -> JobCheck:
    from snakepit.jobs.states import JobState

    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        stored = [row[0] for row in connection.execute("SELECT id FROM jobs")]
        states = collections.Counter(
            JobState(row[0]).name for row in connection.execute("SELECT state FROM jobs")
        )
    finally:
        connection.close()
    numbers = frozenset(answered)
    return JobCheck(
        in_database=len(stored),
        pre_check=pre_check,
        answered=len(answered),
        answered_distinct=len(numbers),
        same_numbers=sorted(stored) == sorted([pre_check, *answered]),
        states=dict(sorted(states.items())),
        numbers=numbers,
    )


@dataclasses.dataclass
class Report:
    clients: int
    duration_s: float
    baseline: api_bench.Phase
    submit: api_bench.Phase
    jobs: JobCheck
    memory: dict[str, float]

    def verdict(self) -> tuple[str, bool, str]:
        rps = self.submit.result.rps
        return (
            f">= {TARGET_SUBMISSIONS_PER_S:g} submissions/s",
            rps >= TARGET_SUBMISSIONS_PER_S,
            f"{rps:.0f}/s",
        )

    def consistent(self) -> bool:
        return self.jobs.count_ok and self.jobs.unique and self.jobs.same_numbers

    def too_many_errors(self) -> bool:
        return any(
            phase.result.error_rate > api_bench.MAX_ERROR_RATE
            for phase in (self.baseline, self.submit)
        )

    def as_dict(self) -> dict[str, Any]:
        baseline_rps = self.baseline.result.rps
        phases = {}
        for key, phase in (("baseline", self.baseline), ("submit", self.submit)):
            data = phase.as_dict(baseline_rps)
            data["ratio_to_baseline"] = data.pop("ratio_to_raw")
            phases[key] = data
        name, ok, value = self.verdict()
        return {
            "clients": self.clients,
            "duration_s": self.duration_s,
            "cpus": os.cpu_count(),
            "service_config_extra": {"pollInterval": "1h", "maxParallelPrep": 1},
            "phases": phases,
            "jobs": self.jobs.as_dict(),
            "service_rss_mb": self.memory.get("VmRSS"),
            "service_peak_rss_mb": self.memory.get("VmHWM"),
            "target": {"name": name, "pass": ok, "value": value},
            "consistent": self.consistent(),
            "too_many_errors": self.too_many_errors(),
        }


#: bench/api.py's columns, the ratio taken to the GET baseline instead of raw ASGI.
COLUMNS = [
    ("vs GET", 8, "ratio_to_baseline", "{:.2f}") if column[2] == "ratio_to_raw" else column
    for column in api_bench.COLUMNS
]
NAME_WIDTH = 30


def format_table(report: Report) -> str:
    data = report.as_dict()
    heading = "".join(f"{title:>{width}}" for title, width, _, _ in COLUMNS)
    lines = [
        f"Snakepit submission benchmark: {report.clients} keep-alive clients, "
        f"{report.duration_s:g}s per phase, {data['cpus']} CPUs",
        "service: bench/api.py's configuration + pollInterval: 1h, maxParallelPrep: 1",
        "  (node monitor idle, at most one preparation at a time beside the load)",
        "",
        f"{'phase':<{NAME_WIDTH}}{heading}",
    ]
    for phase in data["phases"].values():
        cells = "".join(f"{form.format(phase[key]):>{width}}" for _, width, key, form in COLUMNS)
        lines.append(f"{phase['name']:<{NAME_WIDTH}}{cells}")
        for key, label in (("error_kinds", "errors"), ("errors_outside_window", "outside")):
            if phase[key]:
                kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(phase[key].items()))
                lines.append(f"    {label}: {kinds}")
    submit, jobs = data["phases"]["submit"], report.jobs

    def ok(flag: bool) -> str:
        return "OK" if flag else "MISMATCH"

    lines += [
        "",
        "CPU, in % of one core: srv = server process (all threads), gen = load generator,",
        "other = rest of the machine, steal = taken by the hypervisor (noise if high);",
        "ms/req = server CPU milliseconds per successful request.",
        "",
        f"submissions / authenticated GET: {submit['ratio_to_baseline']:.2f}",
        f"jobs in the database: {jobs.in_database} = 1 pre-check + {jobs.answered} answered 200 "
        f"(warm-up, window, drain): {ok(jobs.count_ok)}",
        f"job numbers: {jobs.answered_distinct} distinct of {jobs.answered} answered, "
        f"unique: {ok(jobs.unique)}; same set as the database: {ok(jobs.same_numbers)}",
        "job states after the load: "
        + ", ".join(f"{state} {count}" for state, count in jobs.states.items()),
        f"service memory after load: VmRSS {data['service_rss_mb']:.1f} MB, "
        f"peak (VmHWM) {data['service_peak_rss_mb']:.1f} MB",
        "",
    ]
    name, passed, value = report.verdict()
    lines.append(f"target (POST /jobs, {report.clients} clients):")
    lines.append(f"  {name:<26}{value:>10}   {'PASS' if passed else 'FAIL'}")
    if report.too_many_errors():
        lines.append(
            f"ERRORS: more than {api_bench.MAX_ERROR_RATE:.0%} of the requests of a phase failed"
        )
    if not report.consistent():
        lines.append("INCONSISTENT: the database and the answers disagree")
    return "\n".join(lines)


def run_benchmark(args: argparse.Namespace) -> Report:
    with tempfile.TemporaryDirectory(prefix="snakepit-bench-") as tmp:
        folder = Path(tmp)
        port = api_bench.free_port()
        config = api_bench.write_service_config(folder, port)
        with config.open("a") as file:
            file.write(CONFIG_EXTRA)
        database = folder / "root" / "snakepit.db"
        command = [sys.executable, "-m", "snakepit", "serve", "--config", str(config)]
        api_bench.progress(f"starting the service on port {port}")
        server = api_bench.Server("snakepit", command, port, folder / "snakepit.log")
        with api_bench.running(server) as service:
            service.wait_ready("/hello", "Here I am")
            token = api_bench.sign_in(port)
            add_node(database)
            pre_check = submit_once(port, token)
            headers = {"X-Auth-Token": token}
            baseline, _ = run_phase(
                f"GET /users/{api_bench.USER} (baseline)",
                service,
                api_bench.LoadSpec(
                    port,
                    f"/users/{api_bench.USER}",
                    args.clients,
                    args.duration,
                    headers=headers,
                    expect=BASELINE_EXPECT,
                ),
                "get",
            )
            submit, answered = run_phase(
                "POST /jobs (submission)",
                service,
                api_bench.LoadSpec(
                    port,
                    "/jobs",
                    args.clients,
                    args.duration,
                    headers=headers,
                    expect=SUBMIT_EXPECT,
                ),
                "submit",
            )
            memory = api_bench.memory_mb(service.pid)
            jobs = check_jobs(database, pre_check, answered)
    return Report(args.clients, args.duration, baseline, submit, jobs, memory)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--duration", type=float, default=20.0, help="seconds of load per phase; default 20"
    )
    parser.add_argument(
        "--clients", type=int, default=20, help="concurrent keep-alive connections; default 20"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print a JSON summary on stdout (the table goes to stderr)",
    )
    args = parser.parse_args(argv)
    if args.duration <= 0 or args.clients <= 0:
        parser.error("--duration and --clients must be positive")
    return args


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["_loadgen"]:
        try:
            return loadgen_main(argv[1], argv[2])
        except (KeyboardInterrupt, BrokenPipeError):
            return 130
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        report = run_benchmark(args)
    except api_bench.BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return api_bench.EXIT_SETUP_FAILED
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    table = format_table(report)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(json_safe(report.as_dict()), indent=2))
    else:
        print(table)
    if not report.consistent():
        return EXIT_INCONSISTENT
    return api_bench.EXIT_TOO_MANY_ERRORS if report.too_many_errors() else api_bench.EXIT_OK


def json_safe(value: Any) -> Any:
    """``value`` with NaN replaced by null at any depth, so that the output is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
