"""Load benchmark of the Snakepit HTTP API against the real service.

What is measured
    The service is started as it runs in production (``python -m snakepit serve`` with a YAML
    configuration, a SQLite database and a token secret in a temporary folder). A user is
    registered and signs in, then 50 keep-alive clients send authenticated ``GET /users/bench``
    for 20 s: one request in flight per connection, the next sent as soon as the answer is
    complete. That request is the tracked figure because nearly every API call goes through the
    same path: hypercorn, Quart routing, token check (HMAC + JSON), SQLite reads in worker
    threads, JSON rendering. Each phase warms up for 1 s, then measures; a response counts if
    it completes inside the measured window. Only 200 answers (with the expected body) count as
    successes; anything else is an error, reported by kind.

Why ratios
    Absolute figures depend on the machine, and the machines this runs on are shared and noisy.
    So the same run also measures two baselines with the same load generator:

    * raw ASGI: a trivial ASGI callable (200, a small fixed JSON body) served by hypercorn's trio
      worker with the service's hypercorn settings. It is the ceiling of the HTTP stack on this
      machine at this moment; ``auth / raw`` is the share of it the service keeps.
    * ``GET /hello`` on the real service (no token, no database), for a third of the duration:
      the cost of Quart + the service's middleware without authentication and storage.

    The load generator runs in its own process (its own GIL) and speaks HTTP/1.1 over plain
    sockets with ``selectors``, which costs far less CPU per request than an HTTP client library,
    so on a 2-core machine it takes as little as possible from the server. The CPU time used in
    the measured window by the server, the load generator, the rest of the machine and the
    hypervisor (steal) is reported: it shows which side is the bottleneck, and how noisy the
    machine was.

Memory
    The service's resident memory after the load: VmRSS and the peak VmHWM from /proc.

Usage
    .venv/bin/python bench/api.py [--duration 20] [--clients 50] [--json]

Exit status: 0 whatever the verdicts (this is a report); 1 when the service or a baseline
cannot be started or the load generator fails; 3 when more than 1% of the requests of a phase
failed.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import dataclasses
import json
import math
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
USER = "bench"
PASSWORD = "benchpassword1"

TARGET_RPS = 1000.0
TARGET_P99_MS = 50.0
TARGET_RSS_MB = 100.0
MAX_ERROR_RATE = 0.01

EXIT_OK = 0
EXIT_SETUP_FAILED = 1
EXIT_TOO_MANY_ERRORS = 3

#: How long a server may take to answer its first request after being started.
START_TIMEOUT_S = 30.0
#: SIGTERM, then this long to exit before SIGKILL.
STOP_GRACE_S = 5.0


class BenchError(Exception):
    """The benchmark cannot go on (a server does not start, the load generator fails)."""


# --------------------------------------------------------------------------------------------
# Load generator: runs in its own process (``api.py _loadgen SPEC``), prints a JSON result.
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class LoadSpec:
    """What one load phase sends, to where, for how long."""

    port: int
    path: str
    clients: int
    duration_s: float
    warmup_s: float = 1.0
    timeout_s: float = 10.0
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    #: A response body must contain this to count as a success.
    expect: str | None = None


@dataclasses.dataclass(frozen=True)
class LoadResult:
    """What the load generator saw in the measured window (after the warm-up)."""

    ok: int
    #: Failures inside the measured window, by kind ("HTTP 500", "timeout", ...).
    errors: dict[str, int]
    #: Failures during the warm-up or the drain after the window (not in the error rate).
    errors_outside_window: dict[str, int]
    elapsed_s: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    cpu_s: float
    #: Successes completed in each second of the measured window.
    per_second: list[int] = dataclasses.field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def error_rate(self) -> float:
        total = self.ok + self.error_count
        return self.error_count / total if total else 1.0

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0


class ProtocolError(Exception):
    """A response the load generator cannot frame (no Content-Length, bad status line)."""


def build_request(spec: LoadSpec) -> bytes:
    lines = [f"GET {spec.path} HTTP/1.1", f"Host: {HOST}:{spec.port}", "Accept: */*"]
    lines += [f"{name}: {value}" for name, value in spec.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse_response(buffer: bytearray) -> tuple[int, int, int, bool] | None:
    """Frame one response at the start of ``buffer``.

    Returns:
        ``None`` while incomplete, else (status, body start, response end, connection closes).

    Raises:
        ProtocolError: the status line or Content-Length is missing or malformed.
    """
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    head = bytes(buffer[:head_end]).lower()
    if not head.startswith(b"http/1.1 ") or len(head) < 12:
        raise ProtocolError("bad status line")
    status = int(head[9:12])
    start = head.find(b"\r\ncontent-length:")
    if start < 0:
        raise ProtocolError("no content-length")
    stop = head.find(b"\r\n", start + 2)
    length = int(head[start + 17 : stop if stop >= 0 else len(head)])
    body_start = head_end + 4
    end = body_start + length
    if len(buffer) < end:
        return None
    return status, body_start, end, b"\r\nconnection: close" in head


class _Connection:
    __slots__ = ("buffer", "sent_ns", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.sent_ns = 0


class LoadGenerator:
    """``clients`` keep-alive connections, each with one request in flight at a time."""

    def __init__(self, spec: LoadSpec) -> None:
        self.spec = spec
        self.request = build_request(spec)
        self.selector = selectors.DefaultSelector()
        self.latencies_ns: list[int] = []
        self.statuses: collections.Counter[str] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        #: Errors during the warm-up or while the last requests finish.
        self.errors_outside: collections.Counter[str] = collections.Counter()
        self.record_from_ns = 0
        self.stop_at_ns = 0
        self.per_second: collections.Counter[int] = collections.Counter()
        self.window_ns = (0, 0)
        self.cpu_s = 0.0
        self.active = 0
        self.expect = spec.expect.encode() if spec.expect else None

    def run(self) -> LoadResult:
        """Warm up, measure, then let the requests in flight finish (not counted)."""
        connections = [self._connect() for _ in range(self.spec.clients)]
        start = time.perf_counter_ns()
        self.record_from_ns = start + int(self.spec.warmup_s * 1e9)
        self.stop_at_ns = self.record_from_ns + int(self.spec.duration_s * 1e9)
        for connection in connections:
            if connection is not None:
                self.active += 1
                self._send(connection, start)
        self._run_until(self.record_from_ns)
        began_ns, cpu_start = _mark("measuring")
        self._run_until(self.stop_at_ns)
        ended_ns, cpu_end = _mark("stopped")
        self.window_ns = (began_ns, ended_ns)
        self.cpu_s = cpu_end - cpu_start
        self._run_until(None)
        return self._result()

    def _connect(self) -> _Connection | None:
        try:
            sock = socket.create_connection((HOST, self.spec.port), timeout=self.spec.timeout_s)
        except OSError:
            self._count_error("connect", time.perf_counter_ns())
            return None
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection = _Connection(sock)
        self.selector.register(sock, selectors.EVENT_READ, connection)
        return connection

    def _send(self, connection: _Connection, now_ns: int) -> None:
        connection.sent_ns = now_ns
        try:
            connection.sock.sendall(self.request)
        except OSError:
            self._fail(connection, "send", now_ns)

    def _run_until(self, until_ns: int | None) -> None:
        """Serve events until ``until_ns``, or (``None``) until no connection is left."""
        next_sweep_ns = time.perf_counter_ns() + 500_000_000
        now_ns = time.perf_counter_ns()
        while self.active and (until_ns is None or now_ns < until_ns):
            wait_ns = next_sweep_ns - now_ns if until_ns is None else until_ns - now_ns
            events = self.selector.select(max(0.0, min(wait_ns, 500_000_000) / 1e9))
            now_ns = time.perf_counter_ns()
            for key, _ in events:
                self._on_readable(key.data, now_ns)
            if now_ns >= next_sweep_ns:
                self._sweep_timeouts(now_ns)
                next_sweep_ns = now_ns + 500_000_000

    def _on_readable(self, connection: _Connection, now_ns: int) -> None:
        try:
            data = connection.sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            self._fail(connection, "closed by server", now_ns)
            return
        buffer = connection.buffer
        buffer += data
        try:
            framed = parse_response(buffer)
        except (ProtocolError, ValueError) as error:
            self._fail(connection, f"protocol: {error}", now_ns)
            return
        if framed is None:
            return
        status, body_start, end, closes = framed
        self._record(connection, status, buffer[body_start:end], now_ns)
        del buffer[:end]
        if closes:
            self._replace(connection, now_ns)
        elif now_ns < self.stop_at_ns:
            self._send(connection, now_ns)
        else:
            self._retire(connection)

    def _record(self, connection: _Connection, status: int, body: bytearray, now_ns: int) -> None:
        """Count a response; successes only inside the measured window, errors always."""
        if status == 200 and (self.expect is None or self.expect in body):
            if self.record_from_ns <= now_ns < self.stop_at_ns:
                self.latencies_ns.append(now_ns - connection.sent_ns)
                self.per_second[(now_ns - self.record_from_ns) // 1_000_000_000] += 1
        elif status == 200:
            self._count_error("200 with unexpected body", now_ns)
        else:
            self._count_error(f"HTTP {status}", now_ns)

    def _count_error(self, kind: str, now_ns: int) -> None:
        inside = self.record_from_ns <= now_ns < self.stop_at_ns
        (self.errors if inside else self.errors_outside)[kind] += 1

    def _sweep_timeouts(self, now_ns: int) -> None:
        limit_ns = int(self.spec.timeout_s * 1e9)
        for key in list(self.selector.get_map().values()):
            connection: _Connection = key.data
            if now_ns - connection.sent_ns > limit_ns:
                self._fail(connection, "timeout", now_ns)

    def _fail(self, connection: _Connection, kind: str, now_ns: int) -> None:
        self._count_error(kind, now_ns)
        self._replace(connection, now_ns)

    def _replace(self, connection: _Connection, now_ns: int) -> None:
        """Close a connection and open a new one in its place while the phase lasts."""
        self._retire(connection)
        if now_ns >= self.stop_at_ns:
            return
        fresh = self._connect()
        if fresh is not None:
            self.active += 1
            self._send(fresh, time.perf_counter_ns())

    def _retire(self, connection: _Connection) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(connection.sock)
            self.active -= 1
        connection.sock.close()

    def _result(self) -> LoadResult:
        latencies = sorted(self.latencies_ns)
        began_ns, ended_ns = self.window_ns
        return LoadResult(
            ok=len(latencies),
            errors=dict(self.errors),
            errors_outside_window=dict(self.errors_outside),
            elapsed_s=(ended_ns - began_ns) / 1e9,
            p50_ms=percentile_ms(latencies, 0.50),
            p90_ms=percentile_ms(latencies, 0.90),
            p99_ms=percentile_ms(latencies, 0.99),
            max_ms=latencies[-1] / 1e6 if latencies else math.nan,
            mean_ms=sum(latencies) / len(latencies) / 1e6 if latencies else math.nan,
            cpu_s=self.cpu_s,
            per_second=[self.per_second[second] for second in range(int(self.spec.duration_s))],
        )


def _mark(event: str) -> tuple[int, float]:
    """Tell the parent a window edge was reached (it samples server CPU then)."""
    print(event, flush=True)
    return time.perf_counter_ns(), time.process_time()


def percentile_ms(sorted_ns: Sequence[int], fraction: float) -> float:
    """Nearest-rank percentile of sorted nanosecond samples, in milliseconds."""
    if not sorted_ns:
        return math.nan
    rank = max(1, math.ceil(fraction * len(sorted_ns)))
    return sorted_ns[rank - 1] / 1e6


def loadgen_main(spec_json: str) -> int:
    spec = LoadSpec(**json.loads(spec_json))
    result = LoadGenerator(spec).run()
    print(json.dumps(dataclasses.asdict(result)))
    return 0


# --------------------------------------------------------------------------------------------
# Raw ASGI baseline: runs in its own process (``api.py _asgi PORT``).
# --------------------------------------------------------------------------------------------

RAW_BODY = b'{"id":"bench","fullname":"Bench","email":null,"admin":false}\n'
RAW_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(RAW_BODY)).encode()),
]


async def raw_asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest useful ASGI app: 200 and a fixed JSON body for every HTTP request."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": RAW_HEADERS})
    await send({"type": "http.response.body", "body": RAW_BODY})


def asgi_main(port: int) -> int:
    import hypercorn.config
    import hypercorn.trio
    import trio

    config = hypercorn.config.Config()
    # The same settings as snakepit.server.hypercorn_config.
    config.bind = [f"{HOST}:{port}"]
    config.accesslog = None
    config.keep_alive_timeout = 75
    config.backlog = 1024
    app: Any = raw_asgi_app  # hypercorn's ASGI type is a union of TypedDict signatures
    trio.run(hypercorn.trio.serve, app, config)
    return 0


# --------------------------------------------------------------------------------------------
# Orchestration: servers, phases, report.
# --------------------------------------------------------------------------------------------


def progress(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine spent busy and stolen by the hypervisor (all cores)."""
    ticks = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    steal = ticks[7] if len(ticks) > 7 else 0
    # guest time is already counted in user and nice.
    busy = sum(ticks[:8]) - idle - steal
    hertz = os.sysconf("SC_CLK_TCK")
    return busy / hertz, steal / hertz


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) of a process, in MB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) / 1024  # kB → MB
    return values


class Server:
    """A server subprocess whose output goes to a log file; stopped by :meth:`stop`."""

    def __init__(self, name: str, command: list[str], port: int, log_path: Path) -> None:
        self.name = name
        self.port = port
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, path: str, expect_body: str | None) -> None:
        """Poll ``path`` until it answers 200 (and ``expect_body``); BenchError otherwise."""
        deadline = time.monotonic() + START_TIMEOUT_S
        url = f"http://{HOST}:{self.port}{path}"
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise BenchError(
                        f"{self.name} exited with {self.process.returncode}\n" + self.log_tail()
                    )
                with contextlib.suppress(httpx.TransportError):
                    response = client.get(url)
                    if response.status_code == 200 and (
                        expect_body is None or response.text == expect_body
                    ):
                        return
                time.sleep(0.05)
        raise BenchError(
            f"{self.name} did not answer {path} within {START_TIMEOUT_S:g}s\n" + self.log_tail()
        )

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            progress(f"{self.name} ignored SIGTERM for {STOP_GRACE_S:g}s; killing it")
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


def write_service_config(folder: Path, port: int) -> Path:
    secret = folder / "token-secret"
    secret.write_bytes(base64.b64encode(os.urandom(48)) + b"\n")
    secret.chmod(0o600)
    config = folder / "snakepit.conf"
    config.write_text(
        f"interface: {HOST}\n"
        f"port: {port}\n"
        f"mountRoot: {folder / 'root'}\n"
        f"tokenSecretPath: {secret}\n"
        "hashRounds: 4\n"
        "logLevel: 2\n"
    )
    return config


def sign_in(port: int) -> str:
    """Register the bench user and return a token for it (checked on ``GET /users/bench``)."""
    try:
        with httpx.Client(base_url=f"http://{HOST}:{port}", timeout=10.0) as client:
            registered = client.put(
                f"/users/{USER}", json={"password": PASSWORD, "fullname": "Bench"}
            )
            _expect_ok(registered, "registration")
            signed_in = client.post(f"/users/{USER}/authenticate", json={"password": PASSWORD})
            _expect_ok(signed_in, "authentication")
            token = str(signed_in.json()["token"])
            _expect_ok(client.get(f"/users/{USER}", headers={"X-Auth-Token": token}), "check")
            return token
    except (httpx.HTTPError, ValueError, KeyError) as error:
        raise BenchError(f"cannot sign in as {USER}: {error!r}") from None


def _expect_ok(response: httpx.Response, step: str) -> None:
    if response.status_code != 200:
        request = response.request
        raise BenchError(
            f"{step}: {request.method} {request.url.path} answered "
            f"HTTP {response.status_code} {response.text}"
        )


@dataclasses.dataclass(frozen=True)
class Phase:
    """One measured phase: its load result and the server's CPU use during it."""

    name: str
    path: str
    result: LoadResult
    server_cpu_s: float
    machine_busy_s: float
    machine_steal_s: float

    def as_dict(self, baseline_rps: float | None) -> dict[str, Any]:
        result = self.result
        elapsed = result.elapsed_s or math.nan
        return {
            "name": self.name,
            "path": self.path,
            "rps": result.rps,
            "ok": result.ok,
            "errors": result.error_count,
            "error_kinds": result.errors,
            "errors_outside_window": result.errors_outside_window,
            "error_rate": result.error_rate,
            "p50_ms": result.p50_ms,
            "p90_ms": result.p90_ms,
            "p99_ms": result.p99_ms,
            "max_ms": result.max_ms,
            "mean_ms": result.mean_ms,
            "duration_s": result.elapsed_s,
            "server_cpu_pct": 100 * self.server_cpu_s / elapsed,
            "server_cpu_ms_per_request": 1000 * self.server_cpu_s / result.ok
            if result.ok
            else math.nan,
            "loadgen_cpu_pct": 100 * result.cpu_s / elapsed,
            # Clock-tick rounding can make a difference of small values slightly negative.
            "other_cpu_pct": max(
                0.0, 100 * (self.machine_busy_s - self.server_cpu_s - result.cpu_s) / elapsed
            ),
            "steal_cpu_pct": 100 * self.machine_steal_s / elapsed,
            "rps_per_second": result.per_second,
            "ratio_to_raw": result.rps / baseline_rps if baseline_rps else math.nan,
        }


def run_phase(name: str, server: Server, spec: LoadSpec) -> Phase:
    """Run the load generator against ``server`` and sample CPU use at its window edges."""
    progress(f"{name}: {spec.clients} clients on {spec.path} for {spec.duration_s:g}s")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "_loadgen",
        json.dumps(dataclasses.asdict(spec)),
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
                    samples[line] = (cpu_seconds(server.pid), *machine_cpu_seconds())
                else:
                    lines.append(line)
            generator.wait()
        finally:
            # Interrupted or failed: stop the generator before the server is stopped.
            watchdog.cancel()
            if generator.poll() is None:
                generator.kill()
                generator.wait()
    if generator.returncode != 0 or len(samples) != 2 or not lines:
        raise BenchError(f"load generator for {name} failed (exit {generator.returncode})")
    if server.process.poll() is not None:
        raise BenchError(f"{server.name} exited during {name}\n{server.log_tail()}")
    result = LoadResult(**json.loads(lines[-1]))
    (cpu0, busy0, steal0), (cpu1, busy1, steal1) = samples["measuring"], samples["stopped"]
    return Phase(name, spec.path, result, cpu1 - cpu0, busy1 - busy0, steal1 - steal0)


@dataclasses.dataclass
class Report:
    clients: int
    duration_s: float
    phases: dict[str, Phase]
    memory: dict[str, float]

    def verdicts(self) -> list[tuple[str, bool, str]]:
        auth = self.phases["auth"].result
        peak = self.memory.get("VmHWM", math.nan)
        return [
            (f">= {TARGET_RPS:g} req/s", auth.rps >= TARGET_RPS, f"{auth.rps:.0f} req/s"),
            (f"p99 <= {TARGET_P99_MS:g} ms", auth.p99_ms <= TARGET_P99_MS, f"{auth.p99_ms:.1f} ms"),
            (f"RSS < {TARGET_RSS_MB:g} MB", peak < TARGET_RSS_MB, f"{peak:.1f} MB peak"),
        ]

    def too_many_errors(self) -> bool:
        return any(phase.result.error_rate > MAX_ERROR_RATE for phase in self.phases.values())

    def as_dict(self) -> dict[str, Any]:
        raw_rps = self.phases["raw"].result.rps
        return {
            "clients": self.clients,
            "duration_s": self.duration_s,
            "cpus": os.cpu_count(),
            "phases": {key: phase.as_dict(raw_rps) for key, phase in self.phases.items()},
            "service_rss_mb": self.memory.get("VmRSS"),
            "service_peak_rss_mb": self.memory.get("VmHWM"),
            "targets": {name: {"pass": ok, "value": value} for name, ok, value in self.verdicts()},
            "too_many_errors": self.too_many_errors(),
        }


#: Table columns: heading, width, JSON key in a phase, format.
COLUMNS = [
    ("req/s", 8, "rps", "{:.0f}"),
    ("vs raw", 8, "ratio_to_raw", "{:.2f}"),
    ("p50 ms", 8, "p50_ms", "{:.1f}"),
    ("p99 ms", 8, "p99_ms", "{:.1f}"),
    ("max ms", 8, "max_ms", "{:.1f}"),
    ("errors", 8, "errors", "{:d}"),
    ("srv", 6, "server_cpu_pct", "{:.0f}%"),
    ("ms/req", 8, "server_cpu_ms_per_request", "{:.2f}"),
    ("gen", 6, "loadgen_cpu_pct", "{:.0f}%"),
    ("other", 7, "other_cpu_pct", "{:.0f}%"),
    ("steal", 7, "steal_cpu_pct", "{:.0f}%"),
]
NAME_WIDTH = 28


def format_table(report: Report) -> str:
    data = report.as_dict()
    heading = "".join(f"{title:>{width}}" for title, width, _, _ in COLUMNS)
    lines = [
        f"Snakepit API benchmark: {report.clients} keep-alive clients, "
        f"{report.duration_s:g}s per phase (/hello: a third), {data['cpus']} CPUs",
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
    auth = data["phases"]["auth"]
    lines += [
        "",
        "CPU, in % of one core: srv = server process (all threads), gen = load generator,",
        "other = rest of the machine, steal = taken by the hypervisor (noise if high);",
        "ms/req = server CPU milliseconds per successful request.",
        "",
        f"authenticated / raw ASGI: {auth['ratio_to_raw']:.2f} of the HTTP stack's ceiling",
        f"service memory after load: VmRSS {data['service_rss_mb']:.1f} MB, "
        f"peak (VmHWM) {data['service_peak_rss_mb']:.1f} MB",
        "",
        f"target (authenticated GET /users/{USER}): "
        f">= {TARGET_RPS:g} req/s, p99 <= {TARGET_P99_MS:g} ms, RSS < {TARGET_RSS_MB:g} MB",
    ]
    for name, ok, value in report.verdicts():
        lines.append(f"  {name:<18}{value:>16}   {'PASS' if ok else 'FAIL'}")
    if report.too_many_errors():
        lines.append(f"ERRORS: more than {MAX_ERROR_RATE:.0%} of the requests of a phase failed")
    return "\n".join(lines)


def measure_service(
    args: argparse.Namespace, folder: Path
) -> tuple[dict[str, Phase], dict[str, float]]:
    port = free_port()
    config = write_service_config(folder, port)
    command = [sys.executable, "-m", "snakepit", "serve", "--config", str(config)]
    progress(f"starting the service on port {port}")
    with running(Server("snakepit", command, port, folder / "snakepit.log")) as service:
        service.wait_ready("/hello", "Here I am")
        token = sign_in(port)
        hello = run_phase(
            "GET /hello (service)",
            service,
            LoadSpec(port, "/hello", args.clients, args.duration / 3, expect="Here I am"),
        )
        auth = run_phase(
            f"GET /users/{USER} (token)",
            service,
            LoadSpec(
                port,
                f"/users/{USER}",
                args.clients,
                args.duration,
                headers={"X-Auth-Token": token},
                expect=f'"id":"{USER}"',
            ),
        )
        memory = memory_mb(service.pid)
    return {"hello": hello, "auth": auth}, memory


def measure_raw_asgi(args: argparse.Namespace, folder: Path) -> Phase:
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "_asgi", str(port)]
    progress(f"starting the raw ASGI baseline on port {port}")
    with running(Server("raw ASGI", command, port, folder / "raw-asgi.log")) as raw:
        raw.wait_ready("/", None)
        return run_phase(
            "raw ASGI (hypercorn-trio)",
            raw,
            LoadSpec(port, "/", args.clients, args.duration, expect='"id":"bench"'),
        )


def run_benchmark(args: argparse.Namespace) -> Report:
    with tempfile.TemporaryDirectory(prefix="snakepit-bench-") as tmp:
        folder = Path(tmp)
        service_phases, memory = measure_service(args, folder)
        raw = measure_raw_asgi(args, folder)
    phases = {"raw": raw, **service_phases}
    return Report(args.clients, args.duration, phases, memory)


def child_main(argv: Sequence[str]) -> int:
    """The load generator or the raw ASGI server, in a child process of the benchmark."""
    try:
        if argv[0] == "_loadgen":
            return loadgen_main(argv[1])
        return asgi_main(int(argv[1]))
    except (KeyboardInterrupt, BrokenPipeError):
        return 130  # Ctrl-C reaches the children too; the parent reports it


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--duration",
        type=float,
        default=20.0,
        help="seconds of load per phase (GET /hello gets a third); default 20",
    )
    parser.add_argument(
        "--clients", type=int, default=50, help="concurrent keep-alive connections; default 50"
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


def json_safe(value: Any) -> Any:
    """``value`` with NaN replaced by null, so that the output is strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    return value


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str]) -> int:
    if argv[:1] in (["_loadgen"], ["_asgi"]):
        return child_main(argv)
    args = parse_args(argv)
    # SIGTERM cleans up like Ctrl-C: the finally blocks stop the servers, remove the folder.
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    try:
        report = run_benchmark(args)
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return EXIT_SETUP_FAILED
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    table = format_table(report)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(json_safe(report.as_dict()), indent=2))
    else:
        print(table)
    return EXIT_TOO_MANY_ERRORS if report.too_many_errors() else EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
