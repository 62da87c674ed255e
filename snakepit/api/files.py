"""Job, home, group and shared data over HTTP (routes added by the data issue, #5)."""

from snakepit.api.routing import Routes
from snakepit.services import Services


def create_routes(services: Services) -> Routes:
    return Routes("files", services)
