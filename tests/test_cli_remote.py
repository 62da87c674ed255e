"""pit mount/umount with real FUSE, and what pit exec and pit forward say when they cannot run
(commands in running jobs need LXD: the channels' own tests run those)."""

import os
import sys

import pytest
import trio

from snakepit.jobs.states import JobState
from tests.conftest import insert_job_directly
from tests.test_cli_helpers import start_lab


@pytest.fixture
async def lab(nursery, make_config, tmp_path):
    lab = await start_lab(nursery, make_config, tmp_path)
    yield lab
    await lab.service.stop()


async def test_mount_and_umount_home(lab, tmp_path):
    pit = lab.pit
    home = lab.service.config.data_root / "home" / "root"
    (home / "hello.txt").write_text("hello through FUSE\n")
    mountpoint = tmp_path / "mnt"
    mountpoint.mkdir()
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", "snakepit.cli", "mount", "home", str(mountpoint)],
        cwd=pit.cwd,
        env=pit.env(),
    )
    try:
        with trio.fail_after(30):
            while not await trio.to_thread.run_sync(os.path.ismount, mountpoint):
                assert process.poll() is None, "pit mount ended early"
                await trio.sleep(0.05)  # polling for the mount under the deadline above
        text = await trio.to_thread.run_sync((mountpoint / "hello.txt").read_text)
        assert text == "hello through FUSE\n"
        await pit.ok("umount", str(mountpoint))
        with trio.fail_after(30):
            assert await process.wait() == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
            await trio.run_process(["fusermount3", "-uz", str(mountpoint)], check=False)
    assert not await trio.to_thread.run_sync(os.path.ismount, mountpoint)
    assert "Nothing is mounted" in await pit.fails("umount", str(mountpoint))
    assert "Unknown data domain" in await pit.fails("mount", "planet:x", str(mountpoint))


async def test_exec_and_forward_refusals(lab):
    pit = lab.pit
    job = insert_job_directly(lab.service.config, "root", JobState.DONE)
    assert "No command given" in await pit.fails("exec", str(job))
    assert await pit.fails("exec", str(job), "--", "ls", "-la") == "Worker not active"
    assert "Wrong port pair format" in await pit.fails("forward", str(job), "http:80")
    assert "No ports to forward" in await pit.fails("forward", str(job))
    assert await pit.fails("forward", str(job), "18080:80") == "Worker not active"
