"""Big files stream through the service without being held in memory, and a full disk is a
clear 507 ENOSPC."""

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import trio

from snakepit.data import CHUNK
from tests.conftest import register, start_service
from tests.test_data_setup import World, world_fixture  # noqa: F401

#: The size of the big transfers, and how much the service may grow while it moves them.
BIG = 200 * 1024 * 1024
ALLOWED_GROWTH = 64 * 1024 * 1024


def resident_bytes() -> int:
    """This process's resident memory now (the service runs in the test process)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakMemory:
    """Samples the resident memory while a transfer runs."""

    def __init__(self) -> None:
        self.start = resident_bytes()
        self.peak = self.start

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            self.peak = max(self.peak, resident_bytes())
            await trio.sleep(0.005)  # sampling, not waiting for anything

    @property
    def growth(self) -> int:
        return self.peak - self.start


def block(number: int) -> bytes:
    """The ``number``-th MiB of the big test file: distinct for every MiB."""
    return hashlib.sha256(number.to_bytes(8, "big")).digest() * (1024 * 1024 // 32)


async def big_body(digest: "hashlib._Hash") -> AsyncIterator[bytes]:
    for number in range(BIG // (1024 * 1024)):
        data = block(number)
        digest.update(data)
        yield data


async def test_a_200_mb_file_goes_up_and_down_in_chunks(nursery, make_config):
    service = await start_service(nursery, make_config(maxBodySize=BIG))
    async with service.client() as anon:
        token = await register(anon, "carol")
    home = service.config.data_root / "home" / "carol"
    async with service.client(token) as carol:
        await carol.put("/users/~/simplefs/stats/big.bin", json={"type": "file"})
        sent = hashlib.sha256()
        memory = PeakMemory()
        async with trio.open_nursery() as sampler:
            await sampler.start(memory.run)
            answer = await carol.put("/users/~/simplefs/content/big.bin", content=big_body(sent))
            assert answer.status_code == 200
            assert home.joinpath("big.bin").stat().st_size == BIG
            for route in ("/users/~/fs/data/big.bin", "/users/~/simplefs/content/big.bin"):
                received = hashlib.sha256()
                sizes = set()
                async with carol.stream("GET", route) as download:
                    assert download.headers["Content-Length"] == str(BIG)
                    async for data in download.aiter_raw():
                        received.update(data)
                        sizes.add(len(data))
                assert received.hexdigest() == sent.hexdigest()
                assert max(sizes) <= CHUNK
            sampler.cancel_scope.cancel()
        assert memory.growth < ALLOWED_GROWTH, memory.growth
        # The file-system API's writes stream too, at an offset, up to maxBodySize.
        again = hashlib.sha256()
        memory = PeakMemory()
        async with trio.open_nursery() as sampler:
            await sampler.start(memory.run)
            answer = await carol.put("/users/~/fs/data/big.bin?offset=0", content=big_body(again))
            sampler.cancel_scope.cancel()
        assert answer.json() == {"size": BIG}
        assert memory.growth < ALLOWED_GROWTH, memory.growth
        tail = await carol.get("/users/~/fs/data/big.bin", headers={"Range": f"bytes={BIG - 5}-"})
        assert tail.content == block(BIG // (1024 * 1024) - 1)[-5:]
    await service.stop()


@pytest.fixture
async def world_on_tmpfs(nursery, make_config):
    """carol's home is a 128 KiB tmpfs: a disk that fills up."""
    service = await start_service(nursery, make_config())
    async with service.client() as anon:
        token = await register(anon, "carol")
    home: Path = service.config.data_root / "home" / "carol"
    await trio.run_process(["mount", "-t", "tmpfs", "-o", "size=128k,mode=0700", "tmpfs", home])
    try:
        async with service.client(token) as carol:
            yield carol, home
    finally:
        with trio.CancelScope(shield=True):
            await trio.run_process(["umount", home])
        await service.stop()


async def test_a_full_disk_answers_507_enospc(world_on_tmpfs):
    carol, home = world_on_tmpfs
    answer = await carol.post("/users/~/fs/create/fill", json={})
    assert answer.status_code == 200
    answer = await carol.put("/users/~/fs/data/fill?offset=0", content=b"x" * 256 * 1024)
    assert (answer.status_code, answer.json()["errno"]) == (507, "ENOSPC")
    assert "fill" in answer.json()["message"]
    await carol.put("/users/~/simplefs/stats/other", json={"type": "file"})
    answer = await carol.put("/users/~/simplefs/content/other", content=b"y" * 256 * 1024)
    assert (answer.status_code, answer.json()["errno"]) == (507, "ENOSPC")
    # Freeing space makes the domain usable again.
    assert (await carol.delete("/users/~/fs/file/fill")).status_code == 200
    assert (await carol.delete("/users/~/fs/file/other")).status_code == 200
    answer = await carol.put("/users/~/simplefs/stats/small", json={"type": "file"})
    assert answer.status_code == 200
    answer = await carol.put("/users/~/simplefs/content/small", content=b"fits")
    assert answer.status_code == 200
    assert (home / "small").read_bytes() == b"fits"


async def test_a_read_stream_abandoned_by_its_client_releases_the_file(world: World):
    path = world.data / "home" / "carol" / "data"
    path.write_bytes(b"")
    os.truncate(path, 64 * CHUNK)  # sparse: quick to make, slow enough to send
    url = httpx.URL(world.service.url)
    request = (
        "GET /users/~/fs/data/data HTTP/1.1\r\n"
        f"Host: {url.host}\r\nX-Auth-Token: {world.carol.headers['X-Auth-Token']}\r\n\r\n"
    )
    for _ in range(10):
        stream = await trio.open_tcp_stream(url.host, url.port)
        await stream.send_all(request.encode())
        assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 200")
        assert open_descriptors_of(path)  # the service is still sending
        await stream.aclose()  # hang up after the first chunk
    with trio.fail_after(10):
        while True:
            if not open_descriptors_of(path):
                break
            await trio.sleep(0.01)  # polling under the deadline above


def open_descriptors_of(path: Path) -> list[str]:
    found = []
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == str(path):
                found.append(name)
        except FileNotFoundError:
            continue
    return found
