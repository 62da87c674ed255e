"""The typed HTTP client of the service, shared by the ``pit`` command line and ``pit mount``.

Modules: ``connection`` (URL, certificate, token), ``errors`` (:class:`ClientError`, the one
error type), ``session`` (requests, error mapping, re-login on 401), ``pitfiles`` (the
``.pit*.txt`` files), ``domains`` (entity specifiers), ``accounts``, ``jobs`` and ``transfer``
(files in data domains).
"""

from snakepit.client.connection import Connection
from snakepit.client.errors import ClientError
from snakepit.client.session import Session

__all__ = ["ClientError", "Connection", "Session"]
