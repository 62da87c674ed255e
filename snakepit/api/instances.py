"""WebSocket exec and port forwarding into a running job's workers (routes to come)."""

from snakepit.api.routing import Routes
from snakepit.services import Services


def create_routes(services: Services) -> Routes:
    return Routes("instances", services)
