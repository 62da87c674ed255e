"""Applying the client's diff inside ``src/`` with ``git apply``.

The published client sends ``git diff --no-prefix`` (paths as they are: ``-p0``); other clients
and hand-made patches use git's default ``a/``/``b/`` prefixes (``-p1``). :func:`strip_level`
tells them apart from the ``diff --git`` headers (or from the ``---``/``+++`` lines of a plain
unified diff): ``-p1`` only when every header names an ``a/``-like and a different ``b/``-like
prefix (git's mnemonic prefixes ``i/ w/ c/ o/`` count too).

``git apply`` (not ``patch``) restores binary files from ``git diff --binary`` exactly (#105)
and refuses paths that leave the working tree (``../x``, absolute paths, paths beyond a
symlink). When ``src/`` is not a clone, git gets a fresh empty repository of ours as
``GIT_DIR`` with ``src/`` as its work tree, so it neither looks above ``src/`` nor reads a
``.git`` folder that came in an archive.
"""

import re
import shutil
from pathlib import Path

import trio

from snakepit.preparation.git import run_git
from snakepit.preparation.pitlog import PitLog

#: File the diff is written to, in the job directory (as the published service).
PATCH_NAME = "git.patch"

_PREFIXED_HEADER = re.compile(r'diff --git "?([abciow])/.* "?([abciow])/')
_PREFIXED_PLAIN = {"--- ": ("a/", "c/", "i/", "o/", "w/"), "+++ ": ("b/", "i/", "w/")}


def strip_level(patch: str) -> int:
    """1 if the patch's paths carry ``a/``/``b/``-style prefixes, else 0."""
    lines = patch.splitlines()
    headers = [line for line in lines if line.startswith("diff --git ")]
    if headers:
        return 1 if all(_prefixed_header(line) for line in headers) else 0
    names = [
        (line[:4], line[4:].lstrip('"'))
        for line in lines
        if line.startswith(("--- ", "+++ ")) and not line[4:].startswith("/dev/null")
    ]
    if names and all(name.startswith(_PREFIXED_PLAIN[kind]) for kind, name in names):
        return 1
    return 0


def _prefixed_header(line: str) -> bool:
    match = _PREFIXED_HEADER.match(line)
    return match is not None and match.group(1) != match.group(2)


async def apply_diff(log: PitLog, job_dir: Path, diff: str, *, in_clone: bool) -> None:
    """Write ``diff`` to ``<job dir>/git.patch`` and apply it to ``<job dir>/src``.

    Args:
        log: where git's messages go.
        job_dir: the job directory, holding ``src/``.
        diff: the patch text.
        in_clone: ``src/`` is a git clone (else a private repository is used, see above).

    Raises:
        PreparationFailed: ``git apply failed: <git's error>``.
    """
    patch_file = job_dir / PATCH_NAME
    text = diff if diff.endswith("\n") else diff + "\n"
    data = text.encode("utf-8", "surrogateescape")
    await trio.to_thread.run_sync(patch_file.write_bytes, data)
    level = strip_level(diff)
    src = job_dir / "src"
    args = ["apply", "--binary", "--whitespace=nowarn", f"-p{level}", "--", str(patch_file)]
    if in_clone:
        env = {"GIT_CEILING_DIRECTORIES": str(job_dir)}
        await run_git(log, args, cwd=src, env=env, what="git apply")
        return
    scratch = job_dir / "tmp" / ".snakepit-apply.git"
    await run_git(log, ["init", "--quiet", "--bare", "--", str(scratch)], what="git init")
    env = {"GIT_DIR": str(scratch), "GIT_WORK_TREE": str(src)}
    await run_git(log, args, cwd=src, env=env, what="git apply")
    # On failure the scratch repository stays in tmp/, which cleaning removes.
    await trio.to_thread.run_sync(shutil.rmtree, scratch)
