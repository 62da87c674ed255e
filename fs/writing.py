"""Write-behind for one open file: contiguous writes gathered into large uploads.

The kernel hands over at most 128 KiB per FUSE write. :class:`WriteBehind` appends contiguous
writes to one buffer and sends it as one ``PUT`` when it reaches :data:`FLUSH_SIZE`, when a write
does not continue it, and on flush, fsync and release (so ``close()`` reports a failed upload).
"""

from collections.abc import Awaitable, Callable

import trio

#: Buffered bytes that trigger an upload (well below the service's default maxBodySize, 50 MiB).
FLUSH_SIZE = 8 * 1024 * 1024

Store = Callable[[int, bytes], Awaitable[int]]


class WriteBehind:
    """The write buffer of one open file.

    Args:
        store: ``store(offset, data)`` writes to the service and returns the file's new size.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._start = 0
        self._buffer = bytearray()
        self._lock = trio.Lock()

    @property
    def pending_end(self) -> int:
        """The end offset of the buffered bytes; 0 when nothing is buffered."""
        return self._start + len(self._buffer) if self._buffer else 0

    def __bool__(self) -> bool:
        return bool(self._buffer)

    async def write(self, offset: int, data: bytes) -> None:
        """Buffer ``data`` at ``offset``, uploading what was buffered when it does not continue.

        Raises:
            FsError: an upload this write caused failed.
        """
        async with self._lock:
            if self._buffer and offset != self._start + len(self._buffer):
                await self._upload()
            if not self._buffer:
                self._start = offset
            self._buffer += data
            if len(self._buffer) >= FLUSH_SIZE:
                await self._upload()

    async def flush(self) -> None:
        """Upload what is buffered.

        Raises:
            FsError: the upload failed; the buffered bytes are lost, as the kernel reports.
        """
        async with self._lock:
            await self._upload()

    async def _upload(self) -> None:
        if not self._buffer:
            return
        start, data = self._start, bytes(self._buffer)
        self._buffer.clear()
        await self.store(start, data)
