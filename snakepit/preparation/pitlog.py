"""Appending a phase's lines to a job's ``pit.log`` in the published format.

Each line reads ``[YYYY-MM-DD HH:MM:SS] [prepare] text`` (UTC), as the published service's
``ts '[%Y-%m-%d %H:%M:%S] [prepare]'`` wrote them, so ``pit log`` shows preparation, daemon,
worker and cleaning lines in one stream.
"""

import re
from datetime import UTC, datetime
from pathlib import Path

import trio

_CREDENTIALS = re.compile(r"(?<=://)([^/@\s:]*):[^/@\s]*@")


def redact(text: str) -> str:
    """``text`` with the password of any ``scheme://user:password@`` replaced by ``***``."""
    return _CREDENTIALS.sub(r"\1:***@", text)


class PitLog:
    """Appends lines of one phase (``prepare``, ``clean``) to ``<job dir>/pit.log``."""

    def __init__(self, path: Path, phase: str) -> None:
        self.path = path
        self.phase = phase

    def format(self, lines: tuple[str, ...]) -> str:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        prefix = f"[{stamp}] [{self.phase}] "
        out = []
        for line in lines:
            for part in redact(line).replace("\r", "\n").split("\n"):
                if part.strip():
                    out.append(prefix + part.rstrip() + "\n")
        return "".join(out)

    async def write(self, *lines: str) -> None:
        """Append ``lines`` (each may hold several) in a worker thread."""
        text = self.format(lines)
        if text:
            await trio.to_thread.run_sync(self._append, text)

    def write_now(self, *lines: str) -> None:
        """Append ``lines`` right here, blocking: for the one line written while cancelled."""
        text = self.format(lines)
        if text:
            self._append(text)

    def _append(self, text: str) -> None:
        with open(self.path, "a", encoding="utf-8", errors="replace") as log:
            log.write(text)
