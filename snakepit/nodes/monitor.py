"""Watching whether nodes answer: ONLINE or OFFLINE, checked every ``pollInterval``."""

import logging

import trio

from lxd import LxdError
from snakepit.models import NodeRecord
from snakepit.nodes.connect import LxdConnector, NoClientCertificate
from snakepit.store import Database
from snakepit.store import nodes as node_store

log = logging.getLogger("snakepit.nodes")


class NodeMonitor:
    """Asks every node's LXD for ``/1.0`` each round and records changes of reachability."""

    def __init__(
        self, database: Database, connector: LxdConnector, poll_s: float, timeout_s: float
    ) -> None:
        self._database = database
        self._connector = connector
        self._poll_s = poll_s
        self._timeout_s = timeout_s
        self._wake = trio.Event()

    def wake(self) -> None:
        """Check now (after a node was added, for example) instead of at the next round."""
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await self.check_all()
            with trio.move_on_after(self._poll_s):
                await self._wake.wait()
            self._wake = trio.Event()

    async def check_all(self) -> None:
        nodes = await self._database.read(node_store.all_nodes)
        async with trio.open_nursery() as nursery:
            for node in nodes:
                nursery.start_soon(self._check, node)

    async def _check(self, node: NodeRecord) -> None:
        online = False
        with trio.move_on_after(self._timeout_s):
            try:
                async with self._connector.open(node.endpoint, node.server_cert) as lxd:
                    online = (await lxd.server_info()).auth == "trusted"
            except (LxdError, OSError, ValueError, NoClientCertificate) as error:
                log.debug("node %s does not answer: %s", node.id, error)
        if await self._database.write(lambda c: node_store.set_online(c, node.id, online)):
            log.info("node %s is %s", node.id, "ONLINE" if online else "OFFLINE")
