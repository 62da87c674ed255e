"""LXD client speed against the ``lxc`` command line, measured in the same run.

Two figures, each as a ratio of our client's time to ``lxc``'s for the same work on the same
daemon (machines here are shared and noisy: only same-run ratios mean anything):

- lifecycle: create and start a container from ``snakepit-tiny``, then stop and delete it,
  ``--rounds`` times (``lxc launch`` + ``lxc delete --force``);
- exec: run ``true`` in a running container ``--rounds`` times (``lxc exec``).

Our client talks to the same unix socket as ``lxc`` by default; ``--https`` adds the HTTPS
figures with a temporary trusted client certificate. Targets: lifecycle ≤ 1.1, exec ≤ 1.2.
Needs the local LXD with the images (bin/lxd-up, bin/prepare-images). Run as root:

    .venv/bin/python bench/lxd.py [--rounds 20] [--https] [--json]
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxd import Lxd, client_ssl_context, open_lxd
from lxd.certificates import fingerprint

UNIX = "unix:/var/lib/lxd/unix.socket"
SERVER_CERT = Path("/var/lib/lxd/server.crt")
IMAGE = "snakepit-tiny"
TARGETS = {"lifecycle": 1.1, "exec": 1.2}


def lxc(*args: str) -> None:
    subprocess.run(["lxc", *args], check=True, capture_output=True)


async def timed_rounds(rounds: int, one_round: Callable[[int], Awaitable[None]]) -> list[float]:
    times = []
    for number in range(rounds):
        started = time.perf_counter()
        await one_round(number)
        times.append(time.perf_counter() - started)
    return times


async def lifecycle_ours(lxd: Lxd, prefix: str, rounds: int) -> list[float]:
    async def one(number: int) -> None:
        name = f"{prefix}-{number}"
        with trio.fail_after(60):
            await lxd.instances.create(name, image_alias=IMAGE)
            await lxd.instances.start(name)
            await lxd.instances.stop(name, force=True)
            await lxd.instances.delete(name)

    return await timed_rounds(rounds, one)


async def lifecycle_lxc(prefix: str, rounds: int) -> list[float]:
    async def one(number: int) -> None:
        name = f"{prefix}-{number}"
        await trio.to_thread.run_sync(lxc, "launch", IMAGE, name)
        await trio.to_thread.run_sync(lxc, "delete", "--force", name)

    return await timed_rounds(rounds, one)


async def exec_ours(lxd: Lxd, name: str, rounds: int) -> list[float]:
    async def one(number: int) -> None:
        with trio.fail_after(30):
            result = await lxd.exec.run(name, ["true"])
        assert result.exit_code == 0

    return await timed_rounds(rounds, one)


async def exec_lxc(name: str, rounds: int) -> list[float]:
    async def one(number: int) -> None:
        await trio.to_thread.run_sync(lxc, "exec", name, "--", "true")

    return await timed_rounds(rounds, one)


@contextlib.asynccontextmanager
async def https_client(folder: Path) -> AsyncIterator[Lxd]:
    """Our client over HTTPS with a client certificate trusted for the run only."""
    cert, key = folder / "bench.crt", folder / "bench.key"
    await trio.run_process(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "1", "-subj", "/CN=bench", "-keyout", str(key), "-out", str(cert)],
        capture_stdout=True, capture_stderr=True,
    )  # fmt: skip
    pem = cert.read_text()
    async with open_lxd(UNIX) as root:
        await root.certificates.add(pem, name="snakepit-bench")
    try:
        context = client_ssl_context(cert, key, SERVER_CERT)
        async with open_lxd("https://127.0.0.1:8443", context) as client:
            yield client
    finally:
        async with open_lxd(UNIX) as root:
            await root.certificates.remove(fingerprint(pem))


def summary(times: list[float]) -> dict[str, float]:
    return {
        "total_s": round(sum(times), 3),
        "mean_ms": round(statistics.mean(times) * 1000, 1),
        "median_ms": round(statistics.median(times) * 1000, 1),
    }


async def measure(rounds: int, https: bool) -> dict[str, dict[str, object]]:
    prefix = f"bench-{os.getpid()}"
    results: dict[str, dict[str, object]] = {}
    async with open_lxd(UNIX) as lxd:
        ours = await lifecycle_ours(lxd, f"{prefix}-a", rounds)
        theirs = await lifecycle_lxc(f"{prefix}-b", rounds)
        results["lifecycle"] = {"ours": summary(ours), "lxc": summary(theirs)}
        runner = f"{prefix}-exec"
        await lxd.instances.create(runner, image_alias=IMAGE)
        await lxd.instances.start(runner)
        try:
            ours = await exec_ours(lxd, runner, rounds)
            theirs = await exec_lxc(runner, rounds)
            results["exec"] = {"ours": summary(ours), "lxc": summary(theirs)}
            if https:
                with tempfile.TemporaryDirectory() as folder:
                    async with https_client(Path(folder)) as secure:
                        results["lifecycle"]["ours_https"] = summary(
                            await lifecycle_ours(secure, f"{prefix}-c", rounds)
                        )
                        results["exec"]["ours_https"] = summary(
                            await exec_ours(secure, runner, rounds)
                        )
        finally:
            await lxd.instances.remove(runner)
    for name, figures in results.items():
        ours_total = figures["ours"]["total_s"]  # type: ignore[index]
        lxc_total = figures["lxc"]["total_s"]  # type: ignore[index]
        figures["ratio"] = round(ours_total / lxc_total, 3)
        figures["target"] = TARGETS[name]
        figures["pass"] = figures["ratio"] <= TARGETS[name]  # type: ignore[operator]
    return results


def print_table(results: dict[str, dict[str, object]], rounds: int) -> None:
    print(f"LXD client against lxc, {rounds} rounds each (mean ms per round)")
    print(f"{'what':<10} {'ours':>8} {'lxc':>8} {'ratio':>6} {'target':>7}  verdict  https")
    for name, figures in results.items():
        ours, theirs = figures["ours"], figures["lxc"]
        https = figures.get("ours_https")
        https_text = f"{https['mean_ms']:.1f}" if isinstance(https, dict) else "-"
        verdict = "PASS" if figures["pass"] else "FAIL"
        print(
            f"{name:<10} {ours['mean_ms']:>8.1f} {theirs['mean_ms']:>8.1f} "  # type: ignore[index]
            f"{figures['ratio']:>6.2f} {figures['target']:>7.1f}  {verdict:<7}  {https_text}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--https", action="store_true", help="also time our client over HTTPS")
    parser.add_argument("--json", action="store_true", help="print JSON instead of the table")
    args = parser.parse_args()
    if not Path("/var/lib/lxd/unix.socket").exists():
        print("LXD is not running: run bin/lxd-up and bin/prepare-images", file=sys.stderr)
        return 1
    results = trio.run(measure, args.rounds, args.https)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print_table(results, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
