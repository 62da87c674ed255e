"""``/groups``: groups of users, with a title and a data folder each."""

from typing import Any

from snakepit.api.auth import Access
from snakepit.api.requests import Field, read_json
from snakepit.api.routing import Routes, deletion_answer, id_param
from snakepit.errors import Forbidden, NotFound
from snakepit.ids import GROUP_ID
from snakepit.models import User
from snakepit.services import Services
from snakepit.store import accounts

TITLE = {"title": Field(str, required=True)}


def create_routes(services: Services) -> Routes:
    routes = Routes("groups", services)
    database = services.database

    @routes("GET", "/groups", Access.USER)
    async def list_groups(caller: User) -> list[str]:
        return await database.read(accounts.group_ids)

    @routes("GET", "/groups/<group>", Access.USER)
    async def get_group(caller: User, group: str) -> dict[str, Any]:
        group_id = id_param(group, GROUP_ID, "group id")
        found = await database.read(lambda c: accounts.get_group(c, group_id))
        if found is None:
            raise NotFound("Group not found")
        return {"id": found.id, "title": found.title}

    @routes("PUT", "/groups/<group>", Access.ADMIN)
    async def create_group(caller: User, group: str) -> dict[str, Any]:
        group_id = id_param(group, GROUP_ID, "group id")
        title = (await read_json(TITLE))["title"]
        if not await database.write(lambda c: accounts.insert_group(c, group_id, title)):
            raise Forbidden("Group already existing")
        await services.data_root.create_folder(services.data_root.group(group_id))
        return {"id": group_id, "title": title}

    @routes("POST", "/groups/<group>", Access.ADMIN)
    async def update_group(caller: User, group: str) -> dict[str, Any]:
        group_id = id_param(group, GROUP_ID, "group id")
        title = (await read_json(TITLE))["title"]
        if not await database.write(lambda c: accounts.update_group(c, group_id, title)):
            raise NotFound("Group not found")
        return {"id": group_id, "title": title}

    @routes("DELETE", "/groups/<group>", Access.ADMIN)
    async def delete_group(caller: User, group: str) -> dict[str, Any]:
        group_id = id_param(group, GROUP_ID, "group id")
        await read_json({})
        if not await database.write(lambda c: accounts.delete_group(c, group_id)):
            raise NotFound("Group not found")
        await services.jobs.recheck_requests()
        moved = await services.data_root.move_to_trash(
            services.data_root.group(group_id), f"group-{group_id}"
        )
        return deletion_answer(f"Group {group_id}", moved)

    return routes
