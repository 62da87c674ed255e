"""Read-ahead for one open file: ranged reads cached in blocks, growing runs ahead of a sequential
reader.

The kernel asks for 64-128 KiB per FUSE read; one HTTP request per read would spend most of its
time on request overhead, and one huge request per random read would fetch far more than asked.
:class:`ReadAhead` keeps the file in :data:`BLOCK_SIZE` blocks: a read fetches the blocks it
needs (one request for the run of missing ones), and while a reader goes front to back the
window ahead of it doubles up to :data:`MAX_RUN_BLOCKS`, fetched as one streamed request whose
blocks become readable one by one as their bytes arrive. A block shorter than :data:`BLOCK_SIZE`
ends the file at the time it was fetched; it expires after :data:`SHORT_BLOCK_TTL_S` so that a
growing log shows its new lines.
"""

import bisect
import contextlib
import dataclasses
import time
from collections.abc import AsyncGenerator, Callable

import trio

#: Bytes per block; a random read fetches this much.
BLOCK_SIZE = 1024 * 1024
#: Blocks per request at most: the read-ahead window of a sequential reader (8 MiB).
MAX_RUN_BLOCKS = 8
#: Blocks kept per open file (the ones being read, the ones ahead, and a few behind).
KEEP_BLOCKS = 24
#: Seconds a block that ended at the end of the file is trusted (the file may grow).
SHORT_BLOCK_TTL_S = 1.0

#: ``stream(offset, size)``: the bytes of that range as the network delivers them.
Stream = Callable[[int, int], AsyncGenerator[bytes, None]]


@dataclasses.dataclass
class Block:
    """One block of the file, fetched or being fetched, kept as the network's pieces."""

    index: int
    ready: trio.Event = dataclasses.field(default_factory=trio.Event)
    chunks: list[bytes] = dataclasses.field(default_factory=list)
    #: The end offset (within the block) of each chunk.
    ends: list[int] = dataclasses.field(default_factory=list)
    error: Exception | None = None
    #: Stopped before it was complete (a reader asks for it again).
    cancelled: bool = False
    fetched_at: float = 0.0

    @property
    def size(self) -> int:
        return self.ends[-1] if self.ends else 0

    def is_short(self) -> bool:
        return self.size < BLOCK_SIZE

    def append(self, chunk: bytes) -> None:
        if chunk:
            self.chunks.append(chunk)
            self.ends.append(self.size + len(chunk))

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
        stream: ``stream(offset, size)`` reads a range from the service (FsError on failure).
        nursery: Where fetches run; they end with the nursery or :meth:`close`.
        size_hint: The file's size when it was opened, if known: read-ahead stops there (a
            small file costs one request), until a read goes past it (the file grew).
        clock: Seconds, for the lifetime of short blocks (``time.monotonic``).
    """

    def __init__(
        self,
        stream: Stream,
        nursery: trio.Nursery,
        size_hint: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream
        self.nursery = nursery
        self.size_hint = size_hint
        self.clock = clock
        self._blocks: dict[int, Block] = {}
        self._next_offset = 0
        #: Blocks to keep requested ahead of a sequential reader; doubles per sequential read.
        self._window = 1
        #: The first block the read-ahead has not requested yet.
        self._ahead_until = 0
        self._scopes: set[trio.CancelScope] = set()

    async def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at ``offset`` (fewer at the end of the file).

        Raises:
            FsError: the service refused or could not be reached.
        """
        if size <= 0:
            return b""
        first, last = offset // BLOCK_SIZE, (offset + size - 1) // BLOCK_SIZE
        if self.size_hint is not None and offset >= self.size_hint:
            self.size_hint = None
        self._request(first, last - first + 1)
        # Concurrent FUSE reads may arrive slightly out of order: near the expected offset
        # still counts as sequential.
        if abs(offset - self._next_offset) <= BLOCK_SIZE:
            self._window = min(self._window * 2, MAX_RUN_BLOCKS)
            self._read_ahead(last)
        else:
            self._window, self._ahead_until = 1, last + 1
        self._next_offset = offset + size
        pieces: list[bytes] = []
        position, end = offset, offset + size
        for index in range(first, last + 1):
            block = await self._wait(index)
            piece = block.piece(position - index * BLOCK_SIZE, end - position)
            pieces.append(piece)
            position += len(piece)
            if block.is_short():
                break
        self._evict(first)
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)

    def invalidate(self) -> None:
        """The file changed through the mount (write, truncate): forget every block."""
        self.close()
        self._blocks.clear()
        self._window, self._ahead_until = 1, 0

    def close(self) -> None:
        """Stop the fetches of this file."""
        for scope in self._scopes:
            scope.cancel()
        self._scopes.clear()

    def _read_ahead(self, current: int) -> None:
        """Keep at least a window requested beyond block ``current``, a window at a time."""
        start = max(self._ahead_until, current + 1)
        if start - (current + 1) <= self._window:
            self._ahead_until = self._request(start, self._window, ahead=True)

    def _request(self, first: int, count: int, *, ahead: bool = False) -> int:
        """Fetch the missing blocks among ``first`` .. ``first + count - 1``, one request per
        run of consecutive missing blocks; read-ahead stops at the known end of the file.

        Returns:
            The first block after those covered.
        """
        run: list[Block] = []
        end = first + count
        for index in range(first, end):
            if ahead and self._past_end(index):
                end = index
                break
            block = self._blocks.get(index)
            if block is not None and not (block.ready.is_set() and not self._usable(block)):
                self._start(run)
                run = []
                continue
            block = Block(index)
            self._blocks[index] = block
            run.append(block)
            if len(run) == MAX_RUN_BLOCKS:
                self._start(run)
                run = []
        self._start(run)
        return end

    def _past_end(self, index: int) -> bool:
        if self.size_hint is not None and index * BLOCK_SIZE >= self.size_hint:
            return True
        previous = self._blocks.get(index - 1)
        return (
            previous is not None
            and previous.ready.is_set()
            and previous.is_short()
            and self._usable(previous)
        )

    def _start(self, run: list[Block]) -> None:
        if run:
            name = f"read blocks {run[0].index}-{run[-1].index}"
            self.nursery.start_soon(self._fetch, run, name=name)

    async def _wait(self, index: int) -> Block:
        while True:
            block = self._blocks.get(index)
            if block is None or (block.ready.is_set() and not self._usable(block)):
                self._blocks.pop(index, None)
                self._request(index, 1)
                block = self._blocks[index]
            if not block.ready.is_set():  # Event.wait() would yield to the scheduler anyway
                await block.ready.wait()
            if block.cancelled:
                continue  # stopped by invalidate(): ask again
            if block.error is not None:
                raise block.error
            return block

    def _usable(self, block: Block) -> bool:
        if block.error is not None or block.cancelled:
            return False
        return not block.is_short() or self.clock() - block.fetched_at <= SHORT_BLOCK_TTL_S

    async def _fetch(self, run: list[Block]) -> None:
        # Failures are kept in the blocks and raised in the reading operation, whose
        # fuse_errors() maps them; a fetch must never take the mount down.
        scope = trio.CancelScope()
        self._scopes.add(scope)
        current, complete = 0, False
        try:
            with scope:
                offset, size = run[0].index * BLOCK_SIZE, len(run) * BLOCK_SIZE
                async with contextlib.aclosing(self.stream(offset, size)) as chunks:
                    async for chunk in chunks:
                        current = self._fill(run, current, chunk)
                complete = True
        except Exception as error:
            for block in run[current:]:
                block.error = error
                self._done(block)
            current = len(run)
        finally:
            self._scopes.discard(scope)
            for block in run[current:]:  # the rest of the file is shorter, or cancelled
                block.cancelled = not complete
                self._done(block)

    def _fill(self, run: list[Block], current: int, chunk: bytes) -> int:
        """Spread ``chunk`` over the blocks of ``run`` from ``current``; the new current."""
        while chunk and current < len(run):
            block = run[current]
            room = BLOCK_SIZE - block.size
            block.append(chunk if len(chunk) <= room else chunk[:room])
            chunk = chunk[room:] if len(chunk) > room else b""
            if block.size == BLOCK_SIZE:
                self._done(block)
                current += 1
        return current

    def _done(self, block: Block) -> None:
        block.fetched_at = self.clock()
        block.ready.set()

    def _evict(self, current: int) -> None:
        """Keep :data:`KEEP_BLOCKS`: drop the blocks farthest behind the reader first, then the
        farthest ahead of it."""
        if len(self._blocks) <= KEEP_BLOCKS + MAX_RUN_BLOCKS:
            return  # sorting on every read costs more than a few blocks kept a little longer
        done = sorted(
            (block for block in self._blocks.values() if block.ready.is_set()),
            key=lambda block: (block.index < current, abs(block.index - current)),
        )
        while len(self._blocks) > KEEP_BLOCKS and done:
            del self._blocks[done.pop().index]
