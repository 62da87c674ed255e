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
import os
import time
from collections.abc import Iterable
from pathlib import Path

import trio

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
        Blocking: run it in a thread."""
        lines: list[bytes] = []
        for index in self._offsets:
            lines.extend(self._read(index, final))
        if lines:
            prefix = timestamp()
            with (self._pit_dir / "pit.log").open("ab") as log:
                log.write(b"".join(prefix + line + b"\n" for line in lines))
            self._save_offsets()
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
