"""Entity specifiers of the command line (``user:alice``, ``job:12``, ``home``) and their routes.

``<type>:<id>[:<index>]``: the plural of the type is the route (``alias`` → ``aliases``); ``me``
is ``users/~``. Data domains for file commands also take ``home`` (the caller's home),
``shared`` and a bare job number.
"""

import dataclasses

from snakepit.client.connection import route
from snakepit.client.errors import ClientError

PLURALS = {
    "user": "users",
    "group": "groups",
    "node": "nodes",
    "alias": "aliases",
    "job": "jobs",
}


@dataclasses.dataclass(frozen=True)
class Entity:
    """``kind`` (``user``, ``group``, ``node``, ``alias``, ``job``), ``id`` and an optional
    resource ``index`` (nodes only)."""

    kind: str
    id: str
    index: str | None = None

    @property
    def route(self) -> str:
        if self.index is not None:
            return route(PLURALS[self.kind], self.id, "resources", self.index)
        return route(PLURALS[self.kind], self.id)


def parse_entity(text: str, kinds: tuple[str, ...], *, indices: bool = False) -> Entity:
    """Parse ``<type>:<id>[:<index>]``, accepting only ``kinds``.

    Raises:
        ClientError: unsupported type, missing id, or an index where none is allowed.
    """
    if text == "me" and "user" in kinds:
        return Entity("user", "~")
    parts = text.split(":")
    kind = parts[0]
    if kind not in kinds:
        raise ClientError(f'Unsupported entity type "{kind}"')
    if len(parts) < 2 or not parts[1]:
        raise ClientError(f'Missing {kind} id: use "{kind}:<id>"')
    index = parts[2] if len(parts) > 2 and parts[2] else None
    if index is not None and not (indices and kind == "node"):
        raise ClientError(f"Indices not allowed for {kind} entities")
    return Entity(kind, parts[1], index)


@dataclasses.dataclass(frozen=True)
class Domain:
    """A data domain: its route prefix and whether the service lets us write there."""

    prefix: str
    writable: bool
    name: str

    def route(self, aspect: str, path: str) -> str:
        """``<prefix>/simplefs/<aspect>/<path>`` with the path's segments encoded."""
        parts = [part for part in path.split("/") if part]
        for part in parts:
            if part in (".", ".."):
                raise ClientError(f"Path components '.' and '..' are not allowed: {path}")
        suffix = route(*parts) if parts else ""
        return f"{self.prefix}/simplefs/{aspect}/{suffix}"


def parse_domain(text: str) -> Domain:
    """``home``, ``user:<u>``, ``group:<g>``, ``job:<n>``, ``<n>`` or ``shared``.

    Raises:
        ClientError: anything else.
    """
    if text == "home" or text.startswith("home:"):
        return Domain(route("users", "~"), True, "home")
    if text == "shared":
        return Domain("shared", False, "shared")
    if text.isdigit():
        return Domain(route("jobs", text), True, f"job:{text}")
    entity = parse_entity(text, ("user", "group", "job"))
    return Domain(entity.route, True, text)
