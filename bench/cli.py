"""Benchmark of the ``pit`` command line against the real service.

What is measured
    1. ``pit status`` with 10,000 jobs in the history (9,950 DONE, 30 WAITING, 20 RUNNING,
       written into the database directly): wall time of the whole command, start-up included,
       median of ``--runs`` runs. Target: under 0.5 s.
    2. ``pit pull home big.bin <file>`` of a 1 GiB file of random bytes: wall time and
       throughput. Target: at least 0.8 of a plain HTTP download of the same route.

Baselines (same run, same service)
    1. ``python -c <http.client GET /jobs/status>``: a fresh interpreter that sends the same
       authenticated request with the standard library and reads the answer, as the floor for
       any Python client started per command.
    2. ``curl`` downloading the same simplefs route (``/users/~/simplefs/content/big.bin``) with
       the token into a file in the same folder: a plain HTTP download.
    Ratios: ``pit status`` / baseline 1 (lower is better), baseline 2 time / ``pit pull`` time
    (throughput share, higher is better). Each download is done ``--pull-runs`` times, the best
    of each kept (the machines are shared and noisy).

Setup
    The service runs as in production (``python -m snakepit serve``) with the temporary
    configuration of ``bench/api.py``; the user ``bench`` is registered, signed in, and its
    token is written into ``.pituser.txt`` of a temporary project folder holding
    ``.pitconnect.txt``, from which ``pit`` runs.

Usage
    .venv/bin/python bench/cli.py [--runs 10] [--pull-runs 2] [--size-mib 1024] [--json]

Exit status: 0 whatever the verdicts (this is a report); 1 when the setup fails or a command
fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import api as api_bench

TARGET_STATUS_S = 0.5
TARGET_PULL_RATIO = 0.8
JOBS = 10_000
RUNNING, WAITING = 20, 30
#: The status request of baseline 1, as a fresh interpreter sends it.
BASELINE_STATUS = """
import http.client, sys
connection = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
connection.request("GET", "/jobs/status", headers={"X-Auth-Token": sys.argv[2]})
answer = connection.getresponse()
assert answer.status == 200, answer.status
answer.read()
"""


def pit_command() -> list[str]:
    script = Path(sys.executable).parent / "pit"
    return [str(script)] if script.exists() else [sys.executable, "-m", "snakepit.cli"]


def add_jobs(database: Path, user: str) -> None:
    """Write the job history straight into the service's database."""
    sys.path.insert(0, str(api_bench.REPO_ROOT))
    from snakepit.jobs.states import JobState
    from snakepit.store.jobs import insert_job, set_state

    connection = sqlite3.connect(database, isolation_level=None)
    connection.row_factory = sqlite3.Row
    try:
        connection.execute("BEGIN IMMEDIATE")
        for index in range(JOBS):
            number = insert_job(
                connection,
                user_id=user,
                description=f"bench job {index}",
                provisioning="Script",
                request="[]",
                continues=None,
                groups=(),
            )
            if index < JOBS - RUNNING - WAITING:
                state = JobState.DONE
            elif index < JOBS - WAITING:
                state = JobState.RUNNING
            else:
                state = JobState.WAITING
            set_state(connection, number, state, "bench")
        connection.execute("COMMIT")
    finally:
        connection.close()


def timed(command: list[str], cwd: Path, stdout: Any = subprocess.DEVNULL) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, stdout=stdout, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise api_bench.BenchError(
            f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}"
        )
    return elapsed


def write_random_file(path: Path, size: int) -> None:
    chunk = os.urandom(64 * 1024 * 1024)
    with path.open("wb") as file:
        left = size
        while left > 0:
            file.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="snakepit-bench-cli-") as tmp:
        folder = Path(tmp)
        port = api_bench.free_port()
        config = api_bench.write_service_config(folder, port)
        command = [sys.executable, "-m", "snakepit", "serve", "--config", str(config)]
        api_bench.progress(f"starting the service on port {port}")
        server = api_bench.Server("snakepit", command, port, folder / "snakepit.log")
        with api_bench.running(server) as service:
            service.wait_ready("/hello", "Here I am")
            token = api_bench.sign_in(port)
            project = folder / "project"
            project.mkdir()
            (project / ".pitconnect.txt").write_text(f"http://{api_bench.HOST}:{port}\n")
            user_file = project / ".pituser.txt"
            user_file.write_text(f"{api_bench.USER}\n{token}")
            user_file.chmod(0o600)
            api_bench.progress(f"writing {JOBS} jobs")
            add_jobs(folder / "root" / "snakepit.db", api_bench.USER)
            pit = pit_command()
            status_runs, baseline_runs = [], []
            api_bench.progress(f"pit status x {args.runs}")
            timed([*pit, "status"], project)  # warm the caches once
            for _ in range(args.runs):
                status_runs.append(timed([*pit, "status"], project))
                baseline_runs.append(
                    timed([sys.executable, "-c", BASELINE_STATUS, str(port), token], project)
                )
            size = args.size_mib * 1024 * 1024
            big = folder / "root" / "home" / api_bench.USER / "big.bin"
            api_bench.progress(f"writing a {args.size_mib} MiB file")
            write_random_file(big, size)
            pull_runs, curl_runs = [], []
            target = project / "down.bin"
            url = f"http://{api_bench.HOST}:{port}/users/~/simplefs/content/big.bin"
            curl = shutil.which("curl")
            if curl is None:
                raise api_bench.BenchError("curl is needed for the download baseline")
            for _ in range(args.pull_runs):
                api_bench.progress("curl download")
                target.unlink(missing_ok=True)
                curl_runs.append(
                    timed(
                        [curl, "-sf", "-o", str(target), "-H", f"X-Auth-Token: {token}", url],
                        project,
                    )
                )
                if target.stat().st_size != size:
                    raise api_bench.BenchError("curl downloaded a wrong size")
                api_bench.progress("pit pull")
                target.unlink()
                pull_runs.append(timed([*pit, "pull", "home", "big.bin", str(target)], project))
                if target.stat().st_size != size:
                    raise api_bench.BenchError("pit pull downloaded a wrong size")
            target.unlink(missing_ok=True)
    status_s = statistics.median(status_runs)
    baseline_s = statistics.median(baseline_runs)
    pull_s, curl_s = min(pull_runs), min(curl_runs)
    return {
        "jobs": JOBS,
        "status_median_s": status_s,
        "status_runs_s": status_runs,
        "status_baseline_median_s": baseline_s,
        "status_ratio": status_s / baseline_s,
        "status_target_s": TARGET_STATUS_S,
        "status_met": status_s < TARGET_STATUS_S,
        "size_mib": args.size_mib,
        "pull_s": pull_s,
        "pull_mb_s": size / pull_s / 1e6,
        "curl_s": curl_s,
        "curl_mb_s": size / curl_s / 1e6,
        "pull_ratio": curl_s / pull_s,
        "pull_target_ratio": TARGET_PULL_RATIO,
        "pull_met": curl_s / pull_s >= TARGET_PULL_RATIO,
    }


def format_table(report: dict[str, Any]) -> str:
    def verdict(flag: bool) -> str:
        return "met" if flag else "NOT met"

    return "\n".join(
        [
            f"pit status, {report['jobs']} jobs: median {report['status_median_s']:.3f} s"
            f" (target < {report['status_target_s']} s: {verdict(report['status_met'])});"
            f" fresh-interpreter http.client baseline {report['status_baseline_median_s']:.3f} s,"
            f" ratio {report['status_ratio']:.2f}",
            f"pit pull, {report['size_mib']} MiB: {report['pull_s']:.2f} s"
            f" ({report['pull_mb_s']:.0f} MB/s); curl {report['curl_s']:.2f} s"
            f" ({report['curl_mb_s']:.0f} MB/s); ratio {report['pull_ratio']:.2f}"
            f" (target >= {report['pull_target_ratio']}: {verdict(report['pull_met'])})",
        ]
    )


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="pit status runs")
    parser.add_argument("--pull-runs", type=int, default=2, help="downloads of each kind")
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the pulled file")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    try:
        report = run_benchmark(args)
    except api_bench.BenchError as error:
        print(f"bench failed: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
