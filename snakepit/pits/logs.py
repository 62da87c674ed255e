"""Collecting the workers' logs into ``pit.log``.

The worker image appends ``[worker N] ...`` lines to ``workers/N/worker.log``; the daemon image
does no aggregation. A :class:`LogCollector` tails those files on the host and appends every
complete line to ``pit.log`` as ``[YYYY-MM-DD HH:MM:SS] [worker N] ...`` (UTC, the time it was
collected). :meth:`LogCollector.collect` with ``final=True`` drains everything, an unterminated
last line included, so nothing is lost at the end of a pit.

How far each worker log has been collected is kept in ``<pit>/.pit.log.offsets`` after every
round, so that a service restarted while the pit runs (see :mod:`snakepit.pits.runner`) goes on
where the last one stopped instead of copying the logs again. A crash between appending to
``pit.log`` and saving the offsets repeats at most that round's lines; it never loses one.
"""

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterable
from pathlib import Path

import trio

logger = logging.getLogger(__name__)

#: How much of one worker log is read per round.
CHUNK = 1 << 20
#: Where a pit's collector keeps its offsets, inside the pit directory.
OFFSETS_FILE = ".pit.log.offsets"


def timestamp() -> bytes:
    return time.strftime("[%Y-%m-%d %H:%M:%S] ", time.gmtime()).encode()


class LogCollector:
    """Tails ``workers/<i>/worker.log`` of a pit into its ``pit.log``."""

    def __init__(self, pit_dir: Path, workers: Iterable[int]) -> None:
        self._pit_dir = pit_dir
        self._offsets = dict.fromkeys(workers, 0)
        self._partial = dict.fromkeys(self._offsets, b"")
        self._offsets.update(self._saved_offsets())

    def _saved_offsets(self) -> dict[int, int]:
        with contextlib.suppress(OSError, ValueError, AttributeError):
            saved = json.loads((self._pit_dir / OFFSETS_FILE).read_text())
            return {
                int(index): int(offset)
                for index, offset in saved.items()
                if int(index) in self._offsets and int(offset) >= 0
            }
        return {}

    def _save_offsets(self) -> None:
        # Only complete lines count as collected: a partial one is read again next time.
        done = {
            str(index): offset - len(self._partial[index])
            for index, offset in self._offsets.items()
        }
        path = self._pit_dir / OFFSETS_FILE
        temporary = path.with_name(f"{OFFSETS_FILE}.new")
        temporary.write_text(json.dumps(done))
        os.replace(temporary, path)

    def collect(self, final: bool = False) -> int:
        """Append the new complete lines (all of them when ``final``); return how many.

        When ``pit.log`` cannot be written (the disk is full), nothing counts as collected:
        the log is cut back to where it was and the same lines come again next round.
        Blocking: run it in a thread.
        """
        before = (dict(self._offsets), dict(self._partial))
        lines: list[bytes] = []
        for index in self._offsets:
            lines.extend(self._read(index, final))
        if not lines:
            return 0
        prefix = timestamp()
        try:
            _append_whole(
                self._pit_dir / "pit.log", b"".join(prefix + line + b"\n" for line in lines)
            )
        except OSError as error:
            self._offsets, self._partial = before
            logger.warning("%s: cannot collect the workers' logs yet: %s", self._pit_dir, error)
            return 0
        try:
            self._save_offsets()
        except OSError as error:  # (only a restart would need them: saved next round)
            logger.warning("%s: cannot save the log offsets: %s", self._pit_dir, error)
        return len(lines)

    def _read(self, index: int, final: bool) -> list[bytes]:
        path = self._pit_dir / "workers" / str(index) / "worker.log"
        data = b""
        try:
            with path.open("rb") as source:
                source.seek(self._offsets[index])
                while chunk := source.read(CHUNK):
                    data += chunk
                    if not final:
                        break
        except FileNotFoundError:
            pass
        self._offsets[index] += len(data)
        *lines, rest = (self._partial[index] + data).split(b"\n")
        self._partial[index] = rest
        if final and rest:
            lines.append(rest)
            self._partial[index] = b""
        return lines

    async def run(self, interval_s: float) -> None:
        """Collect every ``interval_s`` seconds until cancelled."""
        while True:
            await trio.to_thread.run_sync(self.collect)
            await trio.sleep(interval_s)


def _append_whole(path: Path, data: bytes) -> None:
    """Append ``data`` to ``path`` entirely, or not at all (cut back on a failed write)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        size = os.fstat(fd).st_size
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)
