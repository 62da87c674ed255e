"""Time from submitting a job to its first log line, against starting the same containers by hand.

The service runs in this process (the real ``serve`` on a loopback port) with the local LXD as
its node. Each round submits a ``[]`` job whose script prints one line, and measures until that
line is in the job's log. The baseline, in the same run, creates and starts the same two
containers (a daemon from ``snakepit-daemon`` and a worker from ``snakepit-worker``) through
the LXD client and runs the same ``echo`` in the worker. Overhead = median(job) - median(bare).
Target: at most 1 s (the published service waits at least 10 s by design).

Needs root, the local LXD and its images (bin/lxd-up, bin/prepare-images):

    .venv/bin/python bench/start.py [--rounds 5] [--json]
"""

import argparse
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxd import Lxd, open_lxd
from lxd.certificates import fingerprint
from snakepit.config import config_from_mapping
from snakepit.server import serve

UNIX = "unix:/var/lib/lxd/unix.socket"
HTTPS = "https://127.0.0.1:8443"
SERVER_CERT = "/var/lib/lxd/server.crt"
TARGET_S = 1.0


async def make_identity(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "bench.crt", folder / "bench.key"
    await trio.run_process(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=snakepit-bench-start", "-keyout", str(key),
         "-out", str(cert)],
        capture_stdout=True, capture_stderr=True,
    )  # fmt: skip
    return cert, key


async def bare_round(lxd: Lxd, number: int) -> float:
    """Create and start a daemon and a worker, run ``echo`` in the worker; seconds taken."""
    daemon, worker = f"bench-start-{number}-d", f"bench-start-{number}-0"
    started = time.perf_counter()
    try:
        async with trio.open_nursery() as nursery:
            for name, image in ((daemon, "snakepit-daemon"), (worker, "snakepit-worker")):

                async def launch(name: str = name, image: str = image) -> None:
                    await lxd.instances.create(name, image_alias=image)
                    await lxd.instances.start(name)

                nursery.start_soon(launch)
        result = await lxd.exec.run(worker, ["echo", "first"])
        assert result.stdout == b"first\n"
        return time.perf_counter() - started
    finally:
        for name in (daemon, worker):
            await lxd.instances.remove(name)


async def job_round(client: httpx.AsyncClient) -> float:
    """Submit a job and follow its log until the worker's line arrives; seconds taken."""
    started = time.perf_counter()
    answer = await client.post("/jobs", json={"clusterRequest": "[]", "script": "echo first"})
    answer.raise_for_status()
    job = answer.json()["id"]
    async with client.stream("GET", f"/jobs/{job}/log") as log:
        async for line in log.aiter_lines():
            if "[worker 0] first" in line:
                took = time.perf_counter() - started
                break
        else:
            raise AssertionError(f"job {job} ended without its line")
    while True:  # let the job end before the next round
        if (await client.get(f"/jobs/{job}")).json()["state"] == 7:
            return took
        await trio.sleep(0.1)


@contextlib.asynccontextmanager
async def open_bench_service(folder: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The real service in this process with the local LXD as node ``bench``; a client signed
    in as the user ``bench``. Used by bench/sshfs.py too."""
    cert, key = await make_identity(folder)
    secret = folder / "secret"
    secret.write_text(secrets.token_urlsafe(32))
    config, _ = config_from_mapping(
        {
            "interface": "127.0.0.1",
            "port": 0,
            "mountRoot": str(folder / "root"),
            "tokenSecretPath": str(secret),
            "hashRounds": 4,
            "logLevel": 2,
            "clientCert": str(cert),
            "clientKey": str(key),
            "lxdServerCert": SERVER_CERT,
            "endpoint": HTTPS,
            "pollInterval": "100ms",
        }
    )
    password = f"bench-{os.getpid()}"
    await trio.run_process(["lxc", "config", "set", "core.trust_password", password])
    shutdown = trio.Event()
    try:
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(lambda task_status: serve(
                config, shutdown=shutdown, task_status=task_status
            ))  # fmt: skip
            async with httpx.AsyncClient(base_url=binds[0], timeout=60) as anon:
                await anon.put("/users/bench", json={"password": "bench password"})
                answer = await anon.post(
                    "/users/bench/authenticate", json={"password": "bench password"}
                )
                token = answer.json()["token"]
            async with httpx.AsyncClient(
                base_url=binds[0], timeout=120, headers={"X-Auth-Token": token}
            ) as client:
                answer = await client.put(
                    "/nodes/bench", json={"endpoint": HTTPS, "password": password}
                )
                answer.raise_for_status()
                await trio.run_process(["lxc", "config", "unset", "core.trust_password"])
                yield client
            shutdown.set()
    finally:
        async with open_lxd(UNIX) as lxd:
            pem = cert.read_text()
            if fingerprint(pem) in [c.fingerprint for c in await lxd.certificates.list()]:
                await lxd.certificates.remove(fingerprint(pem))


async def measure(rounds: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder_name:
        async with open_bench_service(Path(folder_name)) as client:
            jobs = [await job_round(client) for _ in range(rounds)]
        async with open_lxd(UNIX) as lxd:
            bare = [await bare_round(lxd, number) for number in range(rounds)]
    overhead = statistics.median(jobs) - statistics.median(bare)
    return {
        "rounds": rounds,
        "job_median_s": round(statistics.median(jobs), 3),
        "bare_median_s": round(statistics.median(bare), 3),
        "overhead_s": round(overhead, 3),
        "target_s": TARGET_S,
        "pass": overhead <= TARGET_S,
        "job_s": [round(value, 3) for value in jobs],
        "bare_s": [round(value, 3) for value in bare],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = trio.run(measure, args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"submit to first log line, median of {args.rounds}: {result['job_median_s']} s")
        print(f"same containers started by hand:          {result['bare_median_s']} s")
        verdict = "PASS" if result["pass"] else "FAIL"
        print(f"overhead {result['overhead_s']} s (target <= {TARGET_S} s): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
