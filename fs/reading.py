"""Read-ahead for one open file: large ranged reads, cached in blocks, prefetched when sequential.

The kernel asks for at most 128 KiB per FUSE read; one HTTP request per read would spend most of
its time on request overhead. :class:`ReadAhead` fetches whole :data:`BLOCK_SIZE` blocks, keeps
the last few, and while a reader goes through the file front to back it fetches the next
:data:`PREFETCH_BLOCKS` blocks in the background. A block shorter than :data:`BLOCK_SIZE` ends the
file at the time it was fetched; it expires after the attribute lifetime so that a growing log
shows its new lines.
"""

import bisect
import dataclasses
import itertools
import time
from collections.abc import Awaitable, Callable

import trio

#: Bytes per ranged request to the service.
BLOCK_SIZE = 8 * 1024 * 1024
#: Blocks fetched ahead of a sequential reader.
PREFETCH_BLOCKS = 3
#: Blocks kept per open file (the ones being read, the ones ahead, and a few behind).
KEEP_BLOCKS = 5
#: Seconds a block that ended at the end of the file is trusted (the file may grow).
SHORT_BLOCK_TTL_S = 1.0

#: ``fetch(offset, size)``: the bytes as a list of pieces.
Fetch = Callable[[int, int], Awaitable[list[bytes]]]


@dataclasses.dataclass
class Block:
    """One block of the file, fetched or being fetched, kept as the network's pieces."""

    index: int
    ready: trio.Event = dataclasses.field(default_factory=trio.Event)
    chunks: list[bytes] = dataclasses.field(default_factory=list)
    #: The end offset (within the block) of each chunk.
    ends: list[int] = dataclasses.field(default_factory=list)
    error: Exception | None = None
    #: Stopped before it was fetched (the waiting readers fetch it again).
    cancelled: bool = False
    fetched_at: float = 0.0

    @property
    def size(self) -> int:
        return self.ends[-1] if self.ends else 0

    def is_short(self) -> bool:
        return self.size < BLOCK_SIZE

    def set_chunks(self, chunks: list[bytes]) -> None:
        self.chunks = [chunk for chunk in chunks if chunk]
        self.ends = list(itertools.accumulate(len(chunk) for chunk in self.chunks))

    def piece(self, start: int, length: int) -> bytes:
        """``length`` bytes from ``start`` within the block (fewer at its end), copied once."""
        end = min(start + length, self.size)
        if start >= end:
            return b""
        index = bisect.bisect_right(self.ends, start)
        parts: list[memoryview] = []
        while start < end:
            chunk = self.chunks[index]
            chunk_start = self.ends[index] - len(chunk)
            if not parts and start == chunk_start and end == self.ends[index]:
                return chunk  # exactly one chunk: no copy at all
            parts.append(memoryview(chunk)[start - chunk_start : end - chunk_start])
            start = min(end, self.ends[index])
            index += 1
        return b"".join(parts)


class ReadAhead:
    """The block cache of one open file.

    Args:
        fetch: ``fetch(offset, size)`` reads pieces from the service (FsError on failure).
        nursery: Where prefetches run; they end with the nursery or :meth:`close`.
        clock: Seconds, for the lifetime of short blocks (``time.monotonic``).
    """

    def __init__(
        self, fetch: Fetch, nursery: trio.Nursery, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.fetch = fetch
        self.nursery = nursery
        self.clock = clock
        self._blocks: dict[int, Block] = {}
        self._next_offset = -1
        self._scopes: set[trio.CancelScope] = set()

    async def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (fewer at the end of the file).

        Raises:
            FsError: the service refused or could not be reached.
        """
        sequential = offset == self._next_offset or offset == 0
        pieces: list[bytes] = []
        position, end = offset, offset + size
        index = offset // BLOCK_SIZE
        while position < end:
            index = position // BLOCK_SIZE
            block = await self._block(index)
            piece = block.piece(position - index * BLOCK_SIZE, end - position)
            pieces.append(piece)
            position += len(piece)
            if block.is_short():
                break
        self._next_offset = position
        if sequential:
            for ahead in range(index + 1, index + 1 + PREFETCH_BLOCKS):
                if not self._start(ahead):
                    break
        self._evict(index)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def invalidate(self) -> None:
        """The file changed through the mount (write, truncate): forget every block."""
        self.close()
        self._blocks.clear()

    def close(self) -> None:
        """Stop the prefetches of this file."""
        for scope in self._scopes:
            scope.cancel()
        self._scopes.clear()

    async def _block(self, index: int) -> Block:
        while True:
            block = self._blocks.get(index)
            if block is not None and block.ready.is_set() and not self._usable(block):
                del self._blocks[index]
                block = None
            if block is None:
                block = Block(index)
                self._blocks[index] = block
                await self._fill(block)
            else:
                await block.ready.wait()
            if block.cancelled:
                continue  # a prefetch stopped by invalidate(): fetch it again
            if block.error is not None:
                raise block.error
            return block

    def _usable(self, block: Block) -> bool:
        if block.error is not None or block.cancelled:
            return False
        return not (block.is_short() and self.clock() - block.fetched_at > SHORT_BLOCK_TTL_S)

    def _start(self, index: int) -> bool:
        """Prefetch block ``index``; False when it lies past the end of the file."""
        previous = self._blocks.get(index - 1)
        if previous is not None and previous.ready.is_set() and previous.is_short():
            return False
        if index not in self._blocks:
            block = Block(index)
            self._blocks[index] = block
            self.nursery.start_soon(self._prefetch, block, name=f"read-ahead block {index}")
        return True

    async def _prefetch(self, block: Block) -> None:
        scope = trio.CancelScope()
        self._scopes.add(scope)
        with scope:
            await self._fill(block)
        self._scopes.discard(scope)

    async def _fill(self, block: Block) -> None:
        # Failures are kept in the block and raised in the reading operation, whose
        # fuse_errors() maps them; a prefetch must never take the mount down.
        completed = False
        try:
            block.set_chunks(await self.fetch(block.index * BLOCK_SIZE, BLOCK_SIZE))
            completed = True
        except Exception as error:
            block.error = error
            completed = True
        finally:
            block.cancelled = not completed
            block.fetched_at = self.clock()
            block.ready.set()

    def _evict(self, current: int) -> None:
        while len(self._blocks) > KEEP_BLOCKS:
            done = [block for block in self._blocks.values() if block.ready.is_set()]
            if not done:
                return
            farthest = max(done, key=lambda block: abs(block.index - current))
            del self._blocks[farthest.index]
