"""``GET /openapi.json``: the OpenAPI document of every declared route (anonymous)."""

from typing import Any

from quart import current_app

from snakepit.api.auth import Access
from snakepit.api.openapi import build_document
from snakepit.api.routing import Routes, RouteSpec
from snakepit.services import Services


def create_routes(services: Services) -> Routes:
    routes = Routes("docs", services)
    built: list[dict[str, Any]] = []

    @routes("GET", "/openapi.json", Access.ANON)
    async def openapi(caller: None) -> dict[str, Any]:
        if not built:  # the routes are all declared once the app serves
            specs: list[RouteSpec] = current_app.extensions["snakepit_routes"]
            built.append(build_document(specs))
        return built[0]

    return routes
