"""The data domains for the HTTP layer: operations in worker threads, streamed transfers.

:class:`DataFiles` runs each blocking operation of :mod:`snakepit.data.fileops` and
:mod:`snakepit.data.simplefs` with ``trio.to_thread.run_sync`` under its own
``CapacityLimiter`` (``disk_limiter``), so a burst of file requests cannot take every thread.
Reads are served in chunks of :data:`CHUNK` bytes and uploads written as they arrive; neither
ever holds a whole file in memory.
"""

import dataclasses
import os
from collections.abc import AsyncIterable, Callable
from typing import Any, TypeVar

import trio

from snakepit.data import fileops, simplefs
from snakepit.data.domains import Domain, Kind, Right, find_domain
from snakepit.data.errors import file_error, from_os_error
from snakepit.data.paths import join_parts
from snakepit.data.ranges import ByteRange, parse_range
from snakepit.dataroot import DataRoot
from snakepit.models import User
from snakepit.store import Database

T = TypeVar("T")

#: Bytes read from disk per step of a download, and gathered before a write of an upload.
CHUNK = 1024 * 1024
#: Worker threads the data routes may hold at once.
DISK_THREADS = 8


@dataclasses.dataclass
class Download:
    """A file about to be sent: its size, the range asked for (None: all of it), the bytes."""

    size: int
    wanted: ByteRange | None
    chunks: "FileChunks"


class DataFiles:
    """Finds domains for callers and runs file work off the event loop."""

    def __init__(self, database: Database, data_root: DataRoot) -> None:
        self.database = database
        self.data_root = data_root
        self.disk_limiter = trio.CapacityLimiter(DISK_THREADS)

    def domain(self, caller: User | None, kind: Kind, name: str = "") -> Domain:
        """The domain as ``caller`` sees it (see :func:`~snakepit.data.domains.find_domain`)."""
        return find_domain(self.database, self.data_root, caller, kind, name)

    async def run(self, work: Callable[..., T], *args: Any) -> T:
        """Run blocking ``work(*args)`` in a worker thread under ``disk_limiter``."""
        return await trio.to_thread.run_sync(work, *args, limiter=self.disk_limiter)

    async def download(
        self, domain: Domain, parts: tuple[str, ...], range_header: str | None
    ) -> Download:
        """Open a regular file for sending, whole or the single range in ``range_header``.

        Raises:
            ApiError: the file cannot be read (errno errors), or the range is malformed (400)
                or not satisfiable (416).
        """
        return await self.run(self._open_download, domain, parts, range_header)

    def _open_download(
        self, domain: Domain, parts: tuple[str, ...], range_header: str | None
    ) -> Download:
        """Open, check the range and read the first chunk, all in one trip to a thread (a
        FUSE read of up to :data:`CHUNK` bytes then costs no second one)."""
        fd, size = fileops.open_regular(domain, parts, Right.READ)
        try:
            wanted = parse_range(range_header, size)
            start, length = (0, size) if wanted is None else (wanted.start, wanted.length)
            first = _read(fd, min(CHUNK, length), start) if length else b""
        except BaseException:
            os.close(fd)
            raise
        chunks = FileChunks(self, fd, start, length, join_parts(parts), first)
        return Download(size, wanted, chunks)

    async def write(
        self,
        domain: Domain,
        parts: tuple[str, ...],
        offset: int,
        body: AsyncIterable[bytes],
        limit: int | None,
    ) -> int:
        """Write ``body`` into an existing file at ``offset``, without truncating; its size."""
        fd, _ = await self.run(fileops.open_regular, domain, parts, Right.WRITE)
        return await self.receive(fd, offset, body, join_parts(parts), limit)

    async def append(
        self, domain: Domain, parts: tuple[str, ...], offset: int, body: AsyncIterable[bytes]
    ) -> int:
        """simplefs: truncate an existing file to ``offset``, then append ``body``; its size."""
        fd = await self.run(simplefs.open_for_append, domain, parts, offset)
        return await self.receive(fd, offset, body, join_parts(parts), None)

    async def receive(
        self, fd: int, offset: int, body: AsyncIterable[bytes], path: str, limit: int | None
    ) -> int:
        """Write ``body`` into ``fd`` from ``offset`` as it arrives; close ``fd``.

        Args:
            limit: The most bytes accepted (413 EFBIG beyond it), or None.

        Returns:
            The file's size afterwards.
        """
        try:
            buffer = bytearray()
            received = 0
            size = None
            async for data in body:
                received += len(data)
                if limit is not None and received > limit:
                    raise file_error("EFBIG", path, f"Write larger than {limit} bytes")
                buffer += data
                if len(buffer) >= CHUNK:
                    size = await self.run(_write_all, fd, bytes(buffer), offset, path)
                    offset += len(buffer)
                    buffer.clear()
            if buffer:
                size = await self.run(_write_all, fd, bytes(buffer), offset, path)
            return size if size is not None else await self.run(_size, fd, path)
        finally:
            os.close(fd)


class FileChunks:
    """An async iterator over part of an open file, read in worker threads.

    It owns the descriptor: ``aclose`` (which Quart calls when the response ends, however it
    ends) closes it, and so does garbage collection of a stream that was never started.
    """

    def __init__(
        self, files: DataFiles, fd: int, start: int, length: int, path: str, first: bytes
    ) -> None:
        self._files = files
        self._fd: int | None = fd
        self._position = start
        self._left = length
        self._path = path
        #: Bytes read already, sent before anything else.
        self._first: bytes | None = first

    def __aiter__(self) -> "FileChunks":
        return self

    async def __anext__(self) -> bytes:
        if self._fd is None or self._left <= 0:
            self._close()
            raise StopAsyncIteration
        if self._first is not None:
            data, self._first = self._first, None
        else:
            data = await self._files.run(_read, self._fd, min(CHUNK, self._left), self._position)
        if not data:  # the file shrank while being sent: the response ends short
            self._close()
            raise StopAsyncIteration
        self._position += len(data)
        self._left -= len(data)
        return data

    async def aclose(self) -> None:
        self._close()

    def _close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        self._close()


def _read(fd: int, length: int, position: int) -> bytes:
    return os.pread(fd, length, position)


def _write_all(fd: int, data: bytes, offset: int, path: str) -> int:
    """Write all of ``data`` at ``offset``; the file's size afterwards."""
    view = memoryview(data)
    try:
        while view:
            written = os.pwrite(fd, view, offset)
            view = view[written:]
            offset += written
        return os.fstat(fd).st_size
    except OSError as error:
        raise from_os_error(error, path) from None


def _size(fd: int, path: str) -> int:
    try:
        return os.fstat(fd).st_size
    except OSError as error:
        raise from_os_error(error, path) from None
