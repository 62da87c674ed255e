"""Data throughput of ``pit mount`` against a plain HTTP download and a local copy.

What is measured
    The real service (``python -m snakepit serve``, as bench/api.py starts it) with the user
    ``bench``, whose home holds a 1 GiB file of random bytes and a folder of 10,000 small files.
    The home is mounted with ``python -m fs`` (a separate process, as ``pit mount`` runs), then,
    in the same run:

    * local copy: the 1 GiB file copied on the local disk (``shutil.copyfile``), the ceiling;
    * HTTP download: ``GET /users/~/fs/data/big.bin`` streamed with httpx and thrown away, what
      ``pit pull`` costs at best (the baseline of the mount's ratio);
    * mount read: the file read through the mount in 1 MiB ``read()`` calls, bytes thrown away;
    * stat: ``os.stat`` of each of the 10,000 files by name through the mount (cold: nothing
      listed before), against the same on the local disk.

    The 1 GiB file is in the page cache for all three reads (it was just written), so the
    figures compare the transport, not the disk.

Targets
    mount read >= 0.5 of the HTTP download and >= 200 MB/s; stat through the mount >= 2,000 per
    second. Each printed as PASS or FAIL.

Usage
    .venv/bin/python bench/data.py [--size-mib 1024] [--files 10000] [--json]

Exit status: 0 whatever the verdicts; 1 when the service or the mount cannot be started.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import api as api_bench

TARGET_MOUNT_VS_HTTP = 0.5
TARGET_MOUNT_MB_S = 200.0
TARGET_STATS_PER_S = 2000.0

EXIT_OK = 0
EXIT_SETUP_FAILED = 1

#: Bytes per read() of the benchmark's readers.
READ_SIZE = 1024 * 1024
#: Seconds the mount may take to come up.
MOUNT_TIMEOUT_S = 30.0

progress = api_bench.progress


def write_big_file(path: Path, size: int) -> str:
    """``size`` random bytes (a random 16 MiB block repeated with a counter); their SHA-256."""
    block = bytearray(os.urandom(16 * 1024 * 1024))
    digest = hashlib.sha256()
    with path.open("wb") as file:
        written, counter = 0, 0
        while written < size:
            block[:8] = counter.to_bytes(8, "little")
            piece = memoryview(block)[: min(len(block), size - written)]
            digest.update(piece)
            file.write(piece)
            written += len(piece)
            counter += 1
    return digest.hexdigest()


def write_small_files(folder: Path, count: int) -> list[str]:
    folder.mkdir()
    names = [f"sample-{index:05d}.txt" for index in range(count)]
    for name in names:
        (folder / name).write_bytes(name.encode())
    return names


def timed_read(path: Path) -> tuple[int, float, str]:
    """Read ``path`` front to back; (bytes, seconds, SHA-256 of the first 64 MiB)."""
    digest = hashlib.sha256()
    buffer = bytearray(READ_SIZE)
    total = 0
    started = time.perf_counter()
    with path.open("rb", buffering=0) as file:
        while count := file.readinto(buffer):
            if total < 64 * 1024 * 1024:
                digest.update(memoryview(buffer)[:count])
            total += count
    return total, time.perf_counter() - started, digest.hexdigest()


def timed_download(port: int, token: str, name: str) -> tuple[int, float]:
    url = f"http://{api_bench.HOST}:{port}/users/~/fs/data/{name}"
    total = 0
    started = time.perf_counter()
    with (
        httpx.Client(headers={"X-Auth-Token": token}, timeout=60.0) as client,
        client.stream("GET", url) as answer,
    ):
        if answer.status_code != 200:
            raise api_bench.BenchError(f"download answered HTTP {answer.status_code}")
        for chunk in answer.iter_raw(READ_SIZE):
            total += len(chunk)
    return total, time.perf_counter() - started


def timed_copy(source: Path, target: Path) -> tuple[int, float]:
    started = time.perf_counter()
    shutil.copyfile(source, target)
    elapsed = time.perf_counter() - started
    size = target.stat().st_size
    target.unlink()
    return size, elapsed


def timed_stats(folder: Path, names: list[str]) -> tuple[int, float]:
    started = time.perf_counter()
    for name in names:
        os.stat(folder / name)
    return len(names), time.perf_counter() - started


@contextlib.contextmanager
def mounted(url: str, token: str, mountpoint: Path, log_path: Path) -> Iterator[int]:
    """Run ``python -m fs URL home MOUNTPOINT``; yields its pid once mounted."""
    mountpoint.mkdir()
    env = {**os.environ, "SNAKEPIT_TOKEN": token}
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "fs", url, "home", str(mountpoint)],
            cwd=api_bench.REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        if not line.startswith("mounted"):
            process.wait(MOUNT_TIMEOUT_S)
            raise api_bench.BenchError(
                f"the mount exited with {process.returncode}: {log_path.read_text()}"
            )
        progress(line.strip())
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(MOUNT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if os.path.ismount(mountpoint):
            subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False)


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    size = args.size_mib * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="snakepit-bench-data-") as tmp:
        folder = Path(tmp)
        port = api_bench.free_port()
        config = api_bench.write_service_config(folder, port)
        command = [sys.executable, "-m", "snakepit", "serve", "--config", str(config)]
        progress(f"starting the service on port {port}")
        server = api_bench.Server("snakepit", command, port, folder / "snakepit.log")
        with api_bench.running(server) as service:
            service.wait_ready("/hello", "Here I am")
            token = api_bench.sign_in(port)
            home = folder / "root" / "home" / api_bench.USER
            progress(f"writing a {args.size_mib} MiB file and {args.files} small files")
            checksum = write_big_file(home / "big.bin", size)
            with (home / "big.bin").open("rb") as file:
                first = hashlib.sha256(file.read(64 * 1024 * 1024)).hexdigest()
            names = write_small_files(home / "many", args.files)

            progress("local copy")
            copy_bytes, copy_s = timed_copy(home / "big.bin", folder / "copy.bin")
            progress("HTTP download")
            http_bytes, http_s = timed_download(port, token, "big.bin")
            url = f"http://{api_bench.HOST}:{port}"
            mountpoint = folder / "mnt"
            with mounted(url, token, mountpoint, folder / "mount.log") as mount_pid:
                progress("read through the mount")
                mount_bytes, mount_s, mount_first = timed_read(mountpoint / "big.bin")
                progress("stat through the mount")
                stat_count, stat_s = timed_stats(mountpoint / "many", names)
                mount_memory = api_bench.memory_mb(mount_pid)
            local_count, local_stat_s = timed_stats(home / "many", names)
        if mount_bytes != size or mount_first != first:
            raise api_bench.BenchError("the bytes read through the mount differ from the file")
    mb = 1e6
    return {
        "sizeBytes": size,
        "sha256": checksum,
        "localCopyMBps": copy_bytes / copy_s / mb,
        "httpMBps": http_bytes / http_s / mb,
        "mountMBps": mount_bytes / mount_s / mb,
        "mountVsHttp": (mount_bytes / mount_s) / (http_bytes / http_s),
        "statsPerS": stat_count / stat_s,
        "localStatsPerS": local_count / local_stat_s,
        "mountMemoryMB": mount_memory,
    }


def format_table(report: dict[str, Any]) -> str:
    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    size_mib = report["sizeBytes"] // (1024 * 1024)
    lines = [
        f"{'what':<44} {'figure':>14}",
        f"{'local copy of ' + str(size_mib) + ' MiB':<44} {report['localCopyMBps']:>9.0f} MB/s",
        f"{'HTTP download (GET fs/data, streamed)':<44} {report['httpMBps']:>9.0f} MB/s",
        f"{'read through the mount (1 MiB reads)':<44} {report['mountMBps']:>9.0f} MB/s",
        f"{'stat of each file by name, local':<44} {report['localStatsPerS']:>11.0f} /s",
        f"{'stat of each file by name, through the mount':<44} {report['statsPerS']:>11.0f} /s",
        f"mount process memory: {report['mountMemoryMB'].get('VmHWM', 0):.0f} MB peak",
        "",
        f"{verdict(report['mountVsHttp'] >= TARGET_MOUNT_VS_HTTP)} mount / HTTP = "
        f"{report['mountVsHttp']:.2f} (target >= {TARGET_MOUNT_VS_HTTP})",
        f"{verdict(report['mountMBps'] >= TARGET_MOUNT_MB_S)} mount read "
        f"{report['mountMBps']:.0f} MB/s (target >= {TARGET_MOUNT_MB_S:.0f})",
        f"{verdict(report['statsPerS'] >= TARGET_STATS_PER_S)} stat through the mount "
        f"{report['statsPerS']:.0f}/s (target >= {TARGET_STATS_PER_S:.0f})",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="big file size; default 1024")
    parser.add_argument("--files", type=int, default=10_000, help="small files; default 10000")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    args = parser.parse_args(argv)
    if args.size_mib <= 0 or args.files <= 0:
        parser.error("--size-mib and --files must be positive")
    return args


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, api_bench._raise_keyboard_interrupt)
    try:
        report = run_benchmark(args)
    except api_bench.BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        return EXIT_SETUP_FAILED
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    table = format_table(report)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(report, indent=2))
    else:
        print(table)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
