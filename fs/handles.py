"""Open files and open directories of a mount, by file handle.

An :class:`OpenFile` bundles the read-ahead and write-behind of one ``open()``; the registry also
finds every open file of an inode, so that a read or ``stat`` sees bytes another handle has
buffered but not yet uploaded.
"""

import dataclasses
import itertools
from collections.abc import Iterator

from fs.reading import ReadAhead
from fs.writing import WriteBehind
from snakepit.client.filesystem import Attr, FsError


@dataclasses.dataclass
class OpenFile:
    inode: int
    reader: ReadAhead
    writer: WriteBehind


@dataclasses.dataclass
class OpenDir:
    inode: int
    path: str
    entries: list[Attr]


class Handles:
    """File and directory handles, numbered from 1."""

    def __init__(self) -> None:
        self.files: dict[int, OpenFile] = {}
        self.dirs: dict[int, OpenDir] = {}
        self._next = itertools.count(1)

    def add_file(self, file: OpenFile) -> int:
        fh = next(self._next)
        self.files[fh] = file
        return fh

    def add_dir(self, folder: OpenDir) -> int:
        fh = next(self._next)
        self.dirs[fh] = folder
        return fh

    def file(self, fh: int) -> OpenFile:
        """The open file ``fh``.

        Raises:
            FsError: EBADF, no such handle.
        """
        file = self.files.get(fh)
        if file is None:
            raise FsError("EBADF", f"no open file {fh}")
        return file

    def dir(self, fh: int) -> OpenDir:
        folder = self.dirs.get(fh)
        if folder is None:
            raise FsError("EBADF", f"no open directory {fh}")
        return folder

    def of_inode(self, inode: int) -> Iterator[OpenFile]:
        return (file for file in self.files.values() if file.inode == inode)

    def pending_end(self, inode: int) -> int:
        """How far buffered writes of ``inode`` reach (0 when none are buffered)."""
        return max((file.writer.pending_end for file in self.of_inode(inode)), default=0)
