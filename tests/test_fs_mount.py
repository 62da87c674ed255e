"""``pit mount`` through real FUSE: browse, read, write, rename and delete in home and group
domains, read-only shared and job domains, a job's log growing under the mount, access refused.

Each mount runs as ``python -m fs URL DOMAIN MOUNTPOINT`` in a subprocess (one FUSE filesystem per
process, and the service runs in this test's event loop); the tests touch the mounted files from
worker threads, as a user's programs would.
"""

import contextlib
import dataclasses
import errno
import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio

from snakepit.jobs.states import JobState
from tests.conftest import insert_job_directly

ROOT = Path(__file__).resolve().parent.parent
T = TypeVar("T")

#: Seconds a mount may take to come up or go away.
MOUNT_TIMEOUT_S = 30


async def on_mount(work: Callable[..., T], *args: Any) -> T:
    """Run blocking file work on a mounted path in a thread (the service shares our loop)."""
    return await trio.to_thread.run_sync(work, *args)


async def until(check: Callable[[], Awaitable[bool]], limit_s: float) -> float:
    """Poll ``check()`` until it is true, failing after ``limit_s``; return the seconds taken."""
    started = trio.current_time()
    with trio.fail_after(limit_s):
        while True:
            if await check():
                return trio.current_time() - started
            await trio.sleep(0.05)


def force_unmount(mountpoint: Path) -> None:
    """Lazily unmount whatever a failed test left at ``mountpoint`` (a live or stale mount)."""
    if errno_of(lambda: os.stat(mountpoint)) == errno.ENOTCONN or os.path.ismount(mountpoint):
        subprocess.run(["fusermount3", "-u", "-z", str(mountpoint)], check=False)


def make_mountpoint(mountpoint: Path) -> None:
    with contextlib.suppress(FileExistsError):  # also a stale mount of a killed process
        mountpoint.mkdir()


@dataclasses.dataclass
class Mount:
    """A running ``python -m fs`` process and its mountpoint."""

    process: trio.Process
    path: Path
    message: str

    async def stop(self, signum: int = signal.SIGTERM) -> int:
        """Signal the mount process and wait for it; returns its exit status."""
        if self.process.returncode is None:
            self.process.send_signal(signum)
        with trio.fail_after(MOUNT_TIMEOUT_S):
            return await self.process.wait()


async def read_line(process: trio.Process) -> str:
    """The first line the mount process prints on stdout ('' if it exits first)."""
    assert process.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        chunk = await process.stdout.receive_some(1)
        if not chunk:
            break
        line += chunk
    return line.decode()


async def start_mount(url: str, token: str | None, domain: str, mountpoint: Path) -> Mount:
    """Start a mount and wait until it is up.

    Raises:
        MountFailed: the process ended instead; with its exit status and stderr.
    """
    env = {**os.environ, "SNAKEPIT_TOKEN": token or ""}
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "fs", url, domain, str(mountpoint)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    with trio.fail_after(MOUNT_TIMEOUT_S):
        line = await read_line(process)
        if not line:
            status = await process.wait()
            assert process.stderr is not None
            error = (await process.stderr.receive_some(65536) or b"").decode()
            raise MountFailed(status, error)
    return Mount(process, mountpoint, line.strip())


class MountFailed(Exception):
    def __init__(self, status: int, stderr: str) -> None:
        super().__init__(f"mount exited with {status}: {stderr}")
        self.status = status
        self.stderr = stderr


@contextlib.asynccontextmanager
async def mounted(
    url: str, token: str | None, domain: str, mountpoint: Path
) -> AsyncIterator[Mount]:
    """A mount for the duration of the block; unmounted (and checked) on the way out."""
    await on_mount(make_mountpoint, mountpoint)
    mount = await start_mount(url, token, domain, mountpoint)
    try:
        yield mount
    finally:
        with trio.CancelScope(shield=True):
            await mount.stop()
            await on_mount(force_unmount, mountpoint)


def token_of(client: Any) -> str:
    return str(client.headers["X-Auth-Token"])


def errno_of(work: Callable[[], object]) -> int | None:
    """The errno ``work()`` fails with, None when it succeeds."""
    try:
        work()
    except OSError as error:
        return error.errno
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def write_random(path: Path, size: int) -> str:
    """Write ``size`` random bytes to ``path`` in 1 MiB writes; return their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as file:
        left = size
        while left:
            chunk = os.urandom(min(left, 1024 * 1024))
            digest.update(chunk)
            file.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


async def test_home_browse_read_write_rename_delete(users, service, tmp_path):
    home = service.config.data_root / "home" / "alice"
    (home / "corpus").mkdir()
    (home / "corpus" / "a.txt").write_text("hello from the server\n")
    mountpoint = tmp_path / "mnt"
    async with mounted(service.url, token_of(users.alice), "home", mountpoint) as mount:
        assert "mounted home (read-write)" in mount.message
        assert await on_mount(os.listdir, mountpoint) == ["corpus"]
        assert await on_mount((mountpoint / "corpus" / "a.txt").read_text) == (
            "hello from the server\n"
        )
        size = 20 * 1024 * 1024 + 12345
        checksum = await on_mount(write_random, mountpoint / "big.bin", size)
        assert (home / "big.bin").stat().st_size == size
        assert sha256_of(home / "big.bin") == checksum
        assert await on_mount(sha256_of, mountpoint / "big.bin") == checksum
        assert (await on_mount(os.stat, mountpoint / "big.bin")).st_size == size

        await on_mount(os.rename, mountpoint / "big.bin", mountpoint / "corpus" / "moved.bin")
        assert not (home / "big.bin").exists()
        assert sha256_of(home / "corpus" / "moved.bin") == checksum
        assert sorted(await on_mount(os.listdir, mountpoint / "corpus")) == ["a.txt", "moved.bin"]

        await on_mount(os.mkdir, mountpoint / "results")
        assert (home / "results").is_dir()
        assert await on_mount(errno_of, lambda: os.rmdir(mountpoint / "corpus")) == (
            errno.ENOTEMPTY
        )
        await on_mount(os.unlink, mountpoint / "corpus" / "moved.bin")
        await on_mount(os.rmdir, mountpoint / "results")
        assert not (home / "corpus" / "moved.bin").exists()
        assert not (home / "results").exists()
        assert await on_mount(errno_of, lambda: os.stat(mountpoint / "nothing")) == errno.ENOENT


async def test_small_writes_truncate_and_append(users, service, tmp_path):
    home = service.config.data_root / "home" / "alice"
    mountpoint = tmp_path / "mnt"
    async with mounted(service.url, token_of(users.alice), "home", mountpoint):
        target = mountpoint / "notes.txt"

        def edit() -> str:
            target.write_text("first line\n")
            with target.open("a") as file:
                file.write("second line\n")
            with target.open("r+") as file:
                file.seek(0)
                file.write("FIRST")
            os.truncate(target, 17)
            return target.read_text()

        assert await on_mount(edit) == "FIRST line\nsecond"
        assert (home / "notes.txt").read_text() == "FIRST line\nsecond"
        await on_mount(os.chmod, target, 0o600)
        assert (home / "notes.txt").stat().st_mode & 0o777 == 0o600
        await on_mount(os.utime, target, (1_000_000_000, 1_000_000_000))
        assert (home / "notes.txt").stat().st_mtime == 1_000_000_000
        link = mountpoint / "link"
        assert await on_mount(errno_of, lambda: os.symlink("notes.txt", link)) == errno.EPERM
        assert await on_mount(errno_of, lambda: os.mkfifo(link)) == errno.EPERM


async def test_group_members_write_and_others_are_refused(users, service, tmp_path):
    await users.admin.put("/groups/lab", json={"title": "The Lab"})
    await users.admin.put("/users/alice/groups/lab")
    group = service.config.data_root / "groups" / "lab"
    async with mounted(service.url, token_of(users.alice), "group:lab", tmp_path / "mnt") as mount:
        await on_mount((mount.path / "shared-notes.txt").write_text, "for the lab\n")
        assert (group / "shared-notes.txt").read_text() == "for the lab\n"
        assert await on_mount(os.listdir, mount.path) == ["shared-notes.txt"]

    with pytest.raises(MountFailed) as refused:
        await start_mount(service.url, token_of(users.bob), "group:lab", tmp_path / "mnt")
    assert refused.value.status == 1
    assert "is not accessible to you" in refused.value.stderr
    with pytest.raises(MountFailed) as other_home:
        await start_mount(service.url, token_of(users.bob), "user:alice", tmp_path / "mnt")
    assert "is not accessible to you" in other_home.value.stderr
    assert not await on_mount(os.path.ismount, tmp_path / "mnt")


async def test_shared_data_is_read_only(users, service, tmp_path):
    shared = service.config.data_root / "shared"
    (shared / "readme.txt").write_text("public data\n")
    async with mounted(service.url, token_of(users.bob), "shared", tmp_path / "mnt") as mount:
        assert "read-only" in mount.message
        assert await on_mount((mount.path / "readme.txt").read_text) == "public data\n"
        write = (mount.path / "new.txt").write_text
        assert await on_mount(errno_of, lambda: write("x")) == errno.EROFS
        remove = (mount.path / "readme.txt").unlink
        assert await on_mount(errno_of, remove) == errno.EROFS
    assert (shared / "readme.txt").read_text() == "public data\n"


async def test_a_running_jobs_log_grows_under_the_mount(users, service, tmp_path):
    number = insert_job_directly(service.config, "alice", state=JobState.RUNNING, log=b"step 1\n")
    log = service.config.data_root / "pits" / str(number) / "pit.log"
    async with mounted(service.url, token_of(users.alice), f"job:{number}", tmp_path / "mnt"):
        seen = tmp_path / "mnt" / "pit.log"
        assert await on_mount(seen.read_bytes) == b"step 1\n"
        assert await on_mount(errno_of, lambda: seen.write_bytes(b"x")) == errno.EROFS
        for step in range(2, 5):
            with log.open("ab") as file:
                file.write(f"step {step}\n".encode())
            line = f"step {step}\n"

            async def shows_line(line: str = line) -> bool:
                return line in await on_mount(seen.read_text)

            assert await until(shows_line, 5) < 2.5

    with pytest.raises(MountFailed) as refused:
        await start_mount(service.url, token_of(users.bob), str(number), tmp_path / "mnt")
    assert "is not accessible to you" in refused.value.stderr


async def test_bad_domains_and_mountpoints_are_refused(users, service, tmp_path):
    token = token_of(users.alice)
    full = tmp_path / "full"
    full.mkdir()
    (full / "file").write_text("x")
    cases = [
        ("homes", tmp_path, "Unknown data domain 'homes'"),
        ("home", tmp_path / "missing", "is not an existing directory"),
        ("home", full, "is not empty"),
        ("group:nolab", tmp_path, "'group:nolab' is not accessible to you"),
        ("job:999", tmp_path, "'job:999' does not exist"),
    ]
    empty = tmp_path / "empty"
    empty.mkdir()
    for domain, mountpoint, message in cases:
        target = empty if mountpoint == tmp_path else mountpoint
        with pytest.raises(MountFailed) as refused:
            await start_mount(service.url, token, domain, target)
        assert refused.value.status == 1
        assert message in refused.value.stderr, refused.value.stderr


async def test_random_reads_and_parallel_readers_see_the_right_bytes(users, service, tmp_path):
    home = service.config.data_root / "home" / "alice"
    content = os.urandom(12 * 1024 * 1024 + 999)
    (home / "data.bin").write_bytes(content)
    async with mounted(service.url, token_of(users.alice), "home", tmp_path / "mnt") as mount:
        target = mount.path / "data.bin"

        def read_at(offsets: list[int], size: int) -> bool:
            with target.open("rb") as file:
                for offset in offsets:
                    file.seek(offset)
                    if file.read(size) != content[offset : offset + size]:
                        return False
            return True

        offsets = [len(content) - 10, 5, 7 * 1024 * 1024 - 3, 1024 * 1024, 0, 11 * 1024 * 1024]
        assert await on_mount(read_at, offsets, 4096)
        results = []

        async def whole_file() -> None:
            results.append(await on_mount(sha256_of, target))

        async with trio.open_nursery() as readers:
            for _ in range(3):
                readers.start_soon(whole_file)
        assert results == [hashlib.sha256(content).hexdigest()] * 3
