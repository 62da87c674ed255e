"""pit ls, cat, pull/cp, push, mkdir and delete on the data domains of a real service: whole
files, resumed transfers in both directions, and the refusals a user meets."""

import os

import pytest

from snakepit.jobs.states import JobState
from tests.conftest import insert_job_directly
from tests.test_cli_helpers import start_lab

#: Larger than one upload chunk, not a multiple of it, and not text.
DATA = os.urandom(3 * 1024 * 1024 + 12345)


@pytest.fixture
async def lab(nursery, make_config, tmp_path):
    lab = await start_lab(nursery, make_config, tmp_path)
    yield lab
    await lab.service.stop()


async def test_push_ls_cat_pull_delete_in_home(lab, tmp_path):
    pit = lab.pit
    source = tmp_path / "data.bin"
    source.write_bytes(DATA)
    await pit.ok("mkdir", "home", "runs/a")
    await pit.ok("push", "home", "runs/a/data.bin", str(source))
    home = lab.service.config.data_root / "home" / "root"
    assert (home / "runs" / "a" / "data.bin").read_bytes() == DATA
    assert (await pit.ok("ls", "home")).out == "D runs\n"
    assert (await pit.ok("ls", "home", "runs/a")).out == "F data.bin\n"
    assert (await pit.ok("ls", "home", "runs/a/data.bin")).out == "F runs/a/data.bin\n"
    assert (await pit.ok("ls", "home", "runs", "--json")).out.split() == [
        "{",
        '"dirs":',
        "[",
        '"a"',
        "],",
        '"files":',
        "[]",
        "}",
    ]
    assert (await pit.ok("cat", "home", "runs/a/data.bin")).raw == DATA
    assert (await pit.ok("pull", "home", "runs/a/data.bin")).raw == DATA
    target = tmp_path / "down"
    target.mkdir()
    await pit.ok("pull", "home", "runs/a/data.bin", str(target))
    assert (target / "data.bin").read_bytes() == DATA
    await pit.ok("cp", "user:root", "runs/a/data.bin", str(target / "copy.bin"))
    assert (target / "copy.bin").read_bytes() == DATA
    await pit.ok("delete", "home", "runs")
    assert (await pit.ok("ls", "home")).out == ""
    assert await pit.fails("cat", "home", "runs/a/data.bin") == "Not Found"


async def test_downloads_resume_skip_and_refuse(lab, tmp_path):
    pit = lab.pit
    home = lab.service.config.data_root / "home" / "root"
    (home / "big.bin").write_bytes(DATA)
    local = tmp_path / "big.bin"
    local.write_bytes(DATA[:1000])
    result = await pit.ok("pull", "-c", "home", "big.bin", str(local))
    assert "Continuing download..." in result.err
    assert local.read_bytes() == DATA
    result = await pit.ok("pull", "home", "big.bin", str(local))
    assert "Local file of same size already existing: Skipped download." in result.err
    local.write_bytes(DATA[:10])
    assert await pit.fails("pull", "home", "big.bin", str(local), stdin=b"n\n") == "Aborted"
    await pit.ok("pull", "home", "big.bin", str(local), stdin=b"y\n")
    assert local.read_bytes() == DATA
    local.write_bytes(DATA + b"more")
    assert (await pit.fails("pull", "home", "big.bin", str(local))).startswith("Larger local")
    await pit.ok("pull", "-f", "home", "big.bin", str(local))
    assert local.read_bytes() == DATA
    missing = str(tmp_path / "nowhere" / "x.bin")
    assert await pit.fails("pull", "home", "big.bin", missing) == "Target directory not existing."
    assert await pit.fails("pull", "home", "") == "Command only supports file transfers."


async def test_uploads_resume_and_refuse(lab, tmp_path):
    pit = lab.pit
    home = lab.service.config.data_root / "home" / "root"
    source = tmp_path / "up.bin"
    source.write_bytes(DATA)
    (home / "up.bin").write_bytes(DATA[:5000])
    result = await pit.ok("push", "-c", "home", "up.bin", str(source))
    assert "continuing upload..." in result.err
    assert (home / "up.bin").read_bytes() == DATA
    await pit.ok("push", "home", "up.bin", str(source))  # same size: nothing to do
    (home / "up.bin").write_bytes(DATA + b"tail")
    assert await pit.fails("push", "home", "up.bin", str(source)) == (
        "Remote file is larger than local one."
    )
    await pit.ok("push", "-f", "home", "up.bin", str(source))
    assert (home / "up.bin").read_bytes() == DATA
    await pit.ok("push", "home", "notes.txt", stdin=b"from stdin\n")
    assert (home / "notes.txt").read_bytes() == b"from stdin\n"
    assert await pit.fails("push", "home", "x", str(tmp_path / "nope")) == "Source file not found."
    assert await pit.fails("delete", "home", "/") == "Refusing to delete the root of a data domain"


async def test_other_domains(lab, tmp_path):
    pit = lab.pit
    root = lab.service.config.data_root
    (root / "shared").mkdir(exist_ok=True)
    (root / "shared" / "corpus.txt").write_text("shared words\n")
    assert (await pit.ok("cat", "shared", "corpus.txt")).out == "shared words\n"
    assert (await pit.ok("ls", "shared")).out == "F corpus.txt\n"
    source = tmp_path / "f.txt"
    source.write_text("x\n")
    assert await pit.fails("push", "shared", "f.txt", str(source)) != ""
    job = insert_job_directly(lab.service.config, "root", JobState.DONE, log=b"log line\n")
    assert "F pit.log" in (await pit.ok("ls", str(job))).out
    assert (await pit.ok("cat", f"job:{job}", "pit.log")).out == "log line\n"
    await pit.ok("add", "group:lab", "title=Lab")
    await pit.ok("add-group", "user:root", "lab")
    await pit.ok("push", "group:lab", "f.txt", str(source))
    assert (await pit.ok("cat", "group:lab", "f.txt")).out == "x\n"
    assert "Unsupported entity type" in await pit.fails("ls", "planet:x")
