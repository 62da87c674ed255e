"""Errors that carry their HTTP status; the API renders them in one place.

    ApiError (500)
    ├── BadRequest (400)
    ├── Unauthorized (401)
    ├── Forbidden (403)
    ├── NotFound (404)
    ├── MethodNotAllowed (405)
    ├── NotAcceptable (406)
    ├── Conflict (409)
    ├── PreconditionFailed (412)
    ├── PayloadTooLarge (413)
    ├── UnsupportedMediaType (415)
    ├── RangeNotSatisfiable (416)
    ├── TooManyRequests (429)
    ├── ServiceUnavailable (503)
    └── InsufficientStorage (507)

Domain code raises these; ``snakepit.api.errors`` turns them into ``{"message": ...}``.
"""

from collections.abc import Mapping
from typing import Any, ClassVar


class ApiError(Exception):
    """An error the client should see, with its HTTP status and a message naming the problem."""

    status: ClassVar[int] = 500

    def __init__(self, message: str, *, extra: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        """The JSON body sent to the client."""
        return {"message": self.message, **self.extra}


class BadRequest(ApiError):
    status = 400


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class MethodNotAllowed(ApiError):
    status = 405


class NotAcceptable(ApiError):
    status = 406


class Conflict(ApiError):
    status = 409


class PreconditionFailed(ApiError):
    status = 412


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class RangeNotSatisfiable(ApiError):
    status = 416


class TooManyRequests(ApiError):
    status = 429


class ServiceUnavailable(ApiError):
    status = 503


class InsufficientStorage(ApiError):
    status = 507


def first_leaf(group: BaseException) -> BaseException:
    """The first real exception inside a (possibly nested) exception group."""
    error = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error
