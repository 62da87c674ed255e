"""A mount's life: the service going away and coming back under it, Ctrl-C, ``fs.unmount``, and a
killed mount process that must not block the next mount of the same mountpoint."""

import errno
import os
import signal

import pytest
import trio

import fs
from tests.conftest import register, start_service
from tests.test_fs_mount import (
    MountFailed,
    errno_of,
    force_unmount,
    mounted,
    on_mount,
    start_mount,
    until,
)


async def test_service_stopped_and_restarted_under_a_mount(nursery, make_config, tmp_path):
    config = make_config()
    running = await start_service(nursery, config)
    async with running.client() as anon:
        await register(anon, "root")
        token = await register(anon, "alice")
    home = config.data_root / "home" / "alice"
    (home / "data.txt").write_text("still here\n")
    async with mounted(running.url, token, "home", tmp_path / "mnt") as mount:
        target = mount.path / "data.txt"
        assert await on_mount(target.read_text) == "still here\n"
        await running.stop()

        async def stat_fails() -> bool:
            return await on_mount(errno_of, lambda: os.stat(target)) == errno.EIO

        await until(stat_fails, 10)  # cached attributes live about a second, then EIO
        started = trio.current_time()
        assert await on_mount(errno_of, target.read_text) == errno.EIO
        assert await on_mount(errno_of, lambda: os.listdir(mount.path)) == errno.EIO
        assert trio.current_time() - started < 5  # answered, not hung

        port = int(running.url.rsplit(":", 1)[1])
        running = await start_service(nursery, make_config(port=port))

        async def reads_again() -> bool:
            return await on_mount(errno_of, target.read_text) is None

        await until(reads_again, 10)
        assert await on_mount(target.read_text) == "still here\n"
        await on_mount((mount.path / "new.txt").write_text, "after the restart\n")
        assert (home / "new.txt").read_text() == "after the restart\n"
    await running.stop()


async def test_ctrl_c_sigterm_and_unmount_end_a_mount_cleanly(users, service, tmp_path):
    token = str(users.alice.headers["X-Auth-Token"])
    mountpoint = tmp_path / "mnt"
    for signum in (signal.SIGINT, signal.SIGTERM):
        async with mounted(service.url, token, "home", mountpoint) as mount:
            assert await on_mount(os.path.ismount, mountpoint)
            with pytest.raises(MountFailed, match="Something is already mounted at"):
                await start_mount(service.url, token, "home", mountpoint)
            assert await mount.stop(signum) == 0
            assert not await on_mount(os.path.ismount, mountpoint)

    async with mounted(service.url, token, "home", mountpoint) as mount:
        await on_mount(fs.unmount, mountpoint)
        with trio.fail_after(10):
            assert await mount.process.wait() == 0
        assert not await on_mount(os.path.ismount, mountpoint)


async def test_a_killed_mount_does_not_block_the_next_mount(users, service, tmp_path):
    token = str(users.alice.headers["X-Auth-Token"])
    (service.config.data_root / "home" / "alice" / "kept.txt").write_text("kept\n")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    try:
        killed = await start_mount(service.url, token, "home", mountpoint)
        await killed.stop(signal.SIGKILL)
        assert await on_mount(errno_of, lambda: os.stat(mountpoint)) == errno.ENOTCONN

        async with mounted(service.url, token, "home", mountpoint) as mount:
            assert await on_mount((mount.path / "kept.txt").read_text) == "kept\n"

        killed = await start_mount(service.url, token, "home", mountpoint)
        await killed.stop(signal.SIGKILL)
        await on_mount(fs.unmount, mountpoint)  # `pit umount` clears a stale mount too
        assert await on_mount(errno_of, lambda: os.stat(mountpoint)) is None
        assert not await on_mount(os.path.ismount, mountpoint)
    finally:
        await on_mount(force_unmount, mountpoint)


async def test_sigterm_uploads_what_open_files_have_buffered(users, service, tmp_path):
    token = str(users.alice.headers["X-Auth-Token"])
    home = service.config.data_root / "home" / "alice"
    data = os.urandom(3 * 1024 * 1024 + 17)  # below the upload threshold: still buffered
    async with mounted(service.url, token, "home", tmp_path / "mnt") as mount:
        handle = await on_mount(open, mount.path / "unclosed.bin", "wb", 0)
        await on_mount(handle.write, data)
        assert (home / "unclosed.bin").stat().st_size == 0
        assert await mount.stop(signal.SIGTERM) == 0
        assert (home / "unclosed.bin").read_bytes() == data
        await on_mount(errno_of, handle.close)  # the mount is gone: whatever close says
