"""The data root's disk full: while a job's workers write their logs, and under the database.

A tmpfs of a few MiB stands in for the disk (the tests run as root). Nothing may be corrupted
or lost, the service keeps serving what needs no room, and everything resumes once there is room.
"""

import sqlite3
import subprocess
from pathlib import Path

import pytest
import trio

from snakepit.pits.logs import LogCollector
from tests.conftest import register, start_service


@pytest.fixture
def small_disk(tmp_path):
    """A 4 MiB tmpfs, to fill up and free again."""
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", mount], check=True)
    yield mount
    subprocess.run(["umount", "-l", mount], check=True)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; return it (delete it to make room again)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as target:
        for size in (65536, 4096, 1):
            try:
                while True:
                    target.write(b"\0" * size)
            except OSError:
                pass
    return filler


def test_a_full_disk_holds_the_log_back_and_loses_no_line(small_disk):
    pit = small_disk / "pit"
    (pit / "workers" / "0").mkdir(parents=True)
    worker_log = pit / "workers" / "0" / "worker.log"
    worker_log.write_bytes(b"[worker 0] one\n")
    collector = LogCollector(pit, [0])
    assert collector.collect() == 1
    long = b"x" * 6000  # more than the free part of pit.log's last page
    with worker_log.open("ab") as log:
        log.write(b"[worker 0] two " + long + b"\n[worker 0] three\n")
    filler = fill(small_disk)
    assert collector.collect() == 0  # no room: held back, no exception
    filler.unlink()
    assert collector.collect(final=True) == 2
    lines = (pit / "pit.log").read_bytes().splitlines()
    assert [line.split(b"] ", 1)[1] for line in lines] == [
        b"[worker 0] one",
        b"[worker 0] two " + long,
        b"[worker 0] three",
    ]


async def test_a_full_database_disk_is_a_507_and_the_service_goes_on(
    nursery, make_config, small_disk
):
    service = await start_service(
        nursery, make_config(mountRoot=str(small_disk / "root"), pollInterval="100ms")
    )
    async with service.client() as anon:
        token = await register(anon, "alice")
    async with service.client(token) as alice:
        filler = await trio.to_thread.run_sync(fill, small_disk)
        answer = await alice.put("/groups/lab", json={"title": "Lab"})  # (alice is the admin)
        assert answer.status_code == 507, answer.text
        assert "disk is full" in answer.json()["message"]
        assert (await alice.get("/hello")).status_code == 200
        assert (await alice.get("/users/alice")).json()["id"] == "alice"
        assert (await alice.get("/groups")).json() == []
        await trio.to_thread.run_sync(filler.unlink)
        assert (await alice.put("/groups/lab", json={"title": "Lab"})).status_code == 200
        assert (await alice.get("/groups")).json() == ["lab"]
    await service.stop()
    with sqlite3.connect(service.config.database_path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
