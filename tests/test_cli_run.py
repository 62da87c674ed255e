"""pit run from a real git checkout with a tracking branch and local changes (text and binary),
its summary lines, the diff applied by the service's preparation, and pit log."""

import pytest
import trio

from snakepit.jobs.states import JobState
from tests.conftest import insert_job_directly, insert_node_directly
from tests.test_cli_helpers import start_lab

#: A binary file: every byte value, so that no text diff could carry it.
WEIGHTS = bytes(range(256)) * 8


@pytest.fixture
async def lab(nursery, make_config, tmp_path):
    lab = await start_lab(nursery, make_config, tmp_path)
    insert_node_directly(lab.service.config, "nx", gpus=2)
    yield lab
    await lab.service.stop()


@pytest.fixture
def checkout(lab, tmp_path):
    """The project folder as a clone of a bare ``origin`` whose ``main`` it tracks."""
    pit = lab.pit
    bare = tmp_path / "origin.git"
    pit.git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    pit.git("init", "-q", "-b", "main")
    (pit.cwd / ".gitignore").write_text(".pit*.txt\n")
    (pit.cwd / "model.py").write_text("print('v1')\n")
    (pit.cwd / "weights.bin").write_bytes(WEIGHTS)
    pit.git("add", ".")
    pit.git("commit", "-q", "-m", "v1")
    pit.git("remote", "add", "origin", str(bare))
    pit.git("push", "-q", "-u", "origin", "main")
    return bare


async def wait_for_preparation(lab, job):
    folder = lab.service.config.data_root / "pits" / str(job)
    async with lab.client(lab.root_token) as client:
        with trio.fail_after(30):
            while True:
                detail = (await client.get(f"/jobs/{job}")).json()
                if detail["state"] >= JobState.WAITING:
                    return detail, folder
                await trio.sleep(0.05)  # polling the API under the deadline above


async def test_git_mode_sends_text_and_binary_changes(lab, checkout):
    pit = lab.pit
    head = pit.git("rev-parse", "HEAD").strip()
    (pit.cwd / "model.py").write_text("print('patched')\n")
    changed = bytearray(WEIGHTS)
    changed[100:110] = b"\x00" * 10
    (pit.cwd / "weights.bin").write_bytes(bytes(changed))
    (pit.cwd / "extra.bin").write_bytes(b"\xff\xfe\x00\x01" * 64)
    pit.git("add", "extra.bin")
    (pit.cwd / "untracked.txt").write_text("not sent\n")
    result = await pit.ok("run", "first light", "[]")
    lines = result.out.splitlines()
    job = int(lines[0].removeprefix("Job number: "))
    assert lines[0] == f"Job number: {job}"
    assert lines[1] == f"Remote:     origin <{checkout}>"
    assert lines[2] == f"Hash:       {head}"
    assert lines[3].startswith("Diff LoC:   ")
    assert int(lines[3].split()[-1]) > 10
    assert lines[4] == 'Resources:  "[]"'
    assert "Scheduling job through tracked git branch of current checkout" in result.err
    detail, folder = await wait_for_preparation(lab, job)
    assert detail["provisioning"].startswith(f"Git commit {head} from {checkout} with ")
    assert detail["description"] == "first light"
    assert (folder / "src" / "model.py").read_text() == "print('patched')\n"
    assert (folder / "src" / "weights.bin").read_bytes() == bytes(changed)
    assert (folder / "src" / "extra.bin").read_bytes() == b"\xff\xfe\x00\x01" * 64
    assert not (folder / "src" / "untracked.txt").exists()


async def test_options_and_request_file(lab, checkout):
    pit = lab.pit
    (pit.cwd / ".pitrequest.txt").write_text("[]\n")
    result = await pit.ok("run", "-p", "-e", "python3 model.py --fast 'x y'", "no changes")
    job = int(result.out.splitlines()[0].split()[-1])
    assert "Diff LoC:   0" in result.out
    assert "Private:    yes" in result.out
    assert "Command:    python3 model.py --fast 'x y'" in result.out
    _, folder = await wait_for_preparation(lab, job)
    assert "python3 model.py --fast 'x y'" in (folder / "script.sh").read_text()
    continued = await pit.ok("run", "-c", str(job), "next", "[]")
    follow_up = int(continued.out.splitlines()[0].split()[-1])
    async with lab.client(lab.root_token) as client:
        assert (await client.get(f"/jobs/{follow_up}")).json()["continueJob"] == job


async def test_refusals(lab, checkout):
    pit = lab.pit
    message = await pit.fails("run", "title")
    assert message.startswith("No resources requested from cluster.")
    assert "title too long" in await pit.fails("run", "t" * 41, "[]")
    assert "Cluster cannot fulfill resource request" in await pit.fails("run", "x", "[9:gtx]")
    pit.git("checkout", "-q", "-b", "lonely")
    message = await pit.fails("run", "x", "[]")
    assert message.startswith('The branch "lonely" has no tracking branch: push it with')


async def test_log_streams_a_finished_job(lab):
    job = insert_job_directly(
        lab.service.config, "root", JobState.DONE, log=b"[x] first\n[x] \xff second\n"
    )
    result = await lab.pit.ok("log", str(job))
    assert result.raw == b"[x] first\n[x] \xff second\n"
    assert (await lab.pit.ok("log", "-f", str(job))).raw == result.raw
    missing = insert_job_directly(lab.service.config, "root", JobState.DONE)
    assert await lab.pit.fails("log", str(missing)) != ""


async def test_archive_mode_uploads_the_directory(lab):
    pit = lab.pit
    (pit.cwd / "train.py").write_text("print('archived')\n")
    (pit.cwd / "data").mkdir()
    (pit.cwd / "data" / "table.csv").write_text("a,b\n")
    (pit.cwd / "data" / "debug.log").write_text("noise\n")
    (pit.cwd / ".pitignore").write_text("*.log\n")
    result = await pit.ok("run", "archived", "[]")
    lines = result.out.splitlines()
    job = int(lines[0].removeprefix("Job number: "))
    assert lines[1].startswith("Archive:    .upload-")
    assert lines[1].endswith(".tar.gz")
    assert lines[2] == 'Resources:  "[]"'
    assert "Ignoring data/debug.log" in result.err
    assert "Archiving train.py..." in result.err
    detail, folder = await wait_for_preparation(lab, job)
    assert detail["provisioning"].startswith("Archive")
    assert (folder / "src" / "train.py").read_text() == "print('archived')\n"
    assert (folder / "src" / "data" / "table.csv").read_text() == "a,b\n"
    assert not (folder / "src" / "data" / "debug.log").exists()
    assert not (pit.cwd / ".job-upload.tar.gz").exists()
    assert not (pit.cwd / ".job-upload.json").exists()
    home = lab.service.config.data_root / "home" / "root"
    assert [path.name for path in home.iterdir() if path.name.startswith(".upload-")] == []


async def test_run_follows_the_log_with_l(lab, checkout):
    results = {}

    async def run_pit():
        results["run"] = await lab.pit.ok("run", "-l", "followed", "[]")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_pit)
        async with lab.client(lab.root_token) as client:
            with trio.fail_after(30):
                while True:
                    listed = (await client.get("/jobs")).json()
                    if listed and listed[0]["state"] >= JobState.WAITING:
                        break
                    await trio.sleep(0.05)  # polling the API under the deadline above
            job = listed[0]["id"]
            assert (await client.post(f"/jobs/{job}/stop")).status_code == 200
    out = results["run"].out
    assert out.startswith(f"Job number: {job}\n")
    assert "[prepare] Preparation done." in out


async def test_a_change_in_a_file_that_is_not_utf8(lab, checkout):
    pit = lab.pit
    (pit.cwd / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    pit.git("add", "latin1.txt")
    pit.git("commit", "-q", "-m", "latin-1 text")
    pit.git("push", "-q")
    (pit.cwd / "latin1.txt").write_bytes("na\xefve caf\xe9\n".encode("latin-1"))
    result = await pit.ok("run", "latin", "[]")
    job = int(result.out.splitlines()[0].split()[-1])
    _, folder = await wait_for_preparation(lab, job)
    assert (folder / "src" / "latin1.txt").read_bytes() == "na\xefve caf\xe9\n".encode("latin-1")
