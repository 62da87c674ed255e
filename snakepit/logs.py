"""Logging to stderr with syslog priority prefixes, so journald shows each line's level.

journald reads a leading ``<N>`` on a line written to stderr as the line's priority (see
sd-daemon(3)). ``logLevel`` keeps the published meaning: 0 debug, 1 info, 2 error.
"""

import logging
import sys
from typing import TextIO

#: syslog priorities by Python logging level.
PRIORITIES = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}

#: Python logging level for each published ``logLevel``.
LEVELS = {0: logging.DEBUG, 1: logging.INFO, 2: logging.ERROR}


class SyslogPrefixFormatter(logging.Formatter):
    """Prefix every line of a record (tracebacks too) with its syslog priority."""

    def format(self, record: logging.LogRecord) -> str:
        priority = PRIORITIES.get(record.levelno, 6)
        text = super().format(record)
        return "\n".join(f"<{priority}>{line}" for line in text.splitlines() or [""])


def configure_logging(log_level: int, stream: TextIO | None = None) -> None:
    """Send all of ``snakepit`` and hypercorn's logs to stderr with priority prefixes."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(SyslogPrefixFormatter("%(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS.get(log_level, logging.INFO))
