"""Declaring routes with who may call them and which query parameters they take.

Each route is registered through :class:`Routes`, which authenticates the caller, refuses
unknown query parameters, and passes the caller to the handler. The declarations are kept in
``ROUTE_TABLE`` form so tests can check every route against every role.
"""

import dataclasses
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from quart import Blueprint

from snakepit.api.auth import Access, signed_in_user
from snakepit.api.requests import check_query
from snakepit.errors import BadRequest
from snakepit.ids import USER_ID, matches
from snakepit.models import User
from snakepit.services import Services

Handler = Callable[..., Awaitable[Any]]


@dataclasses.dataclass(frozen=True)
class RouteSpec:
    method: str
    rule: str
    access: Access


class Routes:
    """Registers handlers on one blueprint: ``@routes("GET", "/users", Access.ADMIN)``."""

    def __init__(self, name: str, services: Services) -> None:
        self.blueprint = Blueprint(name, __name__)
        self.services = services
        self.specs: list[RouteSpec] = []

    def __call__(
        self, method: str, rule: str, access: Access, *, query: Collection[str] = ()
    ) -> Callable[[Handler], Handler]:
        services = self.services

        def decorate(handler: Handler) -> Handler:
            async def endpoint(**params: str) -> Any:
                caller = await signed_in_user(services, access)
                check_query(query)
                return await handler(caller, **params)

            name = f"{handler.__name__}_{method.lower()}"
            self.blueprint.add_url_rule(rule, name, endpoint, methods=[method])
            self.specs.append(RouteSpec(method, rule, access))
            return handler

        return decorate


def id_param(value: str, pattern: Any, what: str) -> str:
    """Check a path id against its format; 400 ``Wrong <what> format`` otherwise."""
    if not matches(pattern, value):
        raise BadRequest(f"Wrong {what} format")
    return value


def user_param(value: str, caller: User | None) -> str:
    """A ``:user`` path part: a user id, or ``~`` for the signed-in user."""
    if value == "~" and caller is not None:
        return caller.id
    return id_param(value, USER_ID, "user id")


def deletion_answer(what: str, moved_to: str | None) -> dict[str, Any]:
    """The answer to a deletion, saying where the entity's data went."""
    if moved_to is None:
        return {"message": f"{what} deleted; it had no data folder", "movedTo": None}
    return {"message": f"{what} deleted; its data was moved to {moved_to}", "movedTo": moved_to}
