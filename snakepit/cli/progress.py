"""A transfer progress bar on stderr: shown only on a terminal, and only after a second."""

import sys
import time

#: Seconds before the bar appears, and between redraws.
DELAY_S = 1.0
REDRAW_S = 0.2
WIDTH = 40


class Progress:
    """Counts transferred bytes of ``total``; draws ``  <caption> [====  ] 42% 12MB/s 3.1s``."""

    def __init__(self, caption: str, total: int, done: int = 0) -> None:
        self.caption = caption
        self.total = total
        self.done = done
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()
        self.first = done
        self.drawn_at = 0.0
        self.shown = False

    def add(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.started < DELAY_S or now - self.drawn_at < REDRAW_S:
            return
        self.drawn_at = now
        self.shown = True
        elapsed = max(now - self.started, 1e-6)
        speed = (self.done - self.first) / elapsed
        share = self.done / self.total if self.total else 1.0
        filled = int(WIDTH * min(share, 1.0))
        eta = (self.total - self.done) / speed if speed > 0 else 0.0
        sys.stderr.write(
            f"\r  {self.caption} [{'=' * filled}{' ' * (WIDTH - filled)}] {share:4.0%}"
            f" {speed / 1e6:.0f}MB/s {eta:.1f}s "
        )
        sys.stderr.flush()

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
