"""``GET /hello``: the liveness probe of the published service."""

from quart import Response

from snakepit.api.auth import Access
from snakepit.api.routing import Routes
from snakepit.models import User
from snakepit.services import Services


def create_routes(services: Services) -> Routes:
    routes = Routes("hello", services)

    @routes("GET", "/hello", Access.ANON)
    async def hello(caller: User | None) -> Response:
        return Response("Here I am", content_type="text/plain; charset=utf-8")

    return routes
