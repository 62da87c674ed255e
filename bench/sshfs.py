"""Reading job data inside a worker: the daemon's ``/data`` over sshfs against a local read.

A job's workers reach its folder, the owner's home and group data through sshfs from the pit's
daemon (section 1.8 of the service spec). This runs one job on the local LXD (the real service,
as bench/start.py sets it up) whose script, inside the worker, reads a file of ``--size-mib``
random MiB from the owner's home ``$USER_DIR`` (the sshfs mount) and then the same bytes from
the worker's own disk, both with ``dd bs=1M``, and reports the ratio sshfs / local. The local
copy is read from the page cache (it was just written): the transport against memory speed.
Platform facts measured 327 MB/s for OpenSSH's sftp-server over sshfs here.

    .venv/bin/python bench/sshfs.py [--size-mib 1024] [--json]
"""

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import trio
from start import open_bench_service

#: Inside the worker: the sshfs read, a local copy, the local read; seconds into $RESULT_FILE.
SCRIPT = r"""
set -e
timed() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N);
          echo "$end - $start" | python3 -c 'import sys; print(eval(sys.stdin.read()))'; }
sshfs_s=$(timed dd if="$USER_DIR/big.bin" of=/dev/null bs=1M)
cp "$USER_DIR/big.bin" /tmp/big.bin
local_s=$(timed dd if=/tmp/big.bin of=/dev/null bs=1M)
echo "$sshfs_s $local_s" > "$RESULT_FILE"
"""


async def measure(size_mib: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        async with open_bench_service(folder) as client:
            home = folder / "root" / "home" / "bench"
            await trio.to_thread.run_sync(_write_random, home / "big.bin", size_mib)
            submitted = await client.post("/jobs", json={"clusterRequest": "[]", "script": SCRIPT})
            submitted.raise_for_status()
            detail = await _wait_done(client, submitted.json()["id"])
    result = detail["processes"][0]["result"] if detail.get("processes") else None
    if not result:
        raise SystemExit(f"the job left no result: {detail}")
    sshfs_s, local_s = (float(value) for value in result.split())
    size_mb = size_mib * 1.048576
    return {
        "size_mib": size_mib,
        "sshfs_mb_s": round(size_mb / sshfs_s, 1),
        "local_mb_s": round(size_mb / local_s, 1),
        "ratio": round(local_s / sshfs_s, 3),
    }


def _write_random(path: Path, size_mib: int) -> None:
    with path.open("wb") as target:
        for _ in range(size_mib):
            target.write(os.urandom(1 << 20))
    path.chmod(0o644)


async def _wait_done(client, job: int) -> dict:  # type: ignore[no-untyped-def]
    with trio.fail_after(600):
        while True:
            detail = (await client.get(f"/jobs/{job}")).json()
            if detail["state"] == 7:
                return detail
            await trio.sleep(0.2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = trio.run(measure, args.size_mib)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"read of {args.size_mib} MiB in a worker through sshfs: {result['sshfs_mb_s']} MB/s")
        print(f"same bytes from the worker's own disk (page cache): {result['local_mb_s']} MB/s")
        print(f"ratio sshfs / local: {result['ratio']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
