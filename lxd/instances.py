"""Instances (containers): list, get, create, state changes, delete, state with addresses.

A create that is cancelled (the caller's deadline) does not leave a half-made instance: the
instance is deleted under a shielded, bounded scope before the cancellation goes on.
"""

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import trio

from lxd.errors import Conflict, LxdError, NotFound, OperationFailed
from lxd.models import ImageServer, Instance, InstanceState
from lxd.transport import Transport

#: How long cleanup after a cancelled create may take.
CLEANUP_S = 30.0


def _image_source(alias: str, server: ImageServer | None) -> dict[str, str]:
    if server is None:
        return {"type": "image", "alias": alias}
    return {
        "type": "image",
        "mode": "pull",
        "server": server.endpoint,
        "protocol": "lxd",
        "certificate": server.certificate,
        "alias": alias,
    }


def instance_path(name: str) -> str:
    return f"/1.0/instances/{quote(name, safe='')}"


class Instances:
    """The ``/1.0/instances`` resource."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def names(self) -> list[str]:
        """Names of all instances."""
        urls = await self._transport.sync("GET", "/1.0/instances")
        return [url.rstrip("/").rsplit("/", 1)[-1] for url in urls]

    async def list(self) -> list[Instance]:
        """All instances with their configuration."""
        found = await self._transport.sync("GET", "/1.0/instances", params={"recursion": "1"})
        return [Instance.from_metadata(data) for data in found]

    async def get(self, name: str) -> Instance:
        """One instance. Raises NotFound."""
        return Instance.from_metadata(await self._transport.sync("GET", instance_path(name)))

    async def exists(self, name: str) -> bool:
        try:
            await self.get(name)
        except NotFound:
            return False
        return True

    async def create(
        self,
        name: str,
        *,
        image_alias: str,
        config: Mapping[str, str] | None = None,
        devices: Mapping[str, Mapping[str, str]] | None = None,
        profiles: Sequence[str] = ("default",),
        image_server: ImageServer | None = None,
    ) -> Instance:
        """Create a container from an image alias; wait until it exists.

        The image is this LXD's own, or pulled from ``image_server`` (LXD keeps a copy, so
        only the first container of an image on a node pays for the transfer).

        Raises:
            Conflict: an instance of that name exists.
            OperationFailed: LXD could not create it (nothing is left behind).
        """
        body: dict[str, Any] = {
            "name": name,
            "type": "container",
            "source": _image_source(image_alias, image_server),
            "config": dict(config or {}),
            "devices": {key: dict(value) for key, value in (devices or {}).items()},
            "profiles": list(profiles),
        }
        operation = await self._transport.start("POST", "/1.0/instances", json_body=body)
        try:
            await self._transport.wait(operation["id"])
        except OperationFailed as error:
            if "already exists" in error.message:
                raise Conflict(409, f"instance {name} already exists") from error
            raise
        except BaseException:
            await self._remove_if_created(name, operation["id"])
            raise
        return await self.get(name)

    async def _remove_if_created(self, name: str, operation: str) -> None:
        """After a cancelled create: let the operation end, and delete what it made.

        An operation that failed made nothing (for example, because the name was taken by
        another instance, which must stay).
        """
        with trio.CancelScope(shield=True), trio.move_on_after(CLEANUP_S):
            try:
                await self._transport.wait(operation)
            except LxdError:
                return
            with contextlib.suppress(LxdError):
                await self.delete(name)

    async def _change_state(self, name: str, action: str, **options: Any) -> None:
        await self._transport.run(
            "PUT", f"{instance_path(name)}/state", json_body={"action": action, **options}
        )

    async def start(self, name: str) -> None:
        """Start the instance and wait until LXD reports it started."""
        await self._change_state(name, "start")

    async def stop(self, name: str, *, force: bool = False, grace_s: int = 30) -> None:
        """Stop the instance; without ``force``, LXD waits ``grace_s`` seconds for a clean stop."""
        await self._change_state(name, "stop", force=force, timeout=grace_s)

    async def restart(self, name: str, *, force: bool = False, grace_s: int = 30) -> None:
        await self._change_state(name, "restart", force=force, timeout=grace_s)

    async def delete(self, name: str) -> None:
        """Delete a stopped instance. Raises NotFound."""
        await self._transport.run("DELETE", instance_path(name))

    async def remove(self, name: str) -> bool:
        """Force-stop and delete an instance if it exists; False if there was none."""
        try:
            instance = await self.get(name)
        except NotFound:
            return False
        if instance.status.lower() != "stopped":
            try:
                await self.stop(name, force=True)
            except NotFound:
                return False
        try:
            await self.delete(name)
        except NotFound:
            return False
        return True

    async def state(self, name: str) -> InstanceState:
        """Status, init PID and global addresses by interface."""
        data = await self._transport.sync("GET", f"{instance_path(name)}/state")
        addresses = {
            interface: tuple(
                entry["address"]
                for entry in (details.get("addresses") or [])
                if entry.get("scope") == "global"
            )
            for interface, details in (data.get("network") or {}).items()
        }
        return InstanceState(data.get("status", ""), int(data.get("pid") or 0), addresses)
