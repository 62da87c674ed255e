"""``/users``: registration, sign-in, profiles, passwords and group membership."""

from collections.abc import Callable
from typing import Any

from snakepit.api.auth import Access, require_self_or_admin
from snakepit.api.requests import Field, read_json
from snakepit.api.routing import Routes, deletion_answer, id_param, user_param
from snakepit.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from snakepit.ids import GROUP_ID
from snakepit.models import User
from snakepit.passwords import MAX_PASSWORD_BYTES
from snakepit.services import Services
from snakepit.store import accounts, jobs
from snakepit.tokens import issue_token

REGISTRATION_FIELDS = {
    "fullname": Field(str),
    "email": Field(str),
    "password": Field(str, required=True),
    "admin": Field(bool),
}
UPDATE_FIELDS = {
    "verification": Field(str, max_length=1024),
    "fullname": Field(str),
    "email": Field(str),
    "password": Field(str),
    "admin": Field(bool),
    "autoshare": Field(list, max_length=64),
}


def _check_password(password: str) -> None:
    if not password:
        raise BadRequest("Field 'password' must not be empty")
    if len(password.encode()) > MAX_PASSWORD_BYTES:
        raise BadRequest(f"Field 'password' is longer than {MAX_PASSWORD_BYTES} bytes")


def user_json(user: User) -> dict[str, Any]:
    """A user as the published service showed it (empty lists left out)."""
    body: dict[str, Any] = {"id": user.id, "fullname": user.fullname, "email": user.email}
    if user.groups:
        body["groups"] = list(user.groups)
    if user.autoshare:
        body["autoshare"] = list(user.autoshare)
    body["admin"] = user.admin
    return body


def create_routes(services: Services) -> Routes:
    routes = Routes("users", services)
    database = services.database

    async def load_user(user_id: str, caller: User | None = None) -> User:
        if caller is not None and caller.id == user_id:
            return caller  # read a moment ago, while checking the token
        user = database.lookup(lambda c: accounts.get_user(c, user_id))
        if user is None:
            raise NotFound("User not found")
        return user

    def new_token(user: User) -> str:
        config = services.config
        return issue_token(
            config.token_secret,
            user.id,
            user.token_key,
            now=services.clock(),
            ttl_s=config.token_ttl_s,
        )

    async def verify_password(user: User, password: str, failure: Exception) -> None:
        """Check ``user``'s password, slowed down after repeated failures."""
        async with services.login_throttle.attempt(user.id) as attempt:
            if await services.passwords.verify(password, user.password_hash):
                attempt.succeed()
        if not attempt.succeeded:
            raise failure

    @routes("GET", "/users/<user>/exists", Access.ANON)
    async def user_exists(caller: None, user: str) -> tuple[str, int]:
        await load_user(user_param(user, caller))
        return "", 200

    @routes("PUT", "/users/<user>", Access.OPTIONAL)
    async def register(caller: User | None, user: str) -> tuple[dict[str, Any], int]:
        user_id = user_param(user, caller)
        body = await read_json(REGISTRATION_FIELDS)
        _check_password(body["password"])
        is_admin_caller = caller is not None and caller.admin
        if body.get("admin") and not is_admin_caller:
            raise Forbidden("Not allowed")
        closed = not services.config.open_registration and not is_admin_caller
        if closed and await database.read(accounts.any_user_exists):
            raise Forbidden("Registration is closed: an administrator has to add new users")
        if not is_admin_caller and await database.read(
            lambda c: jobs.jobs_of_user_exist(c, user_id)
        ):
            raise Forbidden(
                "Only admins can re-create this account, as there are already jobs with this"
                " user-ID as owner."
            )
        password_hash = await services.passwords.hash(body["password"])
        admin = await database.write(
            lambda c: accounts.insert_user(
                c,
                user_id,
                password_hash,
                body.get("fullname"),
                body.get("email"),
                bool(body.get("admin")),
            )
        )
        if admin is None:
            raise Forbidden("User already existing")
        await services.data_root.create_folder(services.data_root.home(user_id))
        return {"id": user_id, "admin": admin}, 200

    @routes("POST", "/users/<user>/authenticate", Access.ANON)
    async def authenticate(caller: None, user: str) -> dict[str, str]:
        user_id = user_param(user, caller)
        body = await read_json({"password": Field(str, required=True, max_length=1024)})
        target = await load_user(user_id)
        await verify_password(target, body["password"], BadRequest("Wrong password"))
        return {"token": new_token(target)}

    @routes("GET", "/users", Access.ADMIN)
    async def list_users(caller: User) -> list[str]:
        return await database.read(accounts.user_ids)

    @routes("GET", "/users/<user>", Access.USER)
    async def get_user(caller: User, user: str) -> dict[str, Any]:
        user_id = user_param(user, caller)
        require_self_or_admin(caller, user_id)
        return user_json(await load_user(user_id, caller))

    @routes("POST", "/users/<user>", Access.USER)
    async def update_user(caller: User, user: str) -> dict[str, Any]:
        user_id = user_param(user, caller)
        require_self_or_admin(caller, user_id)
        body = await read_json(UPDATE_FIELDS)
        if "verification" not in body:
            raise Forbidden("Only verified access")
        target = await load_user(user_id)
        await verify_password(caller, body["verification"], Unauthorized("Verification failed"))
        if body.get("admin") and not caller.admin:
            raise Forbidden("Not allowed")
        autoshare = body.get("autoshare")
        if autoshare is not None:
            for group_id in autoshare:
                id_param(group_id, GROUP_ID, "group id")
            missing = await database.read(lambda c: accounts.missing_groups(c, autoshare))
            if missing:
                raise NotFound(f"Group not found: {missing[0]}")
        password_hash = None
        if "password" in body:
            _check_password(body["password"])
            password_hash = await services.passwords.hash(body["password"])

        def change(connection: Any) -> User | None:
            if body.get("admin") is False and target.admin:
                _refuse_last_admin(connection, user_id, "demote")
            accounts.update_user(
                connection,
                user_id,
                fullname=body.get("fullname"),
                email=body.get("email"),
                password_hash=password_hash,
                admin=body.get("admin"),
                autoshare=sorted(set(autoshare)) if autoshare is not None else None,
            )
            return accounts.get_user(connection, user_id)

        updated = await database.write(change)
        if updated is None:
            raise NotFound("User not found")
        answer = user_json(updated)
        if password_hash is not None and user_id == caller.id:
            # The change revoked the caller's token; hand out a fresh one.
            answer["token"] = new_token(updated)
        return answer

    @routes("DELETE", "/users/<user>", Access.USER)
    async def delete_user(caller: User, user: str) -> dict[str, Any]:
        user_id = user_param(user, caller)
        require_self_or_admin(caller, user_id)
        target = await load_user(user_id)

        def delete(connection: Any) -> bool:
            if target.admin:
                _refuse_last_admin(connection, user_id, "delete")
            return accounts.delete_user(connection, user_id)

        if not await database.write(delete):
            raise NotFound("User not found")
        moved = await services.data_root.move_to_trash(
            services.data_root.home(user_id), f"user-{user_id}"
        )
        return deletion_answer(f"User {user_id}", moved)

    async def change_membership(
        caller: User, user: str, group: str, change: Callable[[Any, str, str], object]
    ) -> tuple[str, int]:
        user_id = user_param(user, caller)
        group_id = id_param(group, GROUP_ID, "group id")
        await read_json({})

        def apply(connection: Any) -> None:
            if accounts.get_user(connection, user_id) is None:
                raise NotFound("User not found")
            if accounts.get_group(connection, group_id) is None:
                raise NotFound("Group not found")
            change(connection, user_id, group_id)

        await database.write(apply)
        if change is accounts.remove_membership:
            await services.jobs.recheck_requests()
        return "", 200

    @routes("PUT", "/users/<user>/groups/<group>", Access.ADMIN)
    async def add_to_group(caller: User, user: str, group: str) -> tuple[str, int]:
        return await change_membership(caller, user, group, accounts.add_membership)

    @routes("DELETE", "/users/<user>/groups/<group>", Access.ADMIN)
    async def remove_from_group(caller: User, user: str, group: str) -> tuple[str, int]:
        return await change_membership(caller, user, group, accounts.remove_membership)

    return routes


def _refuse_last_admin(connection: Any, user_id: str, action: str) -> None:
    if accounts.count_other_admins(connection, user_id) == 0:
        raise Conflict(f"Cannot {action} {user_id}: it is the last administrator")
