"""The file-system API's operations, each one resolve-then-act, blocking (run in a thread).

Every function takes the caller's :class:`~snakepit.data.domains.Domain` and the checked
components of a path, and raises :class:`~snakepit.errors.ApiError` with an errno name (see
:mod:`snakepit.data.errors`). Nothing here follows a symbolic link: a link is reported as one
and reading, writing or changing through it is EACCES. The root of a domain cannot be removed
or renamed.
"""

import contextlib
import ctypes
import functools
import os
import stat
from collections.abc import Iterator
from typing import Any

from snakepit.data.attrs import attr
from snakepit.data.domains import Domain, Right
from snakepit.data.errors import file_error, from_os_error
from snakepit.data.paths import join_parts
from snakepit.data.resolver import Target, resolve

#: Permission bits a client may set; set-id and sticky bits are not for remote clients.
MODE_MASK = 0o777
#: renameat2 flag: fail with EEXIST instead of replacing the destination.
RENAME_NOREPLACE = 1


@contextlib.contextmanager
def os_errors(path: str) -> Iterator[None]:
    """Turn an ``OSError`` inside the block into the API error for ``path``."""
    try:
        yield
    except OSError as error:
        raise from_os_error(error, path) from None


@contextlib.contextmanager
def target(domain: Domain, parts: tuple[str, ...], right: Right) -> Iterator[Target]:
    """:func:`resolve` plus the ``OSError`` translation for the work done inside."""
    with resolve(domain, parts, right) as found, os_errors(found.path):
        yield found


def get_attr(domain: Domain, parts: tuple[str, ...]) -> dict[str, Any]:
    with target(domain, parts, Right.READ) as found:
        return attr(found.basename, found.lstat())


def list_dir(domain: Domain, parts: tuple[str, ...]) -> dict[str, Any]:
    """Every entry of a directory with its Attr (no ``.`` and ``..``)."""
    with target(domain, parts, Right.READ) as found:
        fd = found.open(os.O_RDONLY | os.O_DIRECTORY)
        try:
            with os.scandir(fd) as entries:
                listed = [attr(entry.name, entry.stat(follow_symlinks=False)) for entry in entries]
        finally:
            os.close(fd)
    listed.sort(key=lambda entry: entry["name"])
    return {"entries": listed}


def open_regular(domain: Domain, parts: tuple[str, ...], right: Right) -> tuple[int, int]:
    """Open an existing regular file to read (``Right.READ``) or write; the caller closes it.

    Returns:
        The descriptor and the file's size.
    """
    flags = os.O_RDONLY if right is Right.READ else os.O_WRONLY
    with target(domain, parts, right) as found:
        # O_NONBLOCK: opening a FIFO must not hang; it is refused just below.
        fd = found.open(flags | os.O_NONBLOCK)
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            os.close(fd)
            name = "EISDIR" if stat.S_ISDIR(status.st_mode) else "EINVAL"
            raise file_error(name, found.path, None if name == "EISDIR" else "Not a regular file")
        return fd, status.st_size


def create(domain: Domain, parts: tuple[str, ...], mode: int | None, exclusive: bool) -> Any:
    """Create a file (or, not exclusive, truncate an existing one to 0)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    with target(domain, parts, Right.WRITE) as found:
        fd = found.open(flags | os.O_NONBLOCK, 0o644)
        try:
            status = os.fstat(fd)
            if not stat.S_ISREG(status.st_mode):
                raise file_error("EINVAL", found.path, "Not a regular file")
            if mode is not None:
                os.fchmod(fd, mode & MODE_MASK)
                status = os.fstat(fd)
        finally:
            os.close(fd)
        return attr(found.basename, status)


def mkdir(domain: Domain, parts: tuple[str, ...], mode: int | None) -> dict[str, Any]:
    with target(domain, parts, Right.WRITE) as found:
        os.mkdir(found.name, 0o755, dir_fd=found.dir_fd)
        if mode is not None:
            fd = found.open(os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fchmod(fd, mode & MODE_MASK)
            finally:
                os.close(fd)
        return attr(found.basename, found.lstat())


def unlink(domain: Domain, parts: tuple[str, ...]) -> None:
    """Remove a file or symlink (a directory is EISDIR)."""
    with target(domain, parts, Right.WRITE) as found:
        _refuse_root(found, "removed")
        os.unlink(found.name, dir_fd=found.dir_fd)


def rmdir(domain: Domain, parts: tuple[str, ...]) -> None:
    """Remove an empty directory (not empty: ENOTEMPTY; a file or link: ENOTDIR)."""
    with target(domain, parts, Right.WRITE) as found:
        _refuse_root(found, "removed")
        os.rmdir(found.name, dir_fd=found.dir_fd)


def rename(
    domain: Domain, parts: tuple[str, ...], to: tuple[str, ...], no_replace: bool
) -> dict[str, Any]:
    """Move an entry within its domain; the Attr of the entry at its new place."""
    with target(domain, parts, Right.WRITE) as source, target(domain, to, Right.WRITE) as dest:
        _refuse_root(source, "renamed")
        _refuse_root(dest, "replaced")
        if no_replace:
            _rename_noreplace(source.dir_fd, source.name, dest.dir_fd, dest.name)
        else:
            os.rename(source.name, dest.name, src_dir_fd=source.dir_fd, dst_dir_fd=dest.dir_fd)
        return attr(dest.basename, dest.lstat())


def set_attr(domain: Domain, parts: tuple[str, ...], changes: dict[str, int]) -> dict[str, Any]:
    """Apply ``size``, ``mode``, ``atimeNs`` and ``mtimeNs`` (each optional), in that order."""
    with target(domain, parts, Right.WRITE) as found:
        if not changes:
            return attr(found.basename, found.lstat())
        write = "size" in changes
        fd = found.open((os.O_WRONLY if write else os.O_RDONLY) | os.O_NONBLOCK)
        try:
            if write:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    raise file_error("EINVAL", found.path, "Not a regular file")
                os.ftruncate(fd, changes["size"])
            if "mode" in changes:
                os.fchmod(fd, changes["mode"] & MODE_MASK)
            if "atimeNs" in changes or "mtimeNs" in changes:
                status = os.fstat(fd)
                times = (
                    changes.get("atimeNs", status.st_atime_ns),
                    changes.get("mtimeNs", status.st_mtime_ns),
                )
                os.utime(fd, ns=times)
            return attr(found.basename, os.fstat(fd))
        finally:
            os.close(fd)


def statfs(domain: Domain) -> dict[str, Any]:
    """The file system holding the domain; ``readOnly`` when the caller may not write."""
    with target(domain, (), Right.READ) as found:
        status = os.fstatvfs(found.dir_fd)
    return {
        "blockSize": status.f_frsize or status.f_bsize,
        "blocks": status.f_blocks,
        "blocksFree": status.f_bfree,
        "blocksAvail": status.f_bavail,
        "files": status.f_files,
        "filesFree": status.f_ffree,
        "nameMax": status.f_namemax,
        "readOnly": not domain.may_write,
    }


def _refuse_root(found: Target, what: str) -> None:
    if found.is_root:
        raise file_error("EACCES", found.path, f"The root of a domain cannot be {what}")


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _rename_noreplace(src_fd: int, src: str, dst_fd: int, dst: str) -> None:
    """renameat2(..., RENAME_NOREPLACE): EEXIST if ``dst`` exists."""
    result = _libc().renameat2(src_fd, os.fsencode(src), dst_fd, os.fsencode(dst), RENAME_NOREPLACE)
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), join_parts((dst,)))
