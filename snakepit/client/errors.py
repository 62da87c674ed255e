"""The one error type of the client library.

Every failure a user can cause or meet (an HTTP status above 299, an unreachable service, a bad
argument, a missing file) is a :class:`ClientError`; only the ``pit`` entry point turns it into
``Command failed: <message>`` and an exit code.
"""

#: Reason phrases for statuses whose answer carries no message (as the published client).
REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    409: "Conflict",
    412: "Precondition Failed",
    413: "Request Entity Too Large",
    416: "Requested Range Not Satisfiable",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Time-out",
}


class ClientError(Exception):
    """A failed call or a refused input.

    Attributes:
        message: What went wrong, in words for the user.
        status: The HTTP status of the service's answer; None for failures on this side.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    @classmethod
    def from_status(cls, status: int, message: str | None = None) -> "ClientError":
        """An error for an HTTP answer: its message, else the reason phrase, else the number."""
        return cls(message or REASONS.get(status, str(status)), status)
