"""Declaring routes with who may call them and which query parameters they take.

Each route is registered through :class:`Routes`, which authenticates the caller, refuses
unknown query parameters, and passes the caller to the handler. The declarations are kept in
``ROUTE_TABLE`` form so tests can check every route against every role.

:meth:`Routes.websocket` declares a websocket route: the handler runs for the upgrade request
and for a plain GET alike (same authentication, same checks), and calls :func:`websocket_upgrade`
when its checks have passed, which answers a plain GET with 404 ``Only web-socket upgrades``.
"""

import dataclasses
from collections.abc import Awaitable, Callable, Collection
from typing import Any

from quart import Blueprint, has_websocket_context, websocket
from quart.wrappers import Websocket

from snakepit.api.auth import Access, signed_in_user
from snakepit.api.requests import check_query
from snakepit.errors import BadRequest, NotFound
from snakepit.ids import USER_ID, matches
from snakepit.models import User
from snakepit.services import Services

Handler = Callable[..., Awaitable[Any]]


@dataclasses.dataclass(frozen=True)
class RouteSpec:
    method: str
    rule: str
    access: Access
    #: A websocket route: the method is GET (the upgrade request is one).
    websocket: bool = False


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

    def websocket(
        self, rule: str, access: Access, *, query: Collection[str] = ()
    ) -> Callable[[Handler], Handler]:
        """Register ``handler`` for websocket upgrades of ``GET rule`` and for plain GETs.

        The handler gets the caller and the path parameters, makes its checks, then calls
        :func:`websocket_upgrade` for the websocket (a plain GET ends there with 404).
        """
        services = self.services

        def decorate(handler: Handler) -> Handler:
            async def endpoint(**params: str) -> Any:
                caller = await signed_in_user(services, access)
                if has_websocket_context():
                    _check_names(websocket.args, query)
                else:
                    check_query(query)
                return await handler(caller, **params)

            name = handler.__name__
            self.blueprint.add_url_rule(rule, f"{name}_get", endpoint, methods=["GET"])
            self.blueprint.add_websocket(rule, f"{name}_websocket", endpoint)
            self.specs.append(RouteSpec("GET", rule, access, websocket=True))
            return handler

        return decorate


def websocket_upgrade() -> Websocket:
    """The websocket of the request being handled (not accepted yet).

    Raises:
        NotFound: the request is a plain HTTP request (``Only web-socket upgrades``).
    """
    if not has_websocket_context():
        raise NotFound("Only web-socket upgrades")
    return websocket._get_current_object()  # type: ignore[attr-defined]


def _check_names(given: Collection[str], allowed: Collection[str]) -> None:
    for name in given:
        if name not in allowed:
            raise BadRequest(f"Unknown query parameter {name}")


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
