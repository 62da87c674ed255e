"""The published "simplefs" operations (stats, listing, create/truncate, mkdir -p, recursive
delete), blocking, on top of the same resolver as the file-system API.

Deliberate differences from the published service: symlinks are never followed anywhere on the
way (403), components like ``..`` are refused (400) instead of being joined and prefix-tested,
and the root of a domain cannot be deleted (403).
"""

import os
import shutil
import stat
from typing import Any

from snakepit.data.attrs import simple_stats
from snakepit.data.domains import Domain, Right
from snakepit.data.errors import file_error
from snakepit.data.fileops import target
from snakepit.data.resolver import Target
from snakepit.errors import BadRequest


def stats(domain: Domain, parts: tuple[str, ...]) -> dict[str, Any]:
    """``{isFile, size, mtime, atime, ctime}`` of a file or directory."""
    with target(domain, parts, Right.READ) as found:
        return simple_stats(_plain(found))


def listing(domain: Domain, parts: tuple[str, ...]) -> dict[str, list[str]]:
    """``{dirs, files}`` of a directory: regular files and directories only, sorted."""
    dirs: list[str] = []
    files: list[str] = []
    with target(domain, parts, Right.READ) as found:
        fd = found.open(os.O_RDONLY | os.O_DIRECTORY)
        try:
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        dirs.append(entry.name)
                    elif entry.is_file(follow_symlinks=False):
                        files.append(entry.name)
        finally:
            os.close(fd)
    return {"dirs": sorted(dirs), "files": sorted(files)}


def is_directory(domain: Domain, parts: tuple[str, ...]) -> bool:
    """Whether ``parts`` is a directory (a file: False; missing or a link: the error)."""
    with target(domain, parts, Right.READ) as found:
        return stat.S_ISDIR(_plain(found).st_mode)


def put_file(domain: Domain, parts: tuple[str, ...], size: int) -> None:
    """Create a file of ``size`` bytes (zeros), or truncate an existing file to ``size``."""
    with target(domain, parts, Right.WRITE) as found:
        flags = os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK
        existing = _existing(found)
        if existing is not None and not stat.S_ISREG(existing.st_mode):
            raise file_error("EINVAL", found.path, "Path exists and is not a file")
        fd = found.open(flags)
        try:
            os.ftruncate(fd, size)
        finally:
            os.close(fd)


def make_directories(domain: Domain, parts: tuple[str, ...]) -> None:
    """``mkdir -p``; the final directory must not exist yet."""
    if not parts:
        domain.check(Right.WRITE, "")
        raise already_exists("")
    for depth in range(1, len(parts) + 1):
        with target(domain, parts[:depth], Right.WRITE) as found:
            try:
                os.mkdir(found.name, 0o755, dir_fd=found.dir_fd)
            except FileExistsError:
                if depth == len(parts):
                    raise already_exists(found.path) from None
                if not stat.S_ISDIR(_plain(found).st_mode):
                    raise file_error("ENOTDIR", found.path) from None


def open_for_append(domain: Domain, parts: tuple[str, ...], offset: int) -> int:
    """Open an existing file, truncated to ``offset``, positioned at its end; caller closes."""
    with target(domain, parts, Right.WRITE) as found:
        existing = _existing(found)
        if existing is None or not stat.S_ISREG(existing.st_mode):
            raise file_error("EINVAL", found.path, "Not an existing file")
        fd = found.open(os.O_WRONLY | os.O_NONBLOCK)
        try:
            os.ftruncate(fd, offset)
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return fd


def delete(domain: Domain, parts: tuple[str, ...]) -> None:
    """Delete a file, or a directory with everything in it (no link is followed)."""
    with target(domain, parts, Right.WRITE) as found:
        if found.is_root:
            raise file_error("EACCES", found.path, "The root of a domain cannot be deleted")
        if stat.S_ISDIR(_plain(found).st_mode):
            shutil.rmtree(found.name, dir_fd=found.dir_fd)
        else:
            os.unlink(found.name, dir_fd=found.dir_fd)


def already_exists(path: str) -> BadRequest:
    """simplefs answers 400 (not 409) when ``mkdir`` finds the path taken."""
    return BadRequest(f"Path already exists: /{path}", extra={"errno": "EEXIST"})


def _plain(found: Target) -> os.stat_result:
    """The status of a file or directory; a link is 403, anything else 404."""
    status = found.lstat()
    if stat.S_ISLNK(status.st_mode):
        raise file_error("EACCES", found.path, "Symbolic links are not followed")
    if not (stat.S_ISREG(status.st_mode) or stat.S_ISDIR(status.st_mode)):
        raise file_error("ENOENT", found.path, "Neither a file nor a directory")
    return status


def _existing(found: Target) -> os.stat_result | None:
    """The target's status, or None if it does not exist; a link is 403."""
    try:
        status = found.lstat()
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(status.st_mode):
        raise file_error("EACCES", found.path, "Symbolic links are not followed")
    return status
