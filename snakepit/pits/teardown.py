"""Removing a pit's containers from a node, found by their names.

Containers are matched by the naming pattern (``sp-<node>-<pit>-<spec>``, section 1.5), so
half-made ones go too, and only those whose node part is one of the ids the node is registered
under (the same LXD may be registered twice, e.g. as ``head`` and ``n0``). Errors are logged,
never raised: a teardown must not hide why the pit ended. The caller bounds and shields it.
"""

import logging
from collections.abc import Collection

import trio

from lxd import Lxd, LxdError
from lxd.transport import describe
from snakepit.pits.plan import parse_container_name

log = logging.getLogger(__name__)

#: Tries to remove a container (LXD refuses while another operation runs on it).
REMOVE_ATTEMPTS = 10


async def remove_pit_containers(lxd: Lxd, node_ids: Collection[str], pit_id: int) -> None:
    """Force-stop and delete, in parallel, every container of the pit on this LXD."""
    try:
        names = await lxd.instances.names()
    except LxdError as error:
        log.error("pit %d: cannot list containers: %s", pit_id, describe(error))
        return
    ours = []
    for name in names:
        parsed = parse_container_name(name)
        if parsed and parsed.pit_id == pit_id and parsed.node_id in node_ids:
            ours.append(name)
    async with trio.open_nursery() as nursery:
        for name in ours:
            nursery.start_soon(_remove, lxd, name, pit_id)


async def remove_containers(lxd: Lxd, names: Collection[str]) -> None:
    """Force-stop and delete the named pit containers in parallel; errors are logged."""
    async with trio.open_nursery() as nursery:
        for name in names:
            parsed = parse_container_name(name)
            nursery.start_soon(_remove, lxd, name, parsed.pit_id if parsed else -1)


async def _remove(lxd: Lxd, name: str, pit_id: int) -> None:
    # A worker powering itself off is "busy running a stop operation" for a moment.
    for attempt in range(REMOVE_ATTEMPTS):
        try:
            await lxd.instances.remove(name)
            return
        except LxdError as error:
            if attempt == REMOVE_ATTEMPTS - 1:
                log.error("pit %d: cannot remove %s: %s", pit_id, name, describe(error))
        await trio.sleep(0.2 * (attempt + 1))
