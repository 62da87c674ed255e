"""Errors of the LXD client.

LxdError
├── LxdUnreachable      the daemon cannot be reached (refused, reset, TLS failure)
├── LxdApiError         LXD answered with an error (``status`` and LXD's ``message``)
│   ├── NotFound        404
│   └── Conflict        409
└── OperationFailed     an async operation ended in failure or was cancelled
"""


class LxdError(Exception):
    """Anything that went wrong talking to LXD."""


class LxdUnreachable(LxdError):
    """The LXD daemon cannot be reached; the message has the whole cause chain."""


class LxdApiError(LxdError):
    """LXD answered a request with an error."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"LXD error {status}: {message}")
        self.status = status
        self.message = message


class NotFound(LxdApiError):
    """The instance, image, file or certificate does not exist (404)."""


class Conflict(LxdApiError):
    """The object exists already or is in the wrong state (409)."""


class OperationFailed(LxdError):
    """A background operation ended in failure or was cancelled."""

    def __init__(self, operation_id: str, message: str) -> None:
        super().__init__(f"LXD operation {operation_id} failed: {message}")
        self.operation_id = operation_id
        self.message = message


def api_error(status: int, message: str) -> LxdApiError:
    """The most specific error class for an error status."""
    if status == 404:
        return NotFound(status, message)
    if status == 409:
        return Conflict(status, message)
    return LxdApiError(status, message)
