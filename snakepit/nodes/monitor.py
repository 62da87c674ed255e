"""Watching the nodes every ``pollInterval``: ONLINE or OFFLINE, and no zombie containers.

A node is ONLINE while its LXD answers and trusts the service. Each round also lists the
containers on every LXD the service uses (the nodes' and the head's) and removes those named
like a pit's (``sp-<node>-<pit>-<spec>`` with one of that LXD's node ids) whose job is not
starting, running or stopping: pits of deleted jobs, or left behind by a crash during a
teardown. The containers are listed before the jobs are read, so a pit that is being made is
always seen with its job active.
"""

import logging
from functools import partial

import trio

from lxd import Lxd, LxdError
from snakepit.config import Config
from snakepit.jobs.states import ACTIVE
from snakepit.models import NodeRecord
from snakepit.nodes.connect import LxdConnector, NoClientCertificate
from snakepit.pits.plan import parse_container_name
from snakepit.pits.teardown import remove_containers
from snakepit.store import Database, StoreFull
from snakepit.store import jobs as job_store
from snakepit.store import nodes as node_store

log = logging.getLogger("snakepit.nodes")

#: How often zombie containers are looked for: listing every LXD's containers each poll would
#: cost more than zombies do (they are rare: a crash in the middle of a teardown).
REAP_INTERVAL_S = 10.0


class NodeMonitor:
    """Asks every node's LXD for ``/1.0`` each round, records changes of reachability, and
    removes zombie pit containers."""

    def __init__(self, database: Database, connector: LxdConnector, config: Config) -> None:
        self._database = database
        self._connector = connector
        self._config = config
        self._wake = trio.Event()
        self._next_reap = 0.0

    def wake(self) -> None:
        """Check now (after a node was added, for example) instead of at the next round."""
        self._wake.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await self.check_all()
            with trio.move_on_after(self._config.poll_interval_s):
                await self._wake.wait()
            self._wake = trio.Event()

    async def check_all(self) -> None:
        nodes = await self._database.read(node_store.all_nodes)
        reap = trio.current_time() >= self._next_reap
        if reap:
            self._next_reap = trio.current_time() + REAP_INTERVAL_S
        async with trio.open_nursery() as nursery:
            for node in nodes:
                nursery.start_soon(self._check, node, reap)
            if reap:
                nursery.start_soon(self._check_head, nodes)

    async def _check(self, node: NodeRecord, reap: bool) -> None:
        online = False
        with trio.move_on_after(self._config.lxd_timeout_s):
            try:
                async with self._connector.open(node.endpoint, node.server_cert) as lxd:
                    online = (await lxd.server_info()).auth == "trusted"
                    if reap and online and node.endpoint != self._config.endpoint:
                        await self._reap(lxd, {node.id})
            except (LxdError, OSError, ValueError, NoClientCertificate) as error:
                log.debug("node %s does not answer: %s", node.id, error)
        try:
            changed = await self._database.write(
                lambda c: node_store.set_online(c, node.id, online)
            )
        except StoreFull as error:  # (the next round records it)
            log.error("node %s: cannot record its state: %s", node.id, error)
            return
        if changed:
            log.info("node %s is %s", node.id, "ONLINE" if online else "OFFLINE")

    async def _check_head(self, nodes: list[NodeRecord]) -> None:
        """Reap on the head's LXD: the daemons, and the workers of nodes that share it."""
        config = self._config
        ids = {config.head_node} | {n.id for n in nodes if n.endpoint == config.endpoint}
        with trio.move_on_after(config.lxd_timeout_s):
            try:
                certificate = await trio.Path(config.lxd_server_cert).read_text()
                async with self._connector.open(config.endpoint, certificate) as lxd:
                    await self._reap(lxd, ids)
            except (LxdError, OSError, ValueError, NoClientCertificate) as error:
                log.debug("the head's LXD does not answer: %s", error)

    async def _reap(self, lxd: Lxd, node_ids: set[str]) -> None:
        names = await lxd.instances.names()
        pits = {
            name: parsed.pit_id
            for name in names
            if (parsed := parse_container_name(name)) and parsed.node_id in node_ids
        }
        if not pits:
            return
        active = await self._database.read(
            partial(job_store.jobs_with_states, states=ACTIVE, ids=set(pits.values()))
        )
        zombies = [name for name, pit in pits.items() if pit not in active]
        if zombies:
            log.warning("removing containers of pits that are not running: %s", zombies)
            await remove_containers(lxd, zombies)
