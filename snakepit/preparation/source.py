"""Where a job's code comes from, and the checks it must pass before anything runs.

A :class:`JobSource` holds what the client sent (``origin``, ``hash``, ``diff``), the archive the
API already resolved below the user's home, and the ``keep/`` folder of a continued job.
:func:`validate_source` refuses anything that could reach git as an option or an unwanted
transport (``--upload-pack=…``, ``ext::…``, ``ssh://-oProxyCommand=…``), so the API can answer
400 at submission and the preparation can rely on it.
"""

import os
import re
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import trio

from snakepit.preparation.errors import PreparationRefused

#: URL schemes accepted for ``origin`` unless the service is configured otherwise.
DEFAULT_SCHEMES = frozenset({"https", "ssh", "git"})

#: Longest accepted ``origin``.
MAX_ORIGIN_CHARS = 2048

#: Largest accepted diff, in bytes of UTF-8.
MAX_DIFF_BYTES = 50 * 1024 * 1024

#: Other spellings git accepts for a scheme, mapped to the scheme they mean.
SCHEME_ALIASES = {"git+ssh": "ssh", "ssh+git": "ssh"}

_SCHEME_URL = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
# scp-like ``[user@]host:path``: no slash before the colon, host and user start with a letter or
# digit (so neither can be an ssh option), the path starts with neither ``:`` nor ``-``.
_SCP_LIKE = re.compile(
    r"(?:[A-Za-z0-9][A-Za-z0-9._~+-]*@)?"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])"
    r":(?P<path>[^:/-][^:]*|/[^/:][^:]*)"
)
_COMMIT = re.compile(r"[0-9a-fA-F]{4,64}")


@dataclass(frozen=True)
class JobSource:
    """The code of one job.

    Attributes:
        origin: git URL to clone (``origin`` in the pit directory); None for archive and script
            jobs.
        commit: commit to check out (the published wire field ``hash``); None for the default
            branch.
        diff: patch text to apply on top (``git diff`` output, with or without prefixes).
        archive: an already-resolved tar or tar.gz file to unpack instead of cloning.
        continue_from: the ``keep/`` folder of the job this one continues.
    """

    origin: str | None = None
    commit: str | None = None
    diff: str | None = None
    archive: Path | None = None
    continue_from: Path | None = None


def origin_scheme(origin: str) -> str:
    """The transport ``origin`` uses: a URL scheme, ``ssh`` for scp-like, ``file`` for paths.

    Raises:
        PreparationRefused: ``origin`` is neither a URL, nor scp-like, nor an absolute path.
    """
    match = _SCHEME_URL.match(origin)
    if match:
        scheme = match.group(1).lower()
        return SCHEME_ALIASES.get(scheme, scheme)
    if origin.startswith("/"):
        return "file"
    if _SCP_LIKE.fullmatch(origin):
        return "ssh"
    raise PreparationRefused("origin is not a git URL")


def check_origin(origin: str, schemes: frozenset[str]) -> None:
    """Refuse an origin that is malformed, too long, or uses a scheme not in ``schemes``.

    Raises:
        PreparationRefused: with a message naming the problem.
    """
    if not origin:
        raise PreparationRefused("origin is empty")
    if len(origin) > MAX_ORIGIN_CHARS:
        raise PreparationRefused(f"origin is longer than {MAX_ORIGIN_CHARS} characters")
    if origin.startswith("-"):
        raise PreparationRefused("origin must not start with '-'")
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in origin):
        raise PreparationRefused("origin must not contain spaces or control characters")
    scheme = origin_scheme(origin)
    if scheme not in schemes:
        allowed = ", ".join(sorted(schemes)) or "none"
        raise PreparationRefused(f"origin scheme {scheme!r} is not allowed (allowed: {allowed})")
    if _SCHEME_URL.match(origin):
        _check_url_parts(origin, scheme)


def _check_url_parts(origin: str, scheme: str) -> None:
    try:
        parts = urlsplit(origin)
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        raise PreparationRefused("origin is not a valid URL") from None
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise PreparationRefused("a file origin must be file:///absolute/path")
        return
    host = parts.hostname or ""
    if not host or host.startswith("-") or parts.netloc.startswith("-") or not port_ok:
        raise PreparationRefused("origin has no valid host")
    if parts.path.startswith("/-"):
        raise PreparationRefused("origin path must not start with '-'")


def check_commit(commit: str) -> None:
    """Refuse a commit that is not 4 to 64 hex digits (so it can never be an option).

    Raises:
        PreparationRefused: the commit is malformed.
    """
    if not _COMMIT.fullmatch(commit):
        raise PreparationRefused("hash must be 4 to 64 hexadecimal digits")


def check_diff(diff: str) -> None:
    """Refuse a diff larger than :data:`MAX_DIFF_BYTES`.

    Raises:
        PreparationRefused: the diff is too large.
    """
    if len(diff) > MAX_DIFF_BYTES or len(diff.encode("utf-8", "surrogateescape")) > MAX_DIFF_BYTES:
        raise PreparationRefused(f"diff is larger than {MAX_DIFF_BYTES // (1024 * 1024)} MiB")


def check_archive(archive: Path) -> None:
    """Refuse an archive that is not an existing regular file (symlinks refused). Blocking.

    Raises:
        PreparationRefused: the archive is missing, a symlink or not a regular file.
    """
    if not archive.is_absolute():
        raise PreparationRefused("archive path must be absolute")
    try:
        mode = os.lstat(archive).st_mode
    except FileNotFoundError:
        raise PreparationRefused("archive not found") from None
    if stat.S_ISLNK(mode):
        raise PreparationRefused("archive must not be a symbolic link")
    if not stat.S_ISREG(mode):
        raise PreparationRefused("archive is not a regular file")


def check_source(source: JobSource, schemes: frozenset[str] = DEFAULT_SCHEMES) -> None:
    """Every check of :func:`validate_source` that needs no disk access.

    Raises:
        PreparationRefused: with a message naming the first problem found.
    """
    if source.origin is not None and source.archive is not None:
        raise PreparationRefused("a job takes its code from git or from an archive, not both")
    if source.commit is not None and source.origin is None:
        raise PreparationRefused("a hash needs an origin")
    if source.origin is not None:
        check_origin(source.origin, schemes)
    if source.commit is not None:
        check_commit(source.commit)
    if source.diff is not None:
        check_diff(source.diff)


async def validate_source(
    source: JobSource,
    schemes: frozenset[str] = DEFAULT_SCHEMES,
    protected: tuple[Path, ...] = (),
) -> None:
    """Check a job's source before anything runs; the disk is looked at in a thread.

    Args:
        protected: folders no local (``file``) origin may lie in: the data root, whose
            repositories belong to users, groups and jobs the submitter may not read.

    Raises:
        PreparationRefused: with a message naming the first problem found.
    """
    check_source(source, schemes)
    if source.origin is not None and origin_scheme(source.origin) == "file" and protected:
        await trio.to_thread.run_sync(check_local_origin, source.origin, protected)
    if source.archive is not None:
        await trio.to_thread.run_sync(check_archive, source.archive)


def check_local_origin(origin: str, protected: tuple[Path, ...]) -> None:
    """Refuse a local repository inside a protected folder, symlinks resolved. Blocking.

    Raises:
        PreparationRefused: the origin resolves into one of ``protected``.
    """
    path = urlsplit(origin).path if _SCHEME_URL.match(origin) else origin
    # Both spellings: git may or may not decode %-escapes of a file URL.
    for spelling in {path, unquote(path)}:
        real = Path(os.path.realpath(spelling))
        for folder in protected:
            if real.is_relative_to(os.path.realpath(folder)):
                raise PreparationRefused("a local origin must not lie in Snakepit's data root")
