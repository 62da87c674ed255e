"""Errors of job preparation and cleaning.

    Exception
    ├── PreparationError          anything this package raises on purpose
    │   ├── PreparationRefused    bad input, found before anything runs (also a BadRequest: 400)
    │   ├── PreparationFailed     a step failed; the message becomes the job's state reason
    │   └── CleaningFailed        ``src/`` or ``tmp/`` could not be removed
    └── ApiError
        └── BadRequest
            └── PreparationRefused

Messages are short and specific (``git clone failed: <git's last error line>``) and never longer
than :data:`MAX_REASON_CHARS`, because a job's state reason is stored in 255 characters.
"""

from snakepit.errors import BadRequest

#: Longest message kept in an error (state reasons are limited to 255 characters).
MAX_REASON_CHARS = 240


def shorten(text: str, limit: int = MAX_REASON_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class PreparationError(Exception):
    """Base of the errors of this package; ``message`` is short enough for a state reason."""

    def __init__(self, message: str) -> None:
        message = shorten(message)
        super().__init__(message)
        self.message = message


class PreparationRefused(PreparationError, BadRequest):
    """The job's source is not acceptable; nothing was run or written."""


class PreparationFailed(PreparationError):
    """A preparation step failed; details are in the job's ``pit.log``."""


class CleaningFailed(PreparationError):
    """The job's ``src/`` or ``tmp/`` could not be removed."""
