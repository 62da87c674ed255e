"""What ``pit run`` sends from a git checkout: the tracked remote's URL, the tracking branch's
commit, and the diff of the working tree against it (binary changes included).

git runs without a shell, with ``--`` before paths; the diff uses git's ``a/``/``b/`` prefixes
whatever the user's configuration says, which the service detects and applies with
``git apply --binary``.
"""

import dataclasses
import re
import subprocess
import tempfile
from pathlib import Path

from snakepit.client.errors import ClientError

_GITHUB_SSH = re.compile(r"^git@github\.com:")
_CREDENTIALS = re.compile(r"//[^/@]*@")


@dataclasses.dataclass(frozen=True)
class GitSource:
    remote: str
    origin: str
    hash: str
    diff: str

    @property
    def diff_lines(self) -> int:
        return len(self.diff.splitlines())

    @property
    def shown_origin(self) -> str:
        """The origin with any credentials removed, for printing."""
        return _CREDENTIALS.sub("//", self.origin)


def git(cwd: Path, *args: str, check: bool = True) -> str | None:
    """Run ``git args`` in ``cwd``; its stdout, or None when it fails and ``check`` is off.

    Raises:
        ClientError: git is missing, or it failed while ``check`` is on.
    """
    result = _run_git(cwd, args)
    if result.returncode != 0:
        if check:
            raise _failure(args, result)
        return None
    return result.stdout.decode("utf-8", "surrogateescape")


def git_bytes(cwd: Path, *args: str) -> bytes:
    """Run ``git args`` in ``cwd``; its stdout as bytes (see :func:`git`)."""
    result = _run_git(cwd, args)
    if result.returncode != 0:
        raise _failure(args, result)
    return bytes(result.stdout)


def _run_git(cwd: Path, args: tuple[str, ...]) -> "subprocess.CompletedProcess[bytes]":
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError:
        raise ClientError('Problem executing "git": Not found') from None


def _failure(args: tuple[str, ...], result: "subprocess.CompletedProcess[bytes]") -> ClientError:
    detail = result.stderr.decode(errors="replace").strip()
    return ClientError(f'Problem executing "git {args[0]}": {detail}')


def read_diff(cwd: Path, commit: str) -> str:
    """``git diff --binary`` of the working tree against ``commit``.

    A text change in a file that is not UTF-8 cannot travel in JSON as it is: then the diff is
    made again with every file treated as binary (git's base85 patches are ASCII and ``git
    apply`` restores them byte for byte).
    """
    args = ["diff", "--binary", "--no-color", "--no-ext-diff", "--no-textconv"]
    args += ["--src-prefix=a/", "--dst-prefix=b/", commit, "--"]
    raw = git_bytes(cwd, *args)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    with tempfile.TemporaryDirectory(prefix="pit-") as folder:
        attributes = Path(folder) / "attributes"
        attributes.write_text("* binary\n")
        raw = git_bytes(cwd, "-c", f"core.attributesFile={attributes}", *args)
    return raw.decode("utf-8", "surrogateescape")


def public_origin(url: str) -> str:
    """The URL the service clones: GitHub's SSH form becomes its HTTPS form."""
    return _GITHUB_SSH.sub("https://github.com/", url)


def read_git_source(cwd: Path) -> GitSource:
    """The tracking branch's remote URL and commit, and the working tree's diff against it.

    Raises:
        ClientError: not on a branch, no tracking branch, or git failing.
    """
    branch = git(cwd, "symbolic-ref", "--quiet", "--short", "HEAD", check=False)
    if branch is None:
        raise ClientError(
            "The checkout is not on a branch (detached HEAD): check out a branch that tracks a"
            ' remote branch, or use "pit run -a" to send the directory as an archive.'
        )
    branch = branch.strip()
    hint = (
        f'The branch "{branch}" has no tracking branch: push it with'
        f' "git push -u <remote> {branch}" (or set one with "git branch --set-upstream-to"),'
        ' or use "pit run -a" to send the directory as an archive.'
    )
    remote = git(cwd, "config", "--get", f"branch.{branch}.remote", check=False)
    tracking = git(cwd, "rev-parse", "--verify", "--quiet", "@{u}^{commit}", check=False)
    if remote is None or tracking is None or remote.strip() in ("", "."):
        raise ClientError(hint)
    remote = remote.strip()
    if remote.startswith("-"):
        raise ClientError(f'Unusable remote name "{remote}"')
    url = git(cwd, "remote", "get-url", "--push", remote)
    commit = tracking.strip()
    diff = read_diff(cwd, commit)
    assert url is not None
    return GitSource(remote, public_origin(url.strip()), commit, diff)
