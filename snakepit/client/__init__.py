"""The typed HTTP client of the service, shared by the ``pit`` command line and ``pit mount``."""

from snakepit.client.connection import Connection

__all__ = ["Connection"]
