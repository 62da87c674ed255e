"""Preparing and cleaning job directories, against real git repositories made in tmp_path."""

import hashlib
import io
import itertools
import os
import random
import re
import shutil
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio

from snakepit.errors import BadRequest
from snakepit.preparation import (
    MAX_DIFF_BYTES,
    MAX_ORIGIN_CHARS,
    JobSource,
    PreparationFailed,
    PreparationRefused,
    Preparer,
    check_source,
    clean,
    validate_source,
)
from snakepit.preparation.patch import strip_level
from snakepit.preparation.pitlog import redact

#: The tests clone from local paths and file:// URLs.
ALL_SCHEMES = frozenset({"https", "ssh", "git", "file"})

LOG_LINE = re.compile(r"\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[(prepare|clean)\] \S")

IDENTITY = {
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}

BLOB = random.Random(1).randbytes(4000) + b"\0\0\xff"
OTHER_BLOB = random.Random(2).randbytes(5000)


async def git_out(cwd: Path, *args: str) -> str:
    """Run git for the test's own set-up; stdout as it is."""
    result = await trio.run_process(
        ["git", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env={**os.environ, **IDENTITY},
        capture_stdout=True,
        capture_stderr=True,
    )
    return result.stdout.decode()


async def git(cwd: Path, *args: str) -> str:
    return (await git_out(cwd, *args)).strip()


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            content = content.encode()
        path.write_bytes(content)


def tree(root: Path) -> dict[str, bytes]:
    """Regular files below ``root`` (outside ``.git``), without following symlinks."""
    files = {}
    for folder, dirs, names in os.walk(root):
        dirs[:] = [name for name in dirs if name != ".git"]
        for name in names:
            path = Path(folder, name)
            if stat.S_ISREG(path.lstat().st_mode):
                files[str(path.relative_to(root))] = path.read_bytes()
    return files


async def commit(repo: Path, files: dict[str, str | bytes], remove: tuple[str, ...] = ()) -> str:
    write_files(repo, files)
    for name in remove:
        (repo / name).unlink()
    await git(repo, "add", "-A")
    await git(repo, "commit", "-q", "-m", "change")
    return await git(repo, "rev-parse", "HEAD")


async def new_repo(path: Path, files: dict[str, str | bytes]) -> str:
    await trio.Path(path).mkdir(parents=True)
    await git(path, "init", "-q")
    return await commit(path, files)


@dataclass
class Origin:
    path: Path
    commits: list[str]

    @property
    def url(self) -> str:
        return str(self.path)


FIRST_TREE = {"README": b"one\n", "dir/a.txt": b"a\n", "blob.bin": BLOB}
SECOND_TREE = {"README": b"two\n", "b.txt": b"b\n", "blob.bin": BLOB}


@pytest.fixture
async def origin(tmp_path: Path) -> Origin:
    """A repository with two commits: FIRST_TREE, then SECOND_TREE."""
    path = tmp_path / "origin"
    first = await new_repo(path, dict(FIRST_TREE))
    second = await commit(path, {"README": "two\n", "b.txt": "b\n"}, remove=("dir/a.txt",))
    return Origin(path, [first, second])


@pytest.fixture
def preparer(tmp_path: Path) -> Preparer:
    return Preparer(tmp_path / "cache", schemes=ALL_SCHEMES)


@pytest.fixture
def new_job(tmp_path: Path) -> Callable[[], Path]:
    numbers = itertools.count(1)

    def make() -> Path:
        path = tmp_path / "pits" / str(next(numbers))
        path.mkdir(parents=True)
        return path

    return make


def lexists(path: Path) -> bool:
    return path.is_symlink() or path.exists()


def log_of(job: Path) -> str:
    return (job / "pit.log").read_text()


def log_says(job: Path, text: str) -> bool:
    return (job / "pit.log").exists() and text in log_of(job)


def mirror_of(tmp_path: Path, url: str) -> Path:
    return tmp_path / "cache" / hashlib.md5(url.encode()).hexdigest()


async def work_copy(tmp_path: Path, origin: Origin) -> Path:
    """A clone of the origin where the test makes the changes a client would diff."""
    work = tmp_path / "work"
    await git(tmp_path, "clone", "-q", "--", origin.url, str(work))
    return work


# Git jobs and the clone cache


async def test_a_commit_that_is_not_the_tip_gives_exactly_its_tree(
    preparer: Preparer, origin: Origin, new_job: Callable[[], Path]
) -> None:
    job = new_job()
    await preparer.prepare(job, JobSource(origin=origin.url, commit=origin.commits[0]))

    src = job / "src"
    assert tree(src) == FIRST_TREE
    assert await git(src, "rev-parse", "HEAD") == origin.commits[0]
    assert await git(src, "status", "--porcelain") == ""
    assert await git(src, "remote", "get-url", "origin") == origin.url
    assert (job / "tmp").is_dir()
    assert list((job / "keep").iterdir()) == []
    lines = log_of(job).splitlines()
    assert all(LOG_LINE.match(line) for line in lines), lines
    assert lines[-1].endswith("] [prepare] Preparation done.")


async def test_src_shares_nothing_with_the_cache(
    preparer: Preparer, origin: Origin, new_job: Callable[[], Path]
) -> None:
    job = new_job()
    await preparer.prepare(job, JobSource(origin=origin.url, commit=origin.commits[1][:7]))

    objects = job / "src" / ".git" / "objects"
    assert not (objects / "info" / "alternates").exists()
    files = [path for path in objects.rglob("*") if path.is_file()]
    assert files
    assert all(path.stat().st_nlink == 1 for path in files)
    assert tree(job / "src") == SECOND_TREE


async def test_without_a_hash_the_default_branch_is_checked_out(
    preparer: Preparer, origin: Origin, new_job: Callable[[], Path]
) -> None:
    job = new_job()
    await preparer.prepare(job, JobSource(origin=origin.path.as_uri()))
    assert tree(job / "src") == SECOND_TREE


async def test_a_second_job_fetches_into_the_cache_and_sees_new_commits(
    preparer: Preparer, origin: Origin, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    first = new_job()
    await preparer.prepare(first, JobSource(origin=origin.url, commit=origin.commits[1]))
    third = await commit(origin.path, {"c.txt": "c\n"})
    second = new_job()
    await preparer.prepare(second, JobSource(origin=origin.url, commit=third))

    assert tree(second / "src") == {**SECOND_TREE, "c.txt": b"c\n"}
    mirror = mirror_of(tmp_path, origin.url)
    assert await git(mirror, "rev-parse", "--is-bare-repository") == "true"
    assert [path.name for path in (tmp_path / "cache").iterdir()] == [mirror.name]
    assert "clone --mirror" in log_of(first)
    assert "fetch --prune origin" not in log_of(first)
    assert "fetch --prune origin" in log_of(second)
    assert "clone --mirror" not in log_of(second)


async def test_an_unknown_commit_fails_with_a_clear_reason(
    preparer: Preparer, origin: Origin, new_job: Callable[[], Path]
) -> None:
    job = new_job()
    with pytest.raises(PreparationFailed) as caught:
        await preparer.prepare(job, JobSource(origin=origin.url, commit="deadbeef" * 5))
    assert caught.value.message == f"commit {'deadbeef' * 5} not found in the origin"
    assert "Preparation failed: commit" in log_of(job)


async def test_a_missing_origin_fails_with_gits_message(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    job = new_job()
    with pytest.raises(PreparationFailed) as caught:
        await preparer.prepare(job, JobSource(origin=str(tmp_path / "nowhere")))
    assert caught.value.message.startswith("git clone failed: fatal:")
    assert "fatal:" in log_of(job)
    assert [path.name for path in (tmp_path / "cache").iterdir()] == []


async def test_a_missing_git_fails_the_step_clearly(
    preparer: Preparer,
    origin: Origin,
    new_job: Callable[[], Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("snakepit.preparation.git.GIT", "git-is-not-installed")
    job = new_job()
    with pytest.raises(PreparationFailed) as caught:
        await preparer.prepare(job, JobSource(origin=origin.url))
    assert caught.value.message == "git could not be run: No such file or directory"
    assert log_of(job).rstrip().endswith("Preparation failed: " + caught.value.message)


@pytest.mark.parametrize("damage", ["empty folder", "a file", "another repository"])
async def test_a_broken_cache_is_cloned_again(
    preparer: Preparer, origin: Origin, new_job: Callable[[], Path], tmp_path: Path, damage: str
) -> None:
    mirror = mirror_of(tmp_path, origin.url)
    mirror.parent.mkdir()
    if damage == "empty folder":
        mirror.mkdir()
    elif damage == "a file":
        mirror.write_text("garbage")
    else:
        await new_repo(mirror, {"other": "x"})

    job = new_job()
    await preparer.prepare(job, JobSource(origin=origin.url, commit=origin.commits[0]))

    assert tree(job / "src") == FIRST_TREE
    assert "The clone cache is not usable; cloning it again." in log_of(job)
    assert await git(mirror, "config", "--get", "remote.origin.url") == origin.url
    assert [path.name for path in (tmp_path / "cache").iterdir()] == [mirror.name]


async def test_a_fetch_blocked_by_a_stale_lock_clones_the_cache_again(
    preparer: Preparer, origin: Origin, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    await preparer.prepare(new_job(), JobSource(origin=origin.url))
    mirror = mirror_of(tmp_path, origin.url)
    # What a fetch killed with SIGKILL leaves behind.
    (mirror / "refs" / "heads").mkdir(parents=True, exist_ok=True)
    (mirror / "refs" / "heads" / "main.lock").write_text("")
    third = await commit(origin.path, {"c.txt": "c\n"})

    job = new_job()
    await preparer.prepare(job, JobSource(origin=origin.url, commit=third))

    assert (job / "src" / "c.txt").read_text() == "c\n"
    assert "Fetching into the clone cache failed; cloning it again." in log_of(job)
    assert not (mirror / "refs" / "heads" / "main.lock").exists()
    assert [path.name for path in (tmp_path / "cache").iterdir()] == [mirror.name]


async def test_submodules_are_checked_out(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    await new_repo(tmp_path / "lib", {"lib.txt": "library\n"})
    main = tmp_path / "main"
    await new_repo(main, {"main.txt": "main\n"})
    await git(main, "submodule", "add", "-q", "--", str(tmp_path / "lib"), "lib")
    await git(main, "commit", "-q", "-m", "add lib")

    job = new_job()
    await preparer.prepare(job, JobSource(origin=str(main)))

    assert (job / "src" / "lib" / "lib.txt").read_text() == "library\n"


async def test_submodule_urls_obey_the_allowed_schemes(
    new_job: Callable[[], Path], tmp_path: Path
) -> None:
    main = tmp_path / "main"
    await new_repo(main, {".gitmodules": '[submodule "x"]\n\tpath = x\n\turl = ext::sh\n'})
    await git(main, "update-index", "--add", "--cacheinfo", f"160000,{'1' * 40},x")
    await git(main, "commit", "-q", "-m", "add x")
    preparer = Preparer(tmp_path / "cache", schemes=frozenset({"file"}))

    job = new_job()
    with pytest.raises(PreparationFailed, match="git submodule update failed"):
        await preparer.prepare(job, JobSource(origin=str(main)))
    assert "transport 'ext' not allowed" in log_of(job)


@pytest.mark.skipif(shutil.which("git-lfs") is not None, reason="git-lfs is installed here")
async def test_lfs_is_skipped_with_a_log_line_when_git_lfs_is_missing(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    repo = tmp_path / "lfs"
    await new_repo(repo, {".gitattributes": "*.bin filter=lfs diff=lfs merge=lfs -text\n"})
    job = new_job()
    await preparer.prepare(job, JobSource(origin=str(repo)))
    assert "git-lfs is not installed: LFS files stay pointer files." in log_of(job)
    assert log_of(job).rstrip().endswith("Preparation done.")


# Diffs


@pytest.mark.parametrize("prefix", [True, False], ids=["a-b-prefixes", "no-prefix"])
async def test_a_text_diff_is_applied(
    preparer: Preparer,
    origin: Origin,
    new_job: Callable[[], Path],
    tmp_path: Path,
    prefix: bool,
) -> None:
    work = await work_copy(tmp_path, origin)
    write_files(work, {"README": "two\nand three\n", "new dir/c.txt": "c\n"})
    (work / "b.txt").unlink()
    await git(work, "add", "-A")
    diff = await git_out(work, "diff", "--cached", *([] if prefix else ["--no-prefix"]))

    job = new_job()
    await preparer.prepare(job, JobSource(origin=origin.url, commit=origin.commits[1], diff=diff))

    assert tree(job / "src") == tree(work)
    assert (job / "git.patch").read_text() == diff


@pytest.mark.parametrize("prefix", [True, False], ids=["a-b-prefixes", "no-prefix"])
async def test_a_binary_diff_reproduces_binary_files_exactly(
    preparer: Preparer,
    origin: Origin,
    new_job: Callable[[], Path],
    tmp_path: Path,
    prefix: bool,
) -> None:
    work = await work_copy(tmp_path, origin)
    write_files(work, {"blob.bin": OTHER_BLOB, "weights/new.bin": BLOB[::-1]})
    await git(work, "add", "-A")
    diff = await git_out(work, "diff", "--cached", "--binary", *([] if prefix else ["--no-prefix"]))
    assert "GIT binary patch" in diff

    job = new_job()
    await preparer.prepare(job, JobSource(origin=origin.url, commit=origin.commits[1], diff=diff))

    assert (job / "src" / "blob.bin").read_bytes() == OTHER_BLOB
    assert (job / "src" / "weights" / "new.bin").read_bytes() == BLOB[::-1]


async def test_a_diff_that_does_not_apply_fails_with_gits_message(
    preparer: Preparer, origin: Origin, new_job: Callable[[], Path]
) -> None:
    diff = "diff --git a/README b/README\n--- a/README\n+++ b/README\n@@ -1 +1 @@\n-zzz\n+yyy\n"
    job = new_job()
    with pytest.raises(PreparationFailed) as caught:
        await preparer.prepare(job, JobSource(origin=origin.url, diff=diff))

    assert caught.value.message == "git apply failed: error: README: patch does not apply"
    log = log_of(job)
    assert "error: patch failed: README:1" in log
    assert "Preparation failed: git apply failed" in log
    assert "Preparation done." not in log


@pytest.mark.parametrize("path", ["../evil", "{outside}/evil"])
async def test_a_diff_cannot_write_outside_src(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path, path: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    path = path.format(outside=outside)
    diff = (
        f"diff --git {path} {path}\nnew file mode 100644\n--- /dev/null\n+++ {path}\n"
        "@@ -0,0 +1 @@\n+x\n"
    )
    job = new_job()
    with pytest.raises(PreparationFailed, match="git apply failed"):
        await preparer.prepare(job, JobSource(diff=diff))
    assert not (job / "evil").exists()
    assert list(outside.iterdir()) == []


async def test_a_diff_cannot_write_through_a_symlink_of_the_repository(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    repo = tmp_path / "linked"
    repo.mkdir()
    (repo / "link").symlink_to(outside)
    await new_repo(repo / "sub", {"x": "x"})
    await git(repo, "init", "-q")
    await git(repo, "add", "link")
    await git(repo, "commit", "-q", "-m", "link")
    diff = (
        "diff --git a/link/evil b/link/evil\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/link/evil\n@@ -0,0 +1 @@\n+x\n"
    )
    job = new_job()
    with pytest.raises(PreparationFailed, match="beyond a symbolic link"):
        await preparer.prepare(job, JobSource(origin=str(repo), diff=diff))
    assert list(outside.iterdir()) == []


def test_the_strip_level_follows_the_prefixes() -> None:
    assert strip_level("diff --git a/x b/x\n--- a/x\n+++ b/x\n") == 1
    assert strip_level("diff --git x x\n--- x\n+++ x\n") == 0
    assert strip_level('diff --git "a/t\\303\\244" "b/t\\303\\244"\n') == 1
    assert strip_level("diff --git i/x w/x\n") == 1
    assert strip_level("diff --git a/x a/x\n") == 0  # no prefixes, a file in folder a/
    assert strip_level("diff --git a/x b/x\ndiff --git y y\n") == 0
    assert strip_level("--- a/x\n+++ b/x\n@@ -1 +1 @@\n") == 1
    assert strip_level("--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n") == 1
    assert strip_level("--- x\n+++ x\n@@ -1 +1 @@\n") == 0


# Archives and script jobs


def add_file(tar: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    tar.addfile(info, io.BytesIO(content))


@pytest.mark.parametrize("mode", ["w:gz", "w"], ids=["tar.gz", "tar"])
async def test_an_archive_is_unpacked_and_a_diff_applied_without_git(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path, mode: str
) -> None:
    archive = tmp_path / "upload.tar.gz"
    with tarfile.open(archive, mode) as tar:
        add_file(tar, "main.py", b"print(1)\n")
        add_file(tar, "pkg/mod.py", b"x = 1\n")
        add_file(tar, "data.bin", BLOB)
    diff = "--- pkg/mod.py\n+++ pkg/mod.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"

    job = new_job()
    await preparer.prepare(job, JobSource(archive=archive, diff=diff))

    assert tree(job / "src") == {
        "main.py": b"print(1)\n",
        "pkg/mod.py": b"x = 2\n",
        "data.bin": BLOB,
    }
    assert list((job / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    "kind", ["dot-dot", "absolute", "symlink-to-etc", "symlink-outside", "hardlink", "device"]
)
async def test_a_malicious_archive_is_refused_without_writing_outside_src(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path, kind: str
) -> None:
    job = new_job()
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tmp_path / "evil.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        add_file(tar, "harmless.txt", b"ok\n")
        if kind == "dot-dot":
            add_file(tar, "../evil", b"x")
        elif kind == "absolute":
            add_file(tar, str(outside / "evil"), b"x")
        elif kind in ("symlink-to-etc", "symlink-outside", "hardlink"):
            info = tarfile.TarInfo("link")
            info.type = tarfile.LNKTYPE if kind == "hardlink" else tarfile.SYMTYPE
            info.linkname = {
                "symlink-to-etc": "/etc",
                "symlink-outside": "../../../outside",  # from pits/<n>/src
                "hardlink": "/etc/passwd",
            }[kind]
            tar.addfile(info)
            add_file(tar, "link/evil", b"x")
        else:
            info = tarfile.TarInfo("null")
            info.type = tarfile.CHRTYPE
            info.devmajor, info.devminor = 1, 3
            tar.addfile(info)

    with pytest.raises(PreparationFailed) as caught:
        await preparer.prepare(job, JobSource(archive=archive))

    assert caught.value.message.startswith("archive refused: ")
    assert list(outside.iterdir()) == []
    assert not (job / "evil").exists()
    assert not (job / "src" / "link").exists()
    assert not (job / "src" / "null").exists()
    assert "Preparation failed: archive refused" in log_of(job)


async def test_a_damaged_archive_fails_clearly(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    archive = tmp_path / "broken.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00 not really gzip")
    with pytest.raises(PreparationFailed, match="archive could not be unpacked"):
        await preparer.prepare(new_job(), JobSource(archive=archive))


async def test_a_script_job_gets_an_empty_src(
    preparer: Preparer, new_job: Callable[[], Path]
) -> None:
    job = new_job()
    await preparer.prepare(job, JobSource())
    assert sorted(path.name for path in job.iterdir()) == ["keep", "pit.log", "src", "tmp"]
    assert list((job / "src").iterdir()) == []


# Continue


async def test_continue_copies_keep_with_nested_files_and_symlinks_as_symlinks(
    preparer: Preparer, new_job: Callable[[], Path]
) -> None:
    old = new_job()
    keep = old / "keep"
    write_files(keep, {"model/epoch-1/ckpt.bin": BLOB, "notes.txt": "n\n"})
    (keep / "latest").symlink_to("model/epoch-1/ckpt.bin")
    (keep / "etc").symlink_to("/etc")
    os.mkfifo(keep / "pipe")

    job = new_job()
    await preparer.prepare(job, JobSource(continue_from=keep))

    copied = job / "keep"
    assert tree(copied) == {"model/epoch-1/ckpt.bin": BLOB, "notes.txt": b"n\n"}
    assert os.readlink(copied / "latest") == "model/epoch-1/ckpt.bin"
    assert os.readlink(copied / "etc") == "/etc"
    assert not lexists(copied / "pipe")
    assert "Not copied (not a regular file): keep/pipe" in log_of(job)


async def test_continue_fails_when_keep_is_missing(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    job = new_job()
    with pytest.raises(PreparationFailed, match=r"keep/ of the continued job is missing"):
        await preparer.prepare(job, JobSource(continue_from=tmp_path / "pits" / "99" / "keep"))
    assert not (job / "src").exists()


# Refusals before anything runs


@pytest.mark.parametrize(
    ("origin", "commit"),
    [
        ("--upload-pack=touch {marker}", None),
        ("-c core.sshCommand=touch {marker}", None),
        ("ext::sh -c touch% {marker}", None),
        ("ext::touch{marker}", None),
        ("ssh://-oProxyCommand=touch%20{marker}/repo", None),
        ("ssh://git@-oProxyCommand=x/repo", None),
        ("-oProxyCommand=touch:repo", None),
        ("git@-oProxyCommand=x:repo", None),
        ("host:--upload-pack=touch{marker}", None),
        ("https://example.com/repo\n--upload-pack=touch", None),
        ("https://example.com/repo", "--output={marker}"),
        ("https://example.com/repo", "HEAD"),
    ],
)
async def test_option_injection_is_refused_before_anything_runs(
    preparer: Preparer,
    new_job: Callable[[], Path],
    tmp_path: Path,
    origin: str,
    commit: str | None,
) -> None:
    marker = tmp_path / "marker"
    source = JobSource(
        origin=origin.format(marker=marker),
        commit=commit.format(marker=marker) if commit else None,
    )
    job = new_job()
    with pytest.raises(PreparationRefused) as caught:
        await preparer.prepare(job, source)
    assert isinstance(caught.value, BadRequest)
    assert caught.value.status == 400
    assert list(job.iterdir()) == []
    assert not marker.exists()
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize(
    "origin",
    ["file:///srv/repo.git", "/srv/repo.git", "http://example.com/r.git", "ftp://example.com/r"],
)
async def test_a_scheme_not_allowed_is_refused(
    new_job: Callable[[], Path], tmp_path: Path, origin: str
) -> None:
    preparer = Preparer(tmp_path / "cache")
    job = new_job()
    with pytest.raises(PreparationRefused, match="is not allowed"):
        await preparer.prepare(job, JobSource(origin=origin))
    assert list(job.iterdir()) == []


@pytest.mark.parametrize(
    "origin",
    [
        "https://github.com/mozilla/snakepit.git",
        "https://user:token@example.com:8443/a/b.git",
        "git@github.com:mozilla/snakepit.git",
        "github.com:mozilla/snakepit",
        "ssh://git@example.com:2222/repo.git",
        "git+ssh://example.com/~user/repo",
        "git://example.com/repo.git",
    ],
)
def test_usual_origins_are_accepted(origin: str) -> None:
    check_source(JobSource(origin=origin, commit="0123abcd"))


@pytest.mark.parametrize(
    ("origin", "message"),
    [
        ("", "empty"),
        ("https://example.com/" + "x" * MAX_ORIGIN_CHARS, "longer than"),
        ("https://exa mple.com/r", "spaces or control"),
        ("https://example.com/r\x00", "spaces or control"),
        ("https://example.com/\u202er", "spaces or control"),
        ("https:///path", "no valid host"),
        ("https://-x/r", "no valid host"),
        ("https://example.com:99999/r", "not a valid URL"),
        ("relative/path", "not a git URL"),
        ("./repo", "not a git URL"),
        ("host::path", "not a git URL"),
        ("https://example.com/-x", "must not start with '-'"),
    ],
)
def test_malformed_origins_are_refused(origin: str, message: str) -> None:
    with pytest.raises(PreparationRefused, match=re.escape(message)):
        check_source(JobSource(origin=origin))


def test_scp_like_origins_need_ssh() -> None:
    with pytest.raises(PreparationRefused, match="'ssh' is not allowed"):
        check_source(JobSource(origin="git@github.com:a/b.git"), frozenset({"https"}))


@pytest.mark.parametrize("commit", ["abcd", "ABCDEF0123", "a" * 40, "b" * 64])
def test_hex_commits_are_accepted(commit: str) -> None:
    check_source(JobSource(origin="https://example.com/r", commit=commit))


@pytest.mark.parametrize("commit", ["abc", "a" * 65, "g123", "-abcd", "abcd\n", "main"])
def test_other_commits_are_refused(commit: str) -> None:
    with pytest.raises(PreparationRefused, match="4 to 64 hexadecimal digits"):
        check_source(JobSource(origin="https://example.com/r", commit=commit))


def test_a_too_large_diff_is_refused() -> None:
    with pytest.raises(PreparationRefused, match="diff is larger than 50 MiB"):
        check_source(JobSource(diff="x" * (MAX_DIFF_BYTES + 1)))
    with pytest.raises(PreparationRefused, match="diff is larger than 50 MiB"):
        check_source(JobSource(diff="é" * (MAX_DIFF_BYTES // 2 + 1)))


def test_sources_that_make_no_sense_are_refused(tmp_path: Path) -> None:
    with pytest.raises(PreparationRefused, match="not both"):
        check_source(JobSource(origin="https://example.com/r", archive=tmp_path / "a.tar"))
    with pytest.raises(PreparationRefused, match="needs an origin"):
        check_source(JobSource(commit="abcd"))


async def test_an_archive_must_be_a_regular_file(tmp_path: Path) -> None:
    real = tmp_path / "real.tar.gz"
    real.write_bytes(b"")
    link = tmp_path / "link.tar.gz"
    link.symlink_to(real)
    cases = {
        link: "symbolic link",
        tmp_path / "missing.tar.gz": "not found",
        tmp_path: "not a regular file",
        Path("real.tar.gz"): "must be absolute",
    }
    for archive, message in cases.items():
        with pytest.raises(PreparationRefused, match=message):
            await validate_source(JobSource(archive=archive))
    await validate_source(JobSource(archive=real))


def test_passwords_in_urls_are_redacted_in_the_log() -> None:
    line = "+ git clone --mirror -- https://user:s3cret@example.com/r.git /cache/x"
    assert redact(line) == "+ git clone --mirror -- https://user:***@example.com/r.git /cache/x"


# Cancellation, concurrency and cleaning


async def big_origin(path: Path) -> str:
    """A repository whose clone over file:// takes a noticeable time (incompressible data)."""
    data = {f"data/f{i}.bin": random.Random(i).randbytes(8_000_000) for i in range(2)}
    return await new_repo(path, data)


async def no_process_left(tmp_path: Path) -> None:
    """Every process of the cancelled git is gone within a second (killed processes take a
    moment to vanish; ones that were not killed would go on cloning for seconds)."""
    await wait_for(lambda: processes_mentioning(str(tmp_path)) == [], deadline_s=1)


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if entry.name.isdigit() and text in command:
            found.append(command)
    return found


async def wait_for(condition: Callable[[], bool], deadline_s: float = 60) -> None:
    """Poll ``condition`` under a deadline: files and processes have no event to wait on."""
    with trio.fail_after(deadline_s):
        while True:
            if condition():
                return
            await trio.sleep(0.005)


async def prepare_until(
    preparer: Preparer, job: Path, source: JobSource, condition: Callable[[], bool]
) -> None:
    """Start a preparation and cancel it as soon as ``condition`` holds."""
    finished = False

    async def prepare() -> None:
        nonlocal finished
        await preparer.prepare(job, source)
        finished = True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(prepare)
        await wait_for(lambda: finished or condition())
        nursery.cancel_scope.cancel()
    assert not finished, "the preparation ended before it could be cancelled"


@pytest.mark.slow
async def test_cancelling_a_clone_kills_git_and_leaves_the_cache_usable(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    await big_origin(tmp_path / "big")
    url = (tmp_path / "big").as_uri()
    cache = tmp_path / "cache"

    def cloning() -> bool:
        return cache.is_dir() and any(path.name.startswith(".tmp-") for path in cache.iterdir())

    first = new_job()
    await prepare_until(preparer, first, JobSource(origin=url), cloning)

    assert log_of(first).rstrip().endswith("Preparation interrupted.")
    assert not mirror_of(tmp_path, url).exists()
    await no_process_left(tmp_path)

    second = new_job()
    await preparer.prepare(second, JobSource(origin=url))
    assert sorted(tree(second / "src")) == ["data/f0.bin", "data/f1.bin"]
    assert [path.name for path in cache.iterdir()] == [mirror_of(tmp_path, url).name]


@pytest.mark.slow
async def test_an_interrupted_fetch_is_repaired_by_the_next_job(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    repo = tmp_path / "grows"
    await new_repo(repo, {"README": "small\n"})
    url = repo.as_uri()
    await preparer.prepare(new_job(), JobSource(origin=url))
    big = await commit(repo, {f"f{i}.bin": random.Random(i).randbytes(8_000_000) for i in range(2)})

    second = new_job()
    await prepare_until(
        preparer, second, JobSource(origin=url), lambda: log_says(second, "fetch --prune")
    )
    assert log_of(second).rstrip().endswith("Preparation interrupted.")
    await no_process_left(tmp_path)

    third = new_job()
    await preparer.prepare(third, JobSource(origin=url, commit=big))
    assert sorted(tree(third / "src")) == ["README", "f0.bin", "f1.bin"]


async def test_cancelling_an_unpack_stops_at_the_next_member(
    preparer: Preparer, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    archive = tmp_path / "many.tar"
    with tarfile.open(archive, "w") as tar:
        for i in range(5000):
            add_file(tar, f"d{i % 50}/f{i}", b"abc")
    job = new_job()

    def unpacking() -> bool:
        return (job / "src").is_dir() and any((job / "src").iterdir())

    await prepare_until(preparer, job, JobSource(archive=archive), unpacking)

    assert log_of(job).rstrip().endswith("Preparation interrupted.")
    assert len(tree(job / "src")) < 5000


async def test_max_parallel_prep_of_one_runs_preparations_one_at_a_time(
    origin: Origin, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    other = tmp_path / "other"
    await git(tmp_path, "clone", "-q", "--bare", "--", origin.url, str(other))
    preparer = Preparer(tmp_path / "cache", max_parallel=1, schemes=ALL_SCHEMES)
    jobs = [new_job(), new_job()]
    logs = [job / "pit.log" for job in jobs]
    overlapped = []
    most_waiting = 0

    async def watch() -> None:
        nonlocal most_waiting
        while True:
            most_waiting = max(most_waiting, preparer.limiter.statistics().tasks_waiting)
            # Both logs exist and neither says done: two preparations are running at once.
            if all(log.exists() for log in logs) and not any(
                "Preparation done." in log.read_text() for log in logs
            ):
                overlapped.append(True)
            await trio.sleep(0.001)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        async with trio.open_nursery() as preparations:
            for job, url in zip(jobs, [origin.url, str(other)], strict=True):
                preparations.start_soon(preparer.prepare, job, JobSource(origin=url))
        nursery.cancel_scope.cancel()

    assert overlapped == []
    assert most_waiting == 1
    assert all(log.read_text().rstrip().endswith("Preparation done.") for log in logs)


async def test_clean_removes_src_and_tmp_only(
    preparer: Preparer, origin: Origin, new_job: Callable[[], Path], tmp_path: Path
) -> None:
    job = new_job()
    await preparer.prepare(job, JobSource(origin=origin.url))
    write_files(job, {"keep/ckpt": "c", "workers/0/worker.log": "w", "tmp/scratch/x": "x"})
    locked = job / "src" / "locked"
    write_files(locked, {"inner/file": "f"})
    (locked / "inner").chmod(0o500)
    locked.chmod(0o500)

    await clean(job)

    assert sorted(path.name for path in job.iterdir()) == ["keep", "pit.log", "workers"]
    assert (job / "keep" / "ckpt").read_text() == "c"
    assert (job / "workers" / "0" / "worker.log").read_text() == "w"
    log = log_of(job)
    assert "] [clean] Removing tmp/ and src/." in log
    assert log.rstrip().endswith("] [clean] Cleaning done.")
    await clean(job)


async def test_clean_removes_a_symlinked_src_without_following_it(
    new_job: Callable[[], Path], tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    write_files(outside, {"precious": "p"})
    job = new_job()
    (job / "src").symlink_to(outside)

    await clean(job)

    assert not lexists(job / "src")
    assert (outside / "precious").read_text() == "p"
