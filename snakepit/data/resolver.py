"""The one place where a client's path becomes something on disk.

:func:`resolve` checks the caller's right on the domain first, then walks from the domain's
folder to the parent of the target one component at a time, each opened relative to the one
before with ``O_NOFOLLOW | O_DIRECTORY``: a symbolic link anywhere on the way is refused
(403 EACCES), never followed. The walk ends with a check that the parent's real path (read
back from ``/proc/self/fd``) still lies inside the domain's real path, which catches a folder
moved out of the domain during the walk. Operations then act on the last component relative
to the parent's descriptor, never through a path string, and never follow a final symlink.

Blocking: call it in a worker thread.
"""

import contextlib
import dataclasses
import errno
import os
import stat
from collections.abc import Iterator

from snakepit.data.domains import Domain, Right
from snakepit.data.errors import file_error, from_os_error
from snakepit.data.paths import join_parts

#: Flags that open a directory on the way without following a symlink.
DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclasses.dataclass(frozen=True)
class Target:
    """A resolved path: its parent directory's descriptor and its own name there.

    For the domain root, ``name`` is ``"."`` and ``dir_fd`` is the root itself.
    """

    dir_fd: int
    name: str
    #: The path relative to the domain, as the client named it ("" for the root).
    path: str

    @property
    def is_root(self) -> bool:
        return self.name == "."

    @property
    def basename(self) -> str:
        return "" if self.is_root else self.name

    def lstat(self) -> os.stat_result:
        """The target's own status (a symlink is not followed)."""
        return os.stat(self.name, dir_fd=self.dir_fd, follow_symlinks=False)

    def open(self, flags: int, mode: int = 0o644) -> int:
        """Open the target itself, never through a symlink.

        Raises:
            OSError: ELOOP for a symlink (reported as EACCES), also where ``O_DIRECTORY``
                makes the kernel say ENOTDIR first.
        """
        flags |= os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            return os.open(self.name, flags, mode, dir_fd=self.dir_fd)
        except NotADirectoryError:
            if _is_link(self.dir_fd, self.name):
                raise OSError(errno.ELOOP, "Symbolic links are not followed", self.path) from None
            raise


@contextlib.contextmanager
def resolve(domain: Domain, parts: tuple[str, ...], right: Right) -> Iterator[Target]:
    """Check ``right`` on ``domain``, then open the parent of ``parts`` inside it.

    Args:
        domain: The domain and the caller's rights in it.
        parts: Components already checked by :func:`snakepit.data.paths.split_path`.
        right: What the operation will do.

    Raises:
        ApiError: 403 EACCES or EROFS (no right, or a symlink on the way), 404 ENOENT (the
            domain's folder or a parent is missing), 400 ENOTDIR (a parent is a file).
    """
    path = join_parts(parts)
    domain.check(right, path)
    try:
        fd = os.open(domain.root, DIRECTORY_FLAGS)
    except FileNotFoundError:
        raise file_error("ENOENT", path, "The data folder of this domain does not exist") from None
    except OSError as error:
        raise from_os_error(error, path) from None
    try:
        root_real = _real_path(fd)
        for index, part in enumerate(parts[:-1]):
            fd = _step(fd, part, join_parts(parts[: index + 1]))
        if parts and not _inside(_real_path(fd), root_real):
            raise file_error("EACCES", path, "Path left its domain")
        yield Target(fd, parts[-1] if parts else ".", path)
    finally:
        os.close(fd)


def _step(fd: int, part: str, so_far: str) -> int:
    """Open directory ``part`` below ``fd`` and close ``fd``; refuse a symlink."""
    try:
        child = os.open(part, DIRECTORY_FLAGS, dir_fd=fd)
    except OSError as error:
        if error.errno in (errno.ENOTDIR, errno.ELOOP) and _is_link(fd, part):
            raise file_error("EACCES", so_far, "Symbolic links are not followed") from None
        raise from_os_error(error, so_far) from None
    os.close(fd)
    return child


def _is_link(fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _real_path(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")
