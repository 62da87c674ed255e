"""Hostile input through the real service: git origins and hashes crafted to pass options or shell
syntax, diffs and archives that try to write outside ``src/``, archive names that point at
other users' files, titles full of shell syntax, and raw data paths. Each is refused (a 4xx
with a JSON message) or neutralised (the preparation ends the job with a reason), and none
runs: the canary a successful injection would create never appears, and nothing outside the
job's folder changes.

``tests/test_preparation.py`` holds the preparer's own cases and ``tests/test_data_paths.py``
the data API's traversals; these go through ``POST /jobs`` and the HTTP parser end to end.
"""

import io
import json
import os
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from snakepit.jobs.states import JobState
from tests.conftest import RunningService, insert_node_directly, register, start_service

#: What anybody but the owner must never read.
SECRET = "bob's secret\n"


class Lab:
    """A service accepting ``file`` origins (the most permissive set-up), alice and bob signed
    in, bob's home holding a secret and a git repository, an outside folder and a canary."""

    def __init__(self, service: RunningService, alice: httpx.AsyncClient, tmp_path: Path):
        self.service = service
        self.alice = alice
        self.data = service.config.data_root
        self.canary = tmp_path / "canary"
        self.outside = tmp_path / "outside"

    def snapshot(self) -> dict[str, bytes | str]:
        """Every path outside the jobs' folders with its content (or link target)."""
        found: dict[str, bytes | str] = {}
        for base in (self.data, self.outside):
            for path in sorted(base.rglob("*")):
                relative = path.relative_to(self.data.parent)
                if relative.parts[:2] in (("root", "pits"), ("root", "cache")):
                    continue
                if path.name.startswith("snakepit.db"):
                    continue
                if path.is_symlink():
                    found[str(relative)] = "-> " + os.readlink(path)
                elif path.is_file():
                    found[str(relative)] = path.read_bytes()
                else:
                    found[str(relative)] = "dir"
        return found

    async def submit(self, **fields: Any) -> httpx.Response:
        body = {"clusterRequest": "[]", **fields}
        return await self.alice.post("/jobs", content=json.dumps(body).encode())

    async def refused(self, status: int, message: str, **fields: Any) -> None:
        answer = await self.submit(**fields)
        assert answer.status_code == status, (fields, answer.text)
        assert message in answer.json()["message"], (fields, answer.text)

    async def settled(self, job: int) -> dict[str, Any]:
        """Wait until ``job``'s preparation is over: WAITING, or DONE when it failed."""
        with trio.fail_after(30):
            while True:
                found: dict[str, Any] = (await self.alice.get(f"/jobs/{job}")).json()
                if found["state"] in (JobState.WAITING, JobState.DONE):
                    return found
                await trio.sleep(0.05)  # polling the API under the deadline above

    async def ends(self, job: int, detail: str) -> dict[str, Any]:
        """Wait until ``job`` is DONE by a failed preparation whose log says ``detail``."""
        found = await self.settled(job)
        assert found["state"] == JobState.DONE, found
        reasons = [change["reason"] or "" for change in found["stateChanges"]]
        assert any("Problem during preparation step" in reason for reason in reasons), reasons
        log = (self.pit(job) / "pit.log").read_text()
        assert detail in log, log
        return found

    async def prepared(self, **fields: Any) -> int:
        answer = await self.submit(**fields)
        assert answer.status_code == 200, (fields, answer.text)
        return int(answer.json()["id"])

    def pit(self, job: int) -> Path:
        return self.data / "pits" / str(job)


def make_repo(path: Path) -> None:
    path.mkdir(parents=True)
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-q", "-m", "one"],
    ):
        if args[0] == "add":
            (path / "model.py").write_text("print('bob')\n")
        subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)


@pytest.fixture
async def lab(nursery, make_config, tmp_path):
    service = await start_service(
        nursery,
        make_config(originSchemes=["file", "git", "https"], pollInterval="100ms"),
    )
    insert_node_directly(service.config, "nx")  # so that "[]" can be scheduled
    async with service.client() as anon:
        root = await register(anon, "root")
        alice = await register(anon, "alice")
        await register(anon, "bob")
    async with service.client(root) as admin:
        # alice's and bob's homes exist once they are reached once.
        for user in ("alice", "bob"):
            assert (await admin.get(f"/users/{user}/fs/attr")).status_code == 200
    bob = service.config.data_root / "home" / "bob"
    (bob / "secret.txt").write_text(SECRET)
    make_repo(bob / "repo")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "kept.txt").write_text("kept\n")
    async with service.client(alice) as client:
        yield Lab(service, client, tmp_path)
    await service.stop()


async def test_origins_and_hashes_never_reach_git_as_options_or_a_shell(lab):
    canary = lab.canary
    before = lab.snapshot()
    refused = [
        ({"origin": f"--upload-pack=touch {canary}"}, "must not start with '-'"),
        ({"origin": f"--upload-pack=touch${{IFS}}{canary}"}, "must not start with '-'"),
        ({"origin": f"-c core.sshCommand=touch {canary}"}, "must not start with '-'"),
        ({"origin": f"-ccore.sshCommand=touch${{IFS}}{canary}"}, "must not start with '-'"),
        ({"origin": f"ext::sh -c touch% {canary}"}, "spaces or control characters"),
        ({"origin": f"ext::touch{canary}"}, "origin"),
        ({"origin": f"file:///tmp/r\n--upload-pack=touch {canary}"}, "control characters"),
        ({"origin": f"file:///tmp/r\ntouch{canary}"}, "control characters"),
        ({"origin": f"$(touch {canary})"}, "origin"),
        ({"origin": f"`touch {canary}`"}, "origin"),
        ({"origin": f"ssh://-oProxyCommand=touch%20{canary}/r"}, "origin"),
        ({"origin": "file:///tmp/r", "hash": f"--output={canary}"}, "hash"),
        ({"origin": "file:///tmp/r", "hash": "HEAD; rm -rf /"}, "hash"),
        ({"origin": "file:///tmp/r", "hash": f"$(touch {canary})"}, "hash"),
        ({"origin": "file:///tmp/r", "hash": f"`touch {canary}`"}, "hash"),
        ({"origin": "file:///tmp/r", "hash": "abcd\n--output=/x"}, "hash"),
        ({"hash": "abcd"}, "needs an origin"),
    ]
    for fields, message in refused:
        await lab.refused(400, message, **fields)
    assert (await lab.alice.get("/jobs")).json() == []
    # Shell syntax that is a valid path: git gets it as one argument, finds no repository.
    neutralised = [
        "file:///etc",
        f"file:///tmp/x$(touch${{IFS}}{canary})",
        f"file:///tmp/x`touch${{IFS}}{canary}`",
        f"file:///tmp/x;touch${{IFS}}{canary}",
        f"file:///tmp/x|touch${{IFS}}{canary}",
        "file:///tmp/--upload-pack=touch",
        f"{lab.outside}/--upload-pack=touch",
    ]
    for origin in neutralised:
        job = await lab.prepared(origin=origin)
        await lab.ends(job, "Preparation failed")
        assert not (lab.pit(job) / "src" / ".git").exists(), origin
    assert not canary.exists()
    assert lab.snapshot() == before


def diff_adding(path: str, content: str = "x") -> str:
    return (
        f"diff --git {path} {path}\nnew file mode 100644\n--- /dev/null\n+++ {path}\n"
        f"@@ -0,0 +1 @@\n+{content}\n"
    )


def diff_linking(path: str, target: str) -> str:
    return (
        f"diff --git {path} {path}\nnew file mode 120000\n--- /dev/null\n+++ {path}\n"
        f"@@ -0,0 +1 @@\n+{target}\n\\ No newline at end of file\n"
    )


async def test_diffs_never_write_outside_src(lab):
    outside = lab.outside
    before = lab.snapshot()
    escaping = [
        diff_adding("../evil"),
        diff_adding("../../../evil"),
        diff_adding(f"{outside}/evil"),
        diff_adding(".git/hooks/post-checkout", f"touch {lab.canary}"),
        # A symlink out of src/ and a write through it, in one diff.
        diff_linking("link", str(outside)) + diff_adding("link/evil"),
        diff_linking("up", "..") + diff_adding("up/evil"),
        # Renaming a file from outside src/ into it (reading it) and out of it.
        "diff --git ../../../outside/kept.txt stolen.txt\nsimilarity index 100%\n"
        "rename from ../../../outside/kept.txt\nrename to stolen.txt\n",
    ]
    for diff in escaping:
        job = await lab.prepared(diff=diff, script="true")
        await lab.ends(job, "git apply failed")
        folder = lab.pit(job)
        assert not (folder / "src" / "stolen.txt").exists(), diff
        assert not (folder / "evil").exists(), diff
        assert not (folder / "src" / ".git" / "hooks" / "post-checkout").exists(), diff
    assert not lab.canary.exists()
    assert lab.snapshot() == before


async def test_a_symlink_a_diff_plants_is_never_followed_by_the_data_api(lab):
    # The diff may make a link (the job's own business), but reading through it reaches nothing.
    bob = lab.data / "home" / "bob"
    job = await lab.prepared(diff=diff_linking("to-bob", str(bob)), script="true")
    assert (await lab.settled(job))["state"] == JobState.WAITING
    assert os.readlink(lab.pit(job) / "src" / "to-bob") == str(bob)
    for url in (
        f"/jobs/{job}/fs/data/src/to-bob/secret.txt",
        f"/jobs/{job}/fs/dir/src/to-bob",
        f"/jobs/{job}/simplefs/content/src/to-bob/secret.txt",
    ):
        answer = await lab.alice.get(url)
        assert answer.status_code == 403, (url, answer.text)
        assert "secret" not in answer.text
        assert answer.json()["message"]


def tar_with(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, content in members:
            if content is not None:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", content: bytes | None = b"x"):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3
    return info, content if kind == tarfile.REGTYPE else None


async def test_archives_never_unpack_outside_src_and_their_names_stay_in_the_home(lab):
    home = lab.data / "home" / "alice"
    bob = lab.data / "home" / "bob"
    (bob / "bob.tar.gz").write_bytes(tar_with([member("ok.txt")]))
    (home / "to-bob.tar.gz").symlink_to(bob / "bob.tar.gz")
    (home / "bob-dir").symlink_to(bob)
    names = [
        ("../bob/bob.tar.gz", 403, "Archive outside user home"),
        ("/etc/passwd", 403, "Archive outside user home"),
        (str(bob / "bob.tar.gz"), 403, "Archive outside user home"),
        ("to-bob.tar.gz", 403, "Archive outside user home"),
        ("bob-dir/bob.tar.gz", 403, "Archive outside user home"),
        ("a/../../bob/bob.tar.gz", 403, "Archive outside user home"),
        ("x.tar.gz\x00../../bob/bob.tar.gz", 400, "contains a NUL character"),
        ("%2e%2e/bob/bob.tar.gz", 404, "Archive not found"),
        (f"$(touch {lab.canary}).tar.gz", 404, "Archive not found"),
    ]
    for name, status, message in names:
        await lab.refused(status, message, archive=name)
    before = lab.snapshot()
    outside = str(lab.outside)
    contents = {
        "dot-dot": [member("ok.txt"), member("../evil")],
        "deep-dot-dot": [member("a/../../../../outside/evil")],
        "absolute": [member(f"{outside}/evil")],
        "symlink-out": [member("link", tarfile.SYMTYPE, outside), member("link/evil")],
        "symlink-up": [member("up", tarfile.SYMTYPE, "../../.."), member("up/evil")],
        "hardlink": [member("passwd", tarfile.LNKTYPE, "/etc/passwd")],
        "hardlink-bob": [member("secret", tarfile.LNKTYPE, str(bob / "secret.txt"))],
        "device": [member("null", tarfile.CHRTYPE)],
        "fifo": [member("pipe", tarfile.FIFOTYPE)],
    }
    for kind, members in contents.items():
        name = f"{kind}.tar.gz"
        (home / name).write_bytes(tar_with(members))
        before[str((home / name).relative_to(lab.data.parent))] = (home / name).read_bytes()
        job = await lab.prepared(archive=name, script="true")
        await lab.ends(job, "archive refused")
        src = lab.pit(job) / "src"
        assert not any(path.is_symlink() for path in src.rglob("*")), kind
        assert not (src / "secret").exists(), kind
        assert not (lab.pit(job) / "evil").exists(), kind
    assert (bob / "secret.txt").read_text() == SECRET
    assert not lab.canary.exists()
    assert lab.snapshot() == before


async def test_titles_with_shell_syntax_are_kept_as_text_and_never_run(lab):
    canary = lab.canary
    titles = [
        f"$(touch {canary})",
        f"`touch {canary}`",
        f"x; touch {canary}",
        f"x && touch {canary} #",
        "'\"\\ %s %n {0} ${HOME}",
        "--help",
    ]
    for title in titles:
        job = await lab.prepared(description=title[:40], script="true")
        found = (await lab.alice.get(f"/jobs/{job}")).json()
        assert found["description"] == title[:40]
        assert (await lab.settled(job))["state"] == JobState.WAITING
    listed = {job["description"] for job in (await lab.alice.get("/jobs")).json()}
    assert listed == {title[:40] for title in titles}
    await lab.refused(400, "not valid text", description="x\ud800")
    assert not canary.exists()


async def raw_request(service: RunningService, target: str, token: str) -> tuple[int, Any]:
    """Send a request line as it is (httpx would normalise ``..`` segments away); read one
    answer by its Content-Length."""
    port = int(service.url.rsplit(":", 1)[1])
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        request = f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Auth-Token: {token}\r\n\r\n"
        await stream.send_all(request.encode("latin-1"))
        received = b""
        with trio.fail_after(10):
            while b"\r\n\r\n" not in received:
                received += await stream.receive_some(65536)
            head, _, body = received.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            fields = dict(line.lower().split(": ", 1) for line in lines[1:])
            while len(body) < int(fields["content-length"]):
                body += await stream.receive_some(65536)
    return int(lines[0].split(" ", 2)[1]), body


async def test_raw_dot_segments_and_separators_in_data_paths_never_leave_the_domain(lab):
    token = lab.alice.headers["X-Auth-Token"]
    targets = [
        "/users/alice/fs/data/../bob/secret.txt",
        "/users/alice/fs/data/../../home/bob/secret.txt",
        "/users/alice/simplefs/content/../bob/secret.txt",
        "/users/alice/fs/data/..%2fbob%2fsecret.txt",
        "/users/alice/fs/data/%2e%2e%2fbob%2fsecret.txt",
        "/users/alice/fs/data/a%00/../../bob/secret.txt",
        "/users/alice/fs/data/.%2e/bob/secret.txt",
        "/users/alice/fs/data/%252e%252e/bob/secret.txt",
        "/users/alice/../bob/fs/data/secret.txt",
        "/shared/fs/data/../home/bob/secret.txt",
        "/jobs/1/../../users/bob/fs/data/secret.txt",
    ]
    for target in targets:
        status, body = await raw_request(lab.service, target, token)
        assert b"bob's secret" not in body, target
        assert 400 <= status < 500, (target, status, body)
        assert json.loads(body)["message"], target


async def test_a_local_origin_in_the_data_root_is_refused(lab):
    """With ``file`` origins allowed, a repository in the data root (another user's home, a
    group, another job's src/) must not be cloned: its files would land in the submitter's job."""
    repo = lab.data / "home" / "bob" / "repo"
    link = lab.outside / "link-to-bob"
    link.symlink_to(repo)
    before = lab.snapshot()
    for origin in [
        str(repo),
        f"file://{repo}",
        f"file://{repo}".replace("/home/", "/%68ome/"),
        f"{lab.data}/home/../home/bob/repo",
        str(link),
    ]:
        await lab.refused(400, "must not lie in Snakepit's data root", origin=origin)
    assert (await lab.alice.get("/jobs")).json() == []
    assert lab.snapshot() == before
