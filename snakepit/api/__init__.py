"""The HTTP API of the service, one module per route family."""

from snakepit.api.app import create_app, route_specs

__all__ = ["create_app", "route_specs"]
