"""Mixed load against the real service: log followers, submitters and ``pit status`` pollers.

What is measured
    The service is started as in production (``python -m snakepit serve``) with bench/api.py's
    temporary configuration, data root, SQLite database and token secret (default
    ``pollInterval``, 1 s, which is also how often a followed log is looked at). The user
    ``bench`` is registered; one node with 8 GPUs is written into the database (offline: its
    endpoint is a closed port), so that submissions are accepted, prepared and left WAITING.
    Jobs are written into the database with a ``pit.log`` each: RUNNING-looking jobs, whose logs
    the bench appends lines to while it runs, and DONE jobs with a finished log.

    One load generator process (its own GIL; plain sockets and ``selectors`` like bench/api.py)
    then holds, for ``--duration`` seconds after a warm-up:

    * 50 log followers: ``GET /jobs/<n>/log`` (what ``pit log -f`` calls). Most follow the
      running jobs, a stream that lasts the whole run (the route follows a log until its job is
      DONE); ``--done-followers`` of them read a DONE job's whole log, again every
      ``--poll-interval``. Every finished read is checked byte for byte against the file's size.
    * 20 submitters: ``POST /jobs`` with a ``[]`` script job, each in a closed loop (the next one
      as soon as the answer is in, or every ``--submit-interval``).
    * 50 pollers: ``GET /jobs/status`` (what ``pit status`` calls), each once every
      ``--poll-interval`` (1 s: a user's ``watch pit status``; 0 makes it a closed loop).

    When the window closes, the bench appends one last line and sets the running jobs DONE in
    the database; their followers must then get the rest of the log and the end of the stream.

Baseline
    Before the load, in the same run: the same 50 pollers alone, for ``--baseline-duration``
    seconds. The status figures under load are also printed as ratios to it (compare ratios
    between runs on shared machines).

Reported
    Errors by kind (any answer but the expected one, a closed connection, a timeout, a log read
    whose length is not the file's, a stream that ends before its job), over the whole run, not
    only the window; status p50/p99/max (and p99 per tenth of the window, with the size of the
    answer, which grows with the queue); submissions/s; log bytes/s; the CPU split of the window
    (server, load generator, rest of the machine, steal, as bench/api.py); the service's
    resident memory sampled every second: before the load, when the window opens (after the
    warm-up), at its end and its maximum. After the load the jobs in the database are counted.

Targets
    Zero errors; status p99 <= 100 ms under load; memory flat: the RSS at the end of the window
    within 10% of its value when the window opened. Each printed as PASS or FAIL.

Usage
    .venv/bin/python bench/load.py [--duration 60] [--json]

Exit status: 0 whatever the verdicts (this is a report); 1 when the service or the setup fails or
the load generator fails; 3 when more than 1% of the requests of a phase failed; 4 when the jobs
in the database do not match the answered submissions.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import dataclasses
import heapq
import json
import math
import os
import selectors
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import api as api_bench
import submit as submit_bench

TARGET_STATUS_P99_MS = 100.0
#: "Flat": the RSS at the end of the window within this share of its value when it opened.
TARGET_RSS_GROWTH = 0.10
EXIT_INCONSISTENT = 4

SUBMISSION = json.dumps(
    {"clusterRequest": "[]", "description": "load", "script": "echo load"}
).encode()
#: Lines of a DONE job's log, about 80 bytes each.
DONE_LOG_LINES = 400
#: Lines appended to each running job's log per second while the bench runs.
APPENDS_PER_S = 10


# --------------------------------------------------------------------------------------------
# Load generator: runs in its own process (``load.py _loadgen SPEC``), prints a JSON result.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MixSpec:
    """The clients of one phase. Followers name their job; done logs give their size."""

    port: int
    token: str
    duration_s: float
    warmup_s: float
    pollers: int
    poll_interval_s: float
    submitters: int = 0
    submit_interval_s: float = 0.0
    follow_running: list[int] = dataclasses.field(default_factory=list)
    follow_done: list[int] = dataclasses.field(default_factory=list)
    #: Size of each DONE job's log (JSON keys are strings).
    done_sizes: dict[str, int] = dataclasses.field(default_factory=dict)
    #: No byte for this long on a connection waiting for an answer is an error.
    timeout_s: float = 10.0
    #: After the window, how long running jobs' streams may take to end.
    drain_s: float = 20.0


class ProtocolError(Exception):
    """A response the generator cannot frame."""


class _Conn:
    """One client: its socket, its request and the state of the response being read."""

    __slots__ = (
        "body",
        "body_bytes",
        "buffer",
        "chunk_left",
        "chunk_state",
        "chunked",
        "closes",
        "kind",
        "last_ns",
        "request",
        "sent_ns",
        "sock",
        "status",
        "target",
        "waiting",
    )

    def __init__(self, kind: str, target: int, request: bytes) -> None:
        self.kind = kind
        self.target = target  #: the followed job (0 for other kinds)
        self.request = request
        self.sock: socket.socket | None = None
        self.buffer = bytearray()
        self.sent_ns = 0
        self.last_ns = 0
        self.waiting = False  #: a request is in flight
        self.reset()

    def reset(self) -> None:
        self.status: int | None = None
        self.chunked = False
        self.closes = False
        self.chunk_left = 0  # body bytes left (Content-Length) or in the current chunk
        self.chunk_state = "size"  # size, data, crlf, trailer
        self.body = bytearray()
        self.body_bytes = 0


def http_request(method: str, path: str, spec: MixSpec, body: bytes = b"") -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {api_bench.HOST}:{spec.port}",
        "Accept: */*",
        f"X-Auth-Token: {spec.token}",
    ]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class MixGenerator:
    """Every client of a :class:`MixSpec` on one selector; see the module docstring."""

    def __init__(self, spec: MixSpec) -> None:
        self.spec = spec
        self.selector = selectors.DefaultSelector()
        self.timers: list[tuple[int, int, _Conn]] = []  # (due, tie-breaker, connection)
        self.errors: collections.Counter[str] = collections.Counter()
        self.errors_outside: collections.Counter[str] = collections.Counter()
        self.latencies: dict[str, list[int]] = {"status": [], "submit": []}
        self.status_by_tenth: list[list[int]] = [[] for _ in range(10)]
        self.status_size_by_tenth = [0] * 10
        self.submitted: list[int] = []  # job numbers, warm-up and drain included
        self.done_reads = 0
        self.log_bytes = 0  # log bytes received inside the window
        self.streams: list[tuple[int, int]] = []  # (job, bytes) of running logs that ended
        self.record_from_ns = self.stop_at_ns = 0
        self.window_ns = (0, 0)
        self.cpu_s = 0.0
        self.conns: list[_Conn] = []

    def run(self) -> dict[str, Any]:
        spec = self.spec
        status = http_request("GET", "/jobs/status", spec)
        submit = http_request("POST", "/jobs", spec, SUBMISSION)
        self.conns += [_Conn("status", 0, status) for _ in range(spec.pollers)]
        self.conns += [_Conn("submit", 0, submit) for _ in range(spec.submitters)]
        for kind, jobs in (("follow", spec.follow_running), ("done", spec.follow_done)):
            for job in jobs:
                self.conns.append(_Conn(kind, job, http_request("GET", f"/jobs/{job}/log", spec)))
        start = time.perf_counter_ns()
        self.record_from_ns = start + int(spec.warmup_s * 1e9)
        self.stop_at_ns = self.record_from_ns + int(spec.duration_s * 1e9)
        for index, conn in enumerate(self.conns):
            # Paced clients start spread over their interval, not all at once.
            interval = self._interval(conn)
            offset = int(interval * 1e9 * index / len(self.conns)) if interval else 0
            self._schedule(conn, start + offset)
        self._loop(self.record_from_ns)
        began, cpu0 = api_bench._mark("measuring")
        self._loop(self.stop_at_ns)
        ended, cpu1 = api_bench._mark("stopped")
        self.window_ns, self.cpu_s = (began, ended), cpu1 - cpu0
        self._loop(ended + int(spec.drain_s * 1e9))
        for conn in self.conns:
            if conn.sock is not None:
                what = "log stream did not end" if conn.kind == "follow" else "no answer"
                self._fail(
                    conn, f"{what} {spec.drain_s:g}s after the window", time.perf_counter_ns()
                )
        return self._result()

    def _interval(self, conn: _Conn) -> float:
        if conn.kind == "submit":
            return self.spec.submit_interval_s
        return 0.0 if conn.kind == "follow" else self.spec.poll_interval_s

    def _schedule(self, conn: _Conn, due_ns: int) -> None:
        heapq.heappush(self.timers, (due_ns, id(conn), conn))

    def _loop(self, until_ns: int) -> None:
        next_sweep = time.perf_counter_ns() + 500_000_000
        now = time.perf_counter_ns()
        while now < until_ns and (self.timers or self.selector.get_map()):
            while self.timers and self.timers[0][0] <= now:
                _, _, conn = heapq.heappop(self.timers)
                self._send(conn, now)
            wake = min(until_ns, next_sweep, self.timers[0][0] if self.timers else until_ns)
            for key, _ in self.selector.select(max(0.0, (wake - now) / 1e9)):
                self._on_readable(key.data, time.perf_counter_ns())
            now = time.perf_counter_ns()
            if now >= next_sweep:
                limit = int(self.spec.timeout_s * 1e9)
                for conn in self.conns:
                    if conn.waiting and now - conn.last_ns > limit:
                        self._fail(conn, "timeout", now)
                next_sweep = now + 500_000_000

    def _send(self, conn: _Conn, now: int) -> None:
        if now >= self.stop_at_ns and conn.kind != "follow":
            self._retire(conn)  # the window is over: no new request
            return
        if conn.sock is None:
            try:
                conn.sock = socket.create_connection((api_bench.HOST, self.spec.port), timeout=10)
            except OSError:
                self._count(conn, "connect", now)
                self._schedule(conn, now + 100_000_000)
                return
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.selector.register(conn.sock, selectors.EVENT_READ, conn)
        conn.reset()
        conn.sent_ns = conn.last_ns = now
        conn.waiting = True
        try:
            conn.sock.sendall(conn.request)
        except OSError:
            self._fail(conn, "send", now)

    def _on_readable(self, conn: _Conn, now: int) -> None:
        assert conn.sock is not None
        try:
            data = conn.sock.recv(262144)
        except OSError:
            data = b""
        if not data or not conn.waiting:
            self._fail(conn, "closed by server" if not data else "unasked data", now)
            return
        conn.last_ns = now
        conn.buffer += data
        try:
            complete = self._advance(conn, now)
        except (ProtocolError, ValueError) as error:
            self._fail(conn, f"protocol: {error}", now)
            return
        if complete:
            conn.waiting = False
            self._finish(conn, now)

    def _advance(self, conn: _Conn, now: int) -> bool:
        """Consume what arrived; True once the response is complete."""
        buffer = conn.buffer
        if conn.status is None:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return False
            head = bytes(buffer[:head_end]).lower()
            if not head.startswith(b"http/1.1 "):
                raise ProtocolError("bad status line")
            conn.status = int(head[9:12])
            conn.closes = b"\r\nconnection: close" in head
            conn.chunked = b"\r\ntransfer-encoding: chunked" in head
            if not conn.chunked:
                start = head.find(b"\r\ncontent-length:")
                if start < 0:
                    raise ProtocolError("neither content-length nor chunked")
                stop = head.find(b"\r\n", start + 2)
                conn.chunk_left = int(head[start + 17 : stop if stop >= 0 else len(head)])
                conn.chunk_state = "data"
            del buffer[: head_end + 4]
        while True:
            if conn.chunk_state == "data":
                take = min(conn.chunk_left, len(buffer))
                self._body(conn, buffer[:take], now)
                del buffer[:take]
                conn.chunk_left -= take
                if conn.chunk_left:
                    return False
                if not conn.chunked:
                    return True
                conn.chunk_state = "crlf"
            if conn.chunk_state in ("crlf", "trailer"):
                if len(buffer) < 2:
                    return False
                if buffer[:2] != b"\r\n":
                    raise ProtocolError("bad chunk end")
                del buffer[:2]
                if conn.chunk_state == "trailer":
                    return True
                conn.chunk_state = "size"
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return False
            conn.chunk_left = int(bytes(buffer[:line_end]).split(b";")[0], 16)
            del buffer[: line_end + 2]
            conn.chunk_state = "data" if conn.chunk_left else "trailer"

    def _body(self, conn: _Conn, data: bytearray, now: int) -> None:
        conn.body_bytes += len(data)
        if conn.kind in ("follow", "done") and conn.status == 200:
            if self.record_from_ns <= now < self.stop_at_ns:
                self.log_bytes += len(data)
        else:
            conn.body += data

    def _finish(self, conn: _Conn, now: int) -> None:
        """A response is complete: check and count it, then the client's next step."""
        problem = self._check(conn, now)
        if problem:
            self._count(conn, problem, now)
        if conn.kind == "follow":
            self._retire(conn)  # a stream ends once; early ends are errors (see _check)
            if problem and now < self.stop_at_ns:
                self._schedule(conn, now + 100_000_000)
            return
        if conn.closes:
            self._retire(conn)
        if now >= self.stop_at_ns:
            self._retire(conn)
            return
        interval = self._interval(conn)
        self._schedule(conn, max(now, conn.sent_ns + int(interval * 1e9)))

    def _check(self, conn: _Conn, now: int) -> str | None:
        """What is wrong with a complete response (None: nothing), and record a good one."""
        if conn.status != 200:
            return f"HTTP {conn.status}"
        inside = self.record_from_ns <= now < self.stop_at_ns
        if conn.kind == "status":
            if b'"waiting":' not in conn.body:
                return "200 with unexpected body"
            if inside:
                self.latencies["status"].append(now - conn.sent_ns)
                tenth = min(
                    9, (now - self.record_from_ns) * 10 // (self.stop_at_ns - self.record_from_ns)
                )
                self.status_by_tenth[tenth].append(now - conn.sent_ns)
                self.status_size_by_tenth[tenth] = max(
                    self.status_size_by_tenth[tenth], len(conn.body)
                )
        elif conn.kind == "submit":
            if not conn.body.startswith(b'{"id":'):
                return "200 with unexpected body"
            self.submitted.append(int(json.loads(conn.body)["id"]))
            if inside:
                self.latencies["submit"].append(now - conn.sent_ns)
        elif conn.kind == "done":
            expected = self.spec.done_sizes[str(conn.target)]
            if conn.body_bytes != expected:
                return f"done log read {conn.body_bytes} of {expected} bytes"
            self.done_reads += inside
        elif now < self.stop_at_ns:
            return "log stream ended before its job"
        else:
            self.streams.append((conn.target, conn.body_bytes))
        return None

    def _count(self, conn: _Conn, kind: str, now: int) -> None:
        inside = self.record_from_ns <= now < self.stop_at_ns
        (self.errors if inside else self.errors_outside)[f"{conn.kind}: {kind}"] += 1

    def _fail(self, conn: _Conn, kind: str, now: int) -> None:
        self._count(conn, kind, now)
        self._retire(conn)
        if now < self.stop_at_ns:
            self._schedule(conn, now + 100_000_000)  # a new connection in its place

    def _retire(self, conn: _Conn) -> None:
        conn.waiting = False
        conn.buffer.clear()
        if conn.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn.sock)
            conn.sock.close()
            conn.sock = None

    def _result(self) -> dict[str, Any]:
        began, ended = self.window_ns
        return {
            "elapsed_s": (ended - began) / 1e9,
            "cpu_s": self.cpu_s,
            "errors": dict(self.errors),
            "errors_outside_window": dict(self.errors_outside),
            "status_ms": sorted(ns / 1e6 for ns in self.latencies["status"]),
            "submit_ms": sorted(ns / 1e6 for ns in self.latencies["submit"]),
            "status_p99_by_tenth_ms": [
                api_bench.percentile_ms(sorted(part), 0.99) for part in self.status_by_tenth
            ],
            "status_bytes_by_tenth": self.status_size_by_tenth,
            "submitted": self.submitted,
            "done_reads": self.done_reads,
            "log_bytes": self.log_bytes,
            "streams": self.streams,
        }


def loadgen_main(spec_json: str) -> int:
    result = MixGenerator(MixSpec(**json.loads(spec_json))).run()
    print(json.dumps(submit_bench.json_safe(result)))
    return 0


# --------------------------------------------------------------------------------------------
# Setup: jobs and logs written directly, logs growing, memory sampled.
# --------------------------------------------------------------------------------------------


def write_database(database: Path, change: Callable[[sqlite3.Connection], Any]) -> Any:
    """Run ``change`` in one write transaction on the service's database, beside the service."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA busy_timeout = 10000")
        connection.execute("BEGIN IMMEDIATE")
        try:
            result = change(connection)
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return result
    except sqlite3.Error as error:
        raise api_bench.BenchError(f"cannot write to {database}: {error}") from None
    finally:
        connection.close()


def log_line(job: int, step: int) -> bytes:
    return (
        f"job {job} step {step:06d}: loss {1 / (step + 1):.6f}, accuracy {step % 97} %\n".encode()
    )


def create_jobs(database: Path, root: Path, running: int, done: int) -> tuple[list[int], list[int]]:
    """RUNNING-looking and DONE jobs of the bench user, each with a ``pit.log``."""
    from snakepit.jobs.states import JobState
    from snakepit.store import jobs as job_store

    def insert(connection: sqlite3.Connection) -> tuple[list[int], list[int]]:
        made: dict[JobState, list[int]] = {JobState.RUNNING: [], JobState.DONE: []}
        for state, count in ((JobState.RUNNING, running), (JobState.DONE, done)):
            for _ in range(count):
                number = job_store.insert_job(
                    connection,
                    user_id=api_bench.USER,
                    description=f"load {state.name.lower()}",
                    provisioning="Script",
                    request="[]",
                    continues=None,
                    groups=(),
                )
                job_store.set_state(connection, number, state, "written by bench/load.py")
                made[state].append(number)
        return made[JobState.RUNNING], made[JobState.DONE]

    running_jobs, done_jobs = write_database(database, insert)
    for job in running_jobs + done_jobs:
        folder = root / "pits" / str(job)
        folder.mkdir(parents=True, exist_ok=True)
        lines = 10 if job in running_jobs else DONE_LOG_LINES
        (folder / "pit.log").write_bytes(b"".join(log_line(job, step) for step in range(lines)))
    return running_jobs, done_jobs


def end_jobs(database: Path, jobs: list[int]) -> None:
    from snakepit.jobs.states import JobState
    from snakepit.store import jobs as job_store

    def end(connection: sqlite3.Connection) -> None:
        for job in jobs:
            job_store.set_state(connection, job, JobState.DONE, "ended by bench/load.py")

    write_database(database, end)


class Ticker(threading.Thread):
    """Calls ``tick`` every ``interval_s`` in a thread until :meth:`stop`."""

    def __init__(self, interval_s: float, tick: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.tick = tick
        self.stopped = threading.Event()

    def run(self) -> None:
        next_at = time.monotonic()
        while not self.stopped.is_set():
            self.tick()
            next_at += self.interval_s
            self.stopped.wait(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self.stopped.set()
        self.join()


class LogAppender:
    """Appends a line to each running job's ``pit.log`` APPENDS_PER_S times a second."""

    def __init__(self, root: Path, jobs: list[int]) -> None:
        self.paths = {job: root / "pits" / str(job) / "pit.log" for job in jobs}
        self.step = 10
        self.ticker = Ticker(1 / APPENDS_PER_S, self.append)

    def append(self) -> None:
        for job, path in self.paths.items():
            with path.open("ab") as log:
                log.write(log_line(job, self.step))
        self.step += 1

    def sizes(self) -> dict[int, int]:
        return {job: path.stat().st_size for job, path in self.paths.items()}


class MemorySampler:
    """The service's VmRSS every second, with named marks (the sample count at that moment)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[float] = []
        self.marks: dict[str, float] = {}
        self.ticker = Ticker(1.0, self.sample)

    def sample(self) -> None:
        with contextlib.suppress(OSError, KeyError):
            self.samples.append(api_bench.memory_mb(self.pid)["VmRSS"])

    def mark(self, name: str) -> None:
        self.marks[name] = api_bench.memory_mb(self.pid)["VmRSS"]
        self.marks[f"{name}_index"] = len(self.samples)


# --------------------------------------------------------------------------------------------
# Phases and report.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class MixPhase:
    """The generator's result for one phase and the machine's CPU use in its window."""

    name: str
    spec: MixSpec
    result: dict[str, Any]
    server_cpu_s: float
    machine_busy_s: float
    machine_steal_s: float
    #: Time the service's event loop thread was runnable but waited for a CPU.
    run_queue_wait_s: float

    @property
    def elapsed_s(self) -> float:
        return float(self.result["elapsed_s"]) or math.nan

    def errors(self) -> int:
        return sum(self.result["errors"].values()) + sum(
            self.result["errors_outside_window"].values()
        )

    def rate(self, key: str) -> float:
        value = self.result[key]
        return (len(value) if isinstance(value, list) else value) / self.elapsed_s

    def latency(self, key: str) -> dict[str, float]:
        samples = self.result[key]
        return {
            "p50": percentile(samples, 0.50),
            "p99": percentile(samples, 0.99),
            "max": samples[-1] if samples else math.nan,
        }

    def cpu(self) -> dict[str, float]:
        elapsed, gen = self.elapsed_s, self.result["cpu_s"]
        return {
            "server_pct": 100 * self.server_cpu_s / elapsed,
            "loadgen_pct": 100 * gen / elapsed,
            "other_pct": max(0.0, 100 * (self.machine_busy_s - self.server_cpu_s - gen) / elapsed),
            "steal_pct": 100 * self.machine_steal_s / elapsed,
            "event_loop_cpu_wait_pct": 100 * self.run_queue_wait_s / elapsed,
            "server_ms_per_status": 1000 * self.server_cpu_s / len(self.result["status_ms"])
            if self.result["status_ms"]
            else math.nan,
        }


def percentile(sorted_ms: Sequence[float], fraction: float) -> float:
    if not sorted_ms:
        return math.nan
    return float(sorted_ms[max(1, math.ceil(fraction * len(sorted_ms))) - 1])


def run_mix(
    name: str,
    service: api_bench.Server,
    spec: MixSpec,
    on_window: Callable[[str], None] = lambda edge: None,
) -> MixPhase:
    """Run the generator against ``service``; ``on_window`` is called at each window edge."""
    api_bench.progress(
        f"{name}: {spec.pollers} pollers, {spec.submitters} submitters, "
        f"{len(spec.follow_running) + len(spec.follow_done)} followers, "
        f"{spec.warmup_s:g}s warm-up + {spec.duration_s:g}s"
    )
    command = [sys.executable, str(Path(__file__).resolve()), "_loadgen"]
    command.append(json.dumps(dataclasses.asdict(spec)))
    limit = spec.warmup_s + spec.duration_s + spec.drain_s + spec.timeout_s + 30
    samples: dict[str, tuple[float, float, float, float]] = {}
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
                        api_bench.cpu_seconds(service.pid),
                        *api_bench.machine_cpu_seconds(),
                        run_queue_wait_s(service.pid),
                    )
                    on_window(line)
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
    if service.process.poll() is not None:
        raise api_bench.BenchError(f"the service exited during {name}\n{service.log_tail()}")
    (cpu0, busy0, steal0, wait0), (cpu1, busy1, steal1, wait1) = (
        samples["measuring"],
        samples["stopped"],
    )
    result = json.loads(lines[-1])
    return MixPhase(name, spec, result, cpu1 - cpu0, busy1 - busy0, steal1 - steal0, wait1 - wait0)


def run_queue_wait_s(pid: int) -> float:
    """How long the service's main thread (trio's) has waited for a CPU while runnable."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return math.nan


@dataclasses.dataclass
class Report:
    args: argparse.Namespace
    baseline: MixPhase
    mixed: MixPhase
    memory: dict[str, float]
    #: Problems found after the load (streams against the files' sizes), by kind.
    after_errors: dict[str, int]
    jobs: dict[str, Any]

    def errors(self) -> dict[str, int]:
        total: collections.Counter[str] = collections.Counter()
        for phase in (self.baseline, self.mixed):
            total.update(phase.result["errors"])
            total.update(phase.result["errors_outside_window"])
        total.update(self.after_errors)
        return dict(total)

    def rss_growth(self) -> float:
        start = self.memory["window_start"]
        return (self.memory["window_end"] - start) / start

    def verdicts(self) -> list[tuple[str, bool, str]]:
        errors = sum(self.errors().values())
        p99 = self.mixed.latency("status_ms")["p99"]
        growth = self.rss_growth()
        return [
            ("zero errors", errors == 0, f"{errors} errors"),
            (
                f"status p99 <= {TARGET_STATUS_P99_MS:g} ms",
                p99 <= TARGET_STATUS_P99_MS,
                f"{p99:.1f} ms",
            ),
            (
                f"memory flat (within {TARGET_RSS_GROWTH:.0%})",
                abs(growth) <= TARGET_RSS_GROWTH,
                f"{growth:+.1%}",
            ),
        ]

    def too_many_errors(self) -> bool:
        requests = sum(
            len(phase.result[key])
            for phase in (self.baseline, self.mixed)
            for key in ("status_ms", "submitted")
        )
        return sum(self.errors().values()) > api_bench.MAX_ERROR_RATE * max(1, requests)

    def consistent(self) -> bool:
        return bool(self.jobs["count_matches"] and self.jobs["numbers_unique"])

    def as_dict(self) -> dict[str, Any]:
        mixed, base = self.mixed, self.baseline
        loaded, alone = mixed.latency("status_ms"), base.latency("status_ms")
        return {
            "duration_s": self.args.duration,
            "cpus": os.cpu_count(),
            "clients": {
                "pollers": mixed.spec.pollers,
                "poll_interval_s": mixed.spec.poll_interval_s,
                "submitters": mixed.spec.submitters,
                "submit_interval_s": mixed.spec.submit_interval_s,
                "followers_running": len(mixed.spec.follow_running),
                "followers_done": len(mixed.spec.follow_done),
            },
            "errors": self.errors(),
            "status_alone_ms": alone,
            "status_alone_per_s": base.rate("status_ms"),
            "status_loaded_ms": loaded,
            "status_loaded_per_s": mixed.rate("status_ms"),
            "status_ratio_loaded_to_alone": {key: loaded[key] / alone[key] for key in loaded},
            "status_p99_by_tenth_ms": mixed.result["status_p99_by_tenth_ms"],
            "status_bytes_by_tenth": mixed.result["status_bytes_by_tenth"],
            "submissions_per_s": mixed.rate("submit_ms"),
            "submission_ms": mixed.latency("submit_ms"),
            "log_bytes_per_s": mixed.rate("log_bytes"),
            "done_log_reads_per_s": mixed.rate("done_reads"),
            "log_streams_ended": len(mixed.result["streams"]),
            "cpu_alone": base.cpu(),
            "cpu_loaded": mixed.cpu(),
            "service_rss_mb": self.memory,
            "rss_growth": self.rss_growth(),
            "jobs": self.jobs,
            "targets": {name: {"pass": ok, "value": value} for name, ok, value in self.verdicts()},
            "too_many_errors": self.too_many_errors(),
            "consistent": self.consistent(),
        }


def format_table(report: Report) -> str:
    data = report.as_dict()
    clients = data["clients"]

    def cpu(split: dict[str, float]) -> str:
        return (
            f"srv {split['server_pct']:.0f}%, gen {split['loadgen_pct']:.0f}%, "
            f"other {split['other_pct']:.0f}%, steal {split['steal_pct']:.0f}%; the service's "
            f"event loop waited for a CPU {split['event_loop_cpu_wait_pct']:.0f}% of the time"
        )

    def ms(figures: dict[str, float]) -> str:
        return " / ".join(f"{figures[key]:.1f}" for key in ("p50", "p99", "max")) + " ms"

    ratio = data["status_ratio_loaded_to_alone"]
    memory = data["service_rss_mb"]
    tenths = zip(data["status_p99_by_tenth_ms"], data["status_bytes_by_tenth"], strict=True)
    jobs = data["jobs"]
    lines = [
        f"Snakepit mixed load: {data['duration_s']:g}s, {data['cpus']} CPUs; "
        f"{clients['pollers']} status pollers (every {clients['poll_interval_s']:g}s), "
        f"{clients['submitters']} submitters (closed loop"
        + (f", every {clients['submit_interval_s']:g}s" if clients["submit_interval_s"] else "")
        + f"), {clients['followers_running'] + clients['followers_done']} log followers "
        f"({clients['followers_running']} on running jobs, {clients['followers_done']} re-reading "
        "done logs)",
        "",
        f"GET /jobs/status alone    p50/p99/max {ms(data['status_alone_ms'])}, "
        f"{data['status_alone_per_s']:.0f}/s; CPU {cpu(data['cpu_alone'])}, "
        f"{data['cpu_alone']['server_ms_per_status']:.1f} ms of service CPU per call",
        f"GET /jobs/status loaded   p50/p99/max {ms(data['status_loaded_ms'])}, "
        f"{data['status_loaded_per_s']:.0f}/s",
        f"  loaded / alone          p50 {ratio['p50']:.1f}x, p99 {ratio['p99']:.1f}x, "
        f"max {ratio['max']:.1f}x",
        "  p99 by tenth of the window (answer size): "
        + ", ".join(f"{p99:.0f} ms ({size / 1000:.0f} kB)" for p99, size in tenths),
        f"POST /jobs                {data['submissions_per_s']:.1f} submissions/s, "
        f"p50/p99/max {ms(data['submission_ms'])}",
        f"GET /jobs/<n>/log         {data['log_bytes_per_s'] / 1000:.1f} kB/s of log, "
        f"{data['done_log_reads_per_s']:.1f} done logs read/s, "
        f"{data['log_streams_ended']} of {clients['followers_running']} followed streams "
        "ended complete after their jobs",
        f"CPU under load            {cpu(data['cpu_loaded'])}",
        "  (% of one core: srv = service, gen = load generator, other = rest of the machine,",
        "  the bench's log appender and memory sampler included; steal = hypervisor)",
        f"service RSS               before {memory['before']:.1f} MB, window start "
        f"{memory['window_start']:.1f}, end {memory['window_end']:.1f}, max "
        f"{memory['window_max']:.1f}, after the load {memory['after']:.1f} MB "
        f"({data['rss_growth']:+.1%} over the window)",
        f"jobs in the database      {jobs['in_database']} = {jobs['written']} written by the bench "
        f"+ 1 pre-check + {jobs['answered']} submissions answered: "
        + ("OK" if report.consistent() else "MISMATCH"),
        "  states: " + ", ".join(f"{state} {count}" for state, count in jobs["states"].items()),
        "errors: "
        + (", ".join(f"{kind}: {n}" for kind, n in sorted(data["errors"].items())) or "none"),
        "",
        "targets:",
    ]
    for name, ok, value in report.verdicts():
        lines.append(f"  {name:<28}{value:>14}   {'PASS' if ok else 'FAIL'}")
    if report.too_many_errors():
        lines.append(f"ERRORS: more than {api_bench.MAX_ERROR_RATE:.0%} of the requests failed")
    return "\n".join(lines)


def check_jobs(database: Path, written: int, submitted: list[int]) -> dict[str, Any]:
    """The jobs in the database against the bench's own and the answered submissions."""
    from snakepit.jobs.states import JobState

    connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        count = connection.execute("SELECT count(*) FROM jobs").fetchone()[0]
        states = collections.Counter(
            JobState(row[0]).name for row in connection.execute("SELECT state FROM jobs")
        )
    finally:
        connection.close()
    return {
        "in_database": count,
        "written": written,
        "answered": len(submitted),
        "count_matches": count == written + 1 + len(submitted),
        "numbers_unique": len(set(submitted)) == len(submitted),
        "states": dict(sorted(states.items())),
    }


def check_streams(
    streams: list[list[int]], jobs: list[int], sizes: dict[int, int]
) -> dict[str, int]:
    """Each followed running log must have ended once, with all of its file's bytes."""
    problems: collections.Counter[str] = collections.Counter()
    ended = collections.Counter(job for job, _ in streams)
    for job, received in streams:
        if received != sizes[job]:
            problems["follow: stream ended short of the log"] += 1
    problems["follow: stream never ended"] += max(0, len(jobs) - sum(ended.values()))
    return {kind: n for kind, n in problems.items() if n}


def run_benchmark(args: argparse.Namespace) -> Report:
    with tempfile.TemporaryDirectory(prefix="snakepit-bench-") as tmp:
        folder = Path(tmp)
        port = api_bench.free_port()
        config = api_bench.write_service_config(folder, port)
        root = folder / "root"
        database = root / "snakepit.db"
        command = [sys.executable, "-m", "snakepit", "serve", "--config", str(config)]
        api_bench.progress(f"starting the service on port {port}")
        server = api_bench.Server("snakepit", command, port, folder / "snakepit.log")
        with api_bench.running(server) as service:
            service.wait_ready("/hello", "Here I am")
            token = api_bench.sign_in(port)
            submit_bench.add_node(database)
            submit_bench.submit_once(port, token)
            running, done = create_jobs(database, root, args.running_jobs, args.done_followers)
            memory = MemorySampler(service.pid)
            memory.mark("before")
            memory.ticker.start()
            try:
                baseline = run_mix(
                    "status alone",
                    service,
                    MixSpec(
                        port,
                        token,
                        args.baseline_duration,
                        args.warmup,
                        args.pollers,
                        args.poll_interval,
                    ),
                )
                done_sizes = {
                    str(job): (root / "pits" / str(job) / "pit.log").stat().st_size for job in done
                }
                follow_running = [
                    running[index % len(running)]
                    for index in range(args.followers - args.done_followers)
                ]
                spec = MixSpec(
                    port, token, args.duration, args.warmup, args.pollers, args.poll_interval,
                    args.submitters, args.submit_interval, follow_running, done, done_sizes,
                )  # fmt: skip
                appender = LogAppender(root, running)
                appender.ticker.start()

                def on_window(edge: str) -> None:
                    if edge == "measuring":
                        memory.mark("window_start")
                        return
                    memory.mark("window_end")
                    appender.ticker.stop()
                    appender.append()  # a last line, then the jobs end
                    end_jobs(database, running)

                try:
                    mixed = run_mix("mixed load", service, spec, on_window)
                finally:
                    if appender.ticker.is_alive():
                        appender.ticker.stop()
            finally:
                memory.ticker.stop()
            window = memory.samples[
                int(memory.marks["window_start_index"]) : int(memory.marks["window_end_index"])
            ]
            rss = {key: memory.marks[key] for key in ("before", "window_start", "window_end")}
            rss["window_max"] = max([*window, rss["window_start"], rss["window_end"]])
            rss["after"] = api_bench.memory_mb(service.pid)["VmRSS"]
            after_errors = check_streams(mixed.result["streams"], follow_running, appender.sizes())
            jobs = check_jobs(database, len(running) + len(done), mixed.result["submitted"])
    return Report(args, baseline, mixed, rss, after_errors, jobs)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--duration", type=float, default=60.0, help="seconds of mixed load; default 60")
    add("--warmup", type=float, default=5.0, help="seconds before each window; default 5")
    add("--baseline-duration", type=float, default=10.0, help="status alone; default 10 s")
    add("--pollers", type=int, default=50, help="GET /jobs/status clients; default 50")
    add(
        "--poll-interval",
        type=float,
        default=1.0,
        help="seconds between polls (0: closed loop); default 1",
    )
    add("--submitters", type=int, default=20, help="POST /jobs clients; default 20")
    add("--submit-interval", type=float, default=0.0, help="seconds between submissions; default 0")
    add("--followers", type=int, default=50, help="GET /jobs/<n>/log clients; default 50")
    add("--done-followers", type=int, default=10, help="of them, re-reading done logs; 10")
    add("--running-jobs", type=int, default=20, help="running jobs whose logs grow; default 20")
    add("--json", action="store_true", help="JSON on stdout, the table on stderr")
    args = parser.parse_args(argv)
    if min(args.duration, args.baseline_duration, args.pollers, args.running_jobs) <= 0:
        parser.error("durations, --pollers and --running-jobs must be positive")
    if min(args.warmup, args.poll_interval, args.submit_interval, args.submitters) < 0:
        parser.error("--warmup, --poll-interval, --submit-interval and --submitters must be >= 0")
    if not 0 <= args.done_followers < args.followers:
        parser.error("--done-followers must be at least 0 and fewer than --followers")
    return args


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["_loadgen"]:
        try:
            return loadgen_main(argv[1])
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
        print(json.dumps(submit_bench.json_safe(report.as_dict()), indent=2))
    else:
        print(table)
    if not report.consistent():
        return EXIT_INCONSISTENT
    return api_bench.EXIT_TOO_MANY_ERRORS if report.too_many_errors() else api_bench.EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
