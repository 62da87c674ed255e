"""Collecting the workers' logs into ``pit.log``.

The worker image appends ``[worker N] ...`` lines to ``workers/N/worker.log``; the daemon image
does no aggregation. A :class:`LogCollector` tails those files on the host and appends every
complete line to ``pit.log`` as ``[YYYY-MM-DD HH:MM:SS] [worker N] ...`` (UTC, the time it was
collected). :meth:`LogCollector.collect` with ``final=True`` drains everything, an unterminated
last line included, so nothing is lost at the end of a pit.
"""

import time
from collections.abc import Iterable
from pathlib import Path

import trio

#: How much of one worker log is read per round.
CHUNK = 1 << 20


def timestamp() -> bytes:
    return time.strftime("[%Y-%m-%d %H:%M:%S] ", time.gmtime()).encode()


class LogCollector:
    """Tails ``workers/<i>/worker.log`` of a pit into its ``pit.log``."""

    def __init__(self, pit_dir: Path, workers: Iterable[int]) -> None:
        self._pit_dir = pit_dir
        self._offsets = dict.fromkeys(workers, 0)
        self._partial = dict.fromkeys(self._offsets, b"")

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
