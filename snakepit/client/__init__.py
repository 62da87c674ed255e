"""The typed HTTP client of the service, shared by the ``pit`` command line and ``pit mount``.

Modules: ``connection`` (URL, certificate, token; ``http_client()`` for async code),
``errors`` (:class:`ClientError`, the one error type), ``session`` (blocking requests for the
command line, error mapping, re-login on 401), ``pitfiles`` (the ``.pit*.txt`` files),
``domains`` (entity specifiers), ``accounts``, ``jobs`` and ``transfer`` (files in data
domains); ``filesystem`` and ``channels`` serve ``fs`` and ``pit exec``/``forward``.

Names are exported lazily: ``pit`` must not pay for httpx when it does not use it.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from snakepit.client.connection import Connection
    from snakepit.client.errors import ClientError
    from snakepit.client.session import Session

__all__ = ["ClientError", "Connection", "Session"]


def __getattr__(name: str) -> Any:
    if name == "Connection":
        from snakepit.client.connection import Connection

        return Connection
    if name == "ClientError":
        from snakepit.client.errors import ClientError

        return ClientError
    if name == "Session":
        from snakepit.client.session import Session

        return Session
    raise AttributeError(name)
