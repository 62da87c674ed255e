"""``/aliases``: short names for exact resource (GPU model) names."""

from typing import Any

from snakepit.api.auth import Access
from snakepit.api.requests import Field, read_json
from snakepit.api.routing import Routes, id_param
from snakepit.errors import BadRequest, NotFound
from snakepit.ids import ALIAS_ID
from snakepit.models import User
from snakepit.services import Services
from snakepit.store import accounts

NAME = {"name": Field(str, required=True)}


def create_routes(services: Services) -> Routes:
    routes = Routes("aliases", services)
    database = services.database

    def check_name_free(connection: Any, alias_id: str, name: str) -> None:
        if not name.strip():
            raise BadRequest("Field 'name' must not be empty")
        holder = accounts.alias_for_name(connection, name)
        if holder is not None and holder.id != alias_id:
            raise BadRequest(f"Resource name {name!r} already has the alias {holder.id}")

    @routes("GET", "/aliases", Access.USER)
    async def list_aliases(caller: User) -> list[str]:
        return await database.read(accounts.alias_ids)

    @routes("GET", "/aliases/<alias>", Access.USER)
    async def get_alias(caller: User, alias: str) -> dict[str, Any]:
        alias_id = id_param(alias, ALIAS_ID, "alias")
        found = await database.read(lambda c: accounts.get_alias(c, alias_id))
        if found is None:
            raise NotFound("Alias not found")
        return {"id": found.id, "name": found.name}

    @routes("PUT", "/aliases/<alias>", Access.ADMIN)
    async def create_alias(caller: User, alias: str) -> dict[str, Any]:
        alias_id = id_param(alias, ALIAS_ID, "alias")
        name = (await read_json(NAME))["name"]

        def create(connection: Any) -> None:
            if accounts.get_alias(connection, alias_id) is not None:
                raise BadRequest("Alias already existing")
            check_name_free(connection, alias_id, name)
            accounts.insert_alias(connection, alias_id, name)

        await database.write(create)
        return {"id": alias_id, "name": name}

    @routes("POST", "/aliases/<alias>", Access.ADMIN)
    async def update_alias(caller: User, alias: str) -> dict[str, Any]:
        alias_id = id_param(alias, ALIAS_ID, "alias")
        name = (await read_json(NAME))["name"]

        def update(connection: Any) -> None:
            if accounts.get_alias(connection, alias_id) is None:
                raise NotFound("Alias not found")
            check_name_free(connection, alias_id, name)
            accounts.update_alias(connection, alias_id, name)

        await database.write(update)
        return {"id": alias_id, "name": name}

    @routes("DELETE", "/aliases/<alias>", Access.ADMIN)
    async def delete_alias(caller: User, alias: str) -> tuple[str, int]:
        alias_id = id_param(alias, ALIAS_ID, "alias")
        await read_json({})
        if not await database.write(lambda c: accounts.delete_alias(c, alias_id)):
            raise NotFound("Alias not found")
        return "", 200

    return routes
