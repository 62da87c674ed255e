"""``/nodes``: registering LXD hosts, their GPUs, and restricting GPUs to groups.

Registering a node makes its LXD trust the service's client certificate with the trust password
given (which is used once and never stored), pins the node's server certificate, and finds its
GPUs by running a probe container there.
"""

from typing import Any

import trio

from lxd import LxdError
from lxd.certificates import fingerprint
from snakepit.api.auth import Access
from snakepit.api.requests import Field, read_json
from snakepit.api.routing import Routes, id_param
from snakepit.errors import BadRequest, NotFound, ServiceUnavailable
from snakepit.ids import GROUP_ID, NODE_ID, is_number
from snakepit.models import NodeRecord, User
from snakepit.nodes.connect import NoClientCertificate
from snakepit.nodes.registration import GPU_BINDINGS, RegistrationFailed, probe_node, store_node
from snakepit.services import Services
from snakepit.store import accounts
from snakepit.store import nodes as node_store

NODE_FIELDS = {
    "endpoint": Field(str, required=True),
    "password": Field(str, required=True),
    "gpuBinding": Field(str),
}


def node_json(node: NodeRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": node.id,
        "endpoint": node.endpoint,
        "online": node.online,
        "since": node.since,
        "gpuBinding": node.gpu_binding,
    }
    if node.resources:
        resources = []
        for resource in node.resources:
            entry: dict[str, Any] = {
                "type": resource.type,
                "name": resource.name,
                "index": resource.index,
            }
            if resource.groups:
                entry["groups"] = list(resource.groups)
            if resource.alias:
                entry["alias"] = resource.alias
            resources.append(entry)
        body["resources"] = resources
    return body


def create_routes(services: Services) -> Routes:
    routes = Routes("nodes", services)
    database = services.database
    config = services.config

    async def load_node(node: str) -> NodeRecord:
        node_id = id_param(node, NODE_ID, "node id")
        found = await database.read(lambda c: node_store.get_node(c, node_id))
        if found is None:
            raise NotFound("Node not found")
        return found

    @routes("GET", "/nodes", Access.USER)
    async def list_nodes(caller: User) -> list[str]:
        return await database.read(node_store.node_ids)

    @routes("GET", "/nodes/<node>", Access.USER)
    async def get_node(caller: User, node: str) -> dict[str, Any]:
        return node_json(await load_node(node))

    @routes("PUT", "/nodes/<node>", Access.ADMIN)
    async def add_node(caller: User, node: str) -> dict[str, Any]:
        node_id = id_param(node, NODE_ID, "node id")
        body = await read_json(NODE_FIELDS)
        endpoint = body["endpoint"].rstrip("/")
        binding = body.get("gpuBinding") or "lxd"
        if binding not in GPU_BINDINGS:
            raise BadRequest(f"gpuBinding must be one of {', '.join(GPU_BINDINGS)}")
        if await database.read(lambda c: node_store.get_node(c, node_id)) is not None:
            raise BadRequest("Node with same id already registered")
        try:
            server_cert, gpus = await probe_node(
                config, services.lxd, node_id, endpoint, body["password"]
            )
            added = await database.write(
                lambda c: store_node(c, node_id, endpoint, server_cert, gpus, binding)
            )
        except NoClientCertificate as error:
            raise ServiceUnavailable(f"Problem adding node: {error}") from None
        except RegistrationFailed as error:
            raise BadRequest(str(error)) from None
        services.node_monitor.wake()
        return node_json(added)

    @routes("DELETE", "/nodes/<node>", Access.ADMIN)
    async def delete_node(caller: User, node: str) -> dict[str, Any]:
        found = await load_node(node)
        await read_json({})
        await database.write(lambda c: node_store.delete_node(c, found.id))
        await services.jobs.recheck_requests()
        others = await database.read(lambda c: node_store.endpoint_users(c, found.endpoint))
        if others:
            return {"message": f"Node {found.id} removed; its LXD still serves {others[0]}"}
        removed = await untrust(found)
        detail = (
            "the node no longer trusts the service"
            if removed
            else ("the node could not be told to forget the service's certificate")
        )
        return {"message": f"Node {found.id} removed; {detail}", "untrusted": removed}

    async def untrust(node: NodeRecord) -> bool:
        with trio.move_on_after(config.lxd_timeout_s):
            try:
                async with services.lxd.open(node.endpoint, node.server_cert) as lxd:
                    assert config.client_cert is not None
                    pem = await trio.Path(config.client_cert).read_text()
                    await lxd.certificates.remove(fingerprint(pem))
                    return True
            except (LxdError, OSError, NoClientCertificate):
                return False
        return False

    async def change_restriction(
        caller: User, node: str, group: str, index: str | None, add: bool
    ) -> tuple[str, int]:
        found = await load_node(node)
        group_id = id_param(group, GROUP_ID, "group id")
        if index is not None and not is_number(index, 6):
            raise BadRequest("Wrong resource index format")
        await read_json({})

        def apply(connection: Any) -> None:
            if accounts.get_group(connection, group_id) is None:
                raise NotFound("Group not found")
            position = None if index is None else int(index)
            changed = node_store.restrict(connection, found.id, group_id, index=position, add=add)
            if index is not None and changed == 0:
                raise NotFound("Resource not found")

        await database.write(apply)
        await services.jobs.recheck_requests()
        return "", 200

    @routes("PUT", "/nodes/<node>/groups/<group>", Access.ADMIN)
    async def restrict_node(caller: User, node: str, group: str) -> tuple[str, int]:
        return await change_restriction(caller, node, group, None, True)

    @routes("DELETE", "/nodes/<node>/groups/<group>", Access.ADMIN)
    async def open_node(caller: User, node: str, group: str) -> tuple[str, int]:
        return await change_restriction(caller, node, group, None, False)

    @routes("PUT", "/nodes/<node>/resources/<resource>/groups/<group>", Access.ADMIN)
    async def restrict_resource(
        caller: User, node: str, resource: str, group: str
    ) -> tuple[str, int]:
        return await change_restriction(caller, node, group, resource, True)

    @routes("DELETE", "/nodes/<node>/resources/<resource>/groups/<group>", Access.ADMIN)
    async def open_resource(caller: User, node: str, resource: str, group: str) -> tuple[str, int]:
        return await change_restriction(caller, node, group, resource, False)

    return routes
