"""Blocking file work of preparation and cleaning; callers run these in threads.

``keep/`` of a continued job is copied without following symlinks and without opening anything
but regular files (a FIFO left by a job would block a plain copy forever). Archives are unpacked
with tarfile's ``data`` filter and absolute member names refused outright. Removal of ``src/`` and
``tmp/`` copes with read-only folders a job may leave and never follows a symlink.
"""

import contextlib
import os
import shutil
import stat
import tarfile
from pathlib import Path

import trio

from snakepit.preparation.errors import CleaningFailed, PreparationFailed

#: Folders removed by cleaning; ``keep/``, logs and ``workers/`` stay.
WORK_DIRS = ("tmp", "src")


def check_cancelled() -> None:
    """Raise ``trio.Cancelled`` in a worker thread whose trio caller was cancelled, so a long
    copy or unpack stops at the next file instead of running past the caller's deadline."""
    with contextlib.suppress(RuntimeError):  # not called from trio.to_thread
        trio.from_thread.check_cancelled()


def make_work_dirs(job_dir: Path, continue_from: Path | None) -> list[str]:
    """Create ``tmp/``, and ``keep/`` as a copy of ``continue_from`` or empty.

    Returns:
        Paths (relative to ``continue_from``) of entries skipped because they are neither
        regular files, folders nor symlinks.

    Raises:
        PreparationFailed: ``continue_from`` is missing or cannot be copied.
    """
    (job_dir / "tmp").mkdir(exist_ok=True)
    keep = job_dir / "keep"
    if continue_from is None:
        keep.mkdir(exist_ok=True)
        return []
    if continue_from.is_symlink() or not continue_from.is_dir():
        raise PreparationFailed("keep/ of the continued job is missing")
    skipped: list[str] = []

    def copy_regular(source: str, target: str) -> None:
        check_cancelled()
        if not _copy_regular_file(source, target):
            skipped.append(os.path.relpath(source, continue_from))

    try:
        shutil.copytree(
            continue_from, keep, symlinks=True, copy_function=copy_regular, dirs_exist_ok=True
        )
    except shutil.Error as error:
        failures = error.args[0]
        first = failures[0][2] if failures and isinstance(failures, list) else str(error)
        raise PreparationFailed(f"copying keep/ of the continued job failed: {first}") from None
    except OSError as error:
        raise PreparationFailed(
            f"copying keep/ of the continued job failed: {error.strerror}"
        ) from None
    return skipped


def _copy_regular_file(source: str, target: str) -> bool:
    """Copy ``source`` with its metadata if it is a regular file; False if it is not."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(source, flags)
    except OSError:
        if not stat.S_ISREG(os.lstat(source).st_mode):
            return False
        raise
    with open(fd, "rb") as reader:
        if not stat.S_ISREG(os.fstat(reader.fileno()).st_mode):
            return False
        out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with open(out, "wb") as writer:
            shutil.copyfileobj(reader, writer)
    shutil.copystat(source, target, follow_symlinks=False)
    return True


def _strict_data_filter(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo | None:
    """tarfile's ``data`` filter, and refuse absolute names rather than strip them."""
    check_cancelled()
    if member.name.startswith("/") or os.path.isabs(member.name):
        raise tarfile.AbsolutePathError(member)
    return tarfile.data_filter(member, dest_path)


def unpack_archive(archive: Path, src: Path) -> None:
    """Unpack a tar or tar.gz ``archive`` into a new ``src`` folder, refusing unsafe members.

    Raises:
        PreparationFailed: ``archive refused: ...`` for an unsafe member, ``archive could not be
            unpacked: ...`` for a damaged or unreadable one.
    """
    try:
        fd = os.open(archive, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as error:
        raise PreparationFailed(f"archive could not be opened: {error.strerror}") from None
    with open(fd, "rb") as raw:
        if not stat.S_ISREG(os.fstat(raw.fileno()).st_mode):
            raise PreparationFailed("archive is not a regular file")
        src.mkdir()
        try:
            with tarfile.open(fileobj=raw, mode="r:*") as tar:
                tar.extractall(src, filter=_strict_data_filter)
        except tarfile.FilterError as error:
            raise PreparationFailed(f"archive refused: {error}") from None
        except (tarfile.TarError, EOFError, OSError) as error:
            raise PreparationFailed(f"archive could not be unpacked: {error}") from None


def remove_work_dirs(job_dir: Path) -> list[str]:
    """Remove ``tmp/`` and ``src/`` of ``job_dir``; a symlink is removed, never followed.

    Returns:
        The names removed.

    Raises:
        CleaningFailed: a folder could not be removed.
    """
    removed = []
    for name in WORK_DIRS:
        path = job_dir / name
        try:
            if path.is_symlink() or (path.exists() and not path.is_dir()):
                path.unlink()
            elif path.is_dir():
                _remove_tree(path)
            else:
                continue
        except OSError as error:
            raise CleaningFailed(f"removing {name}/ failed: {error.strerror}") from None
        removed.append(name)
    return removed


def _remove_tree(path: Path) -> None:
    try:
        shutil.rmtree(path)
    except OSError:
        # A job may leave folders it cannot write to; open them up and try once more.
        _open_up(path)
        shutil.rmtree(path)


def _open_up(top: Path) -> None:
    """Give the owner full rights on every folder below ``top``, following no symlink."""
    os.chmod(top, stat.S_IRWXU)
    for root, dirs, _files in os.walk(top):
        for name in dirs:
            folder = os.path.join(root, name)
            if not os.path.islink(folder):
                os.chmod(folder, stat.S_IRWXU)
