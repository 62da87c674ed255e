"""Queries on nodes, their resources (GPUs) and the groups resources are restricted to."""

import sqlite3
from collections.abc import Iterable

from snakepit.jobs.states import ACTIVE
from snakepit.models import NodeRecord, ResourceRecord
from snakepit.scheduling import Cluster, Node, Resource
from snakepit.store.jobs import now


def insert_node(
    connection: sqlite3.Connection,
    node_id: str,
    endpoint: str,
    server_cert: str,
    gpu_binding: str = "lxd",
) -> bool:
    """Register a node (offline and unavailable until its resources are known)."""
    if connection.execute("SELECT 1 FROM nodes WHERE id = ?", (node_id,)).fetchone():
        return False
    connection.execute(
        "INSERT INTO nodes (id, endpoint, online, available, since, server_cert, gpu_binding)"
        " VALUES (?, ?, 0, 0, ?, ?, ?)",
        (node_id, endpoint, now(), server_cert, gpu_binding),
    )
    return True


def node_ids(connection: sqlite3.Connection) -> list[str]:
    return [row[0] for row in connection.execute("SELECT id FROM nodes ORDER BY id")]


def _resources(connection: sqlite3.Connection, node_id: str) -> tuple[ResourceRecord, ...]:
    rows = connection.execute(
        "SELECT r.id, r.type, r.idx, r.name, a.id AS alias FROM resources r"
        " LEFT JOIN aliases a ON a.name = r.name WHERE r.node_id = ? ORDER BY r.type, r.idx",
        (node_id,),
    ).fetchall()
    return tuple(
        ResourceRecord(
            row["id"],
            row["type"],
            row["idx"],
            row["name"],
            row["alias"],
            tuple(
                group[0]
                for group in connection.execute(
                    "SELECT group_id FROM resource_groups WHERE resource_id = ? ORDER BY group_id",
                    (row["id"],),
                )
            ),
        )
        for row in rows
    )


def _node(connection: sqlite3.Connection, row: sqlite3.Row) -> NodeRecord:
    return NodeRecord(
        id=row["id"],
        endpoint=row["endpoint"],
        online=bool(row["online"]),
        available=bool(row["available"]),
        since=row["since"],
        server_cert=row["server_cert"],
        resources=_resources(connection, row["id"]),
        gpu_binding=row["gpu_binding"],
    )


def get_node(connection: sqlite3.Connection, node_id: str) -> NodeRecord | None:
    row = connection.execute("SELECT * FROM nodes WHERE id = ?", (node_id,)).fetchone()
    return None if row is None else _node(connection, row)


def all_nodes(connection: sqlite3.Connection) -> list[NodeRecord]:
    rows = connection.execute("SELECT * FROM nodes ORDER BY id").fetchall()
    return [_node(connection, row) for row in rows]


def set_resources(
    connection: sqlite3.Connection, node_id: str, found: Iterable[tuple[str, int, str]]
) -> None:
    """Replace the node's resources with ``(type, index, name)`` entries; mark it available."""
    connection.execute("DELETE FROM resources WHERE node_id = ?", (node_id,))
    connection.executemany(
        "INSERT INTO resources (node_id, type, idx, name) VALUES (?, ?, ?, ?)",
        [(node_id, kind, index, name) for kind, index, name in found],
    )
    connection.execute("UPDATE nodes SET available = 1 WHERE id = ?", (node_id,))


def set_online(connection: sqlite3.Connection, node_id: str, online: bool) -> bool:
    """Record reachability; only a change is written (with a new ``since``)."""
    return (
        connection.execute(
            "UPDATE nodes SET online = ?, since = ? WHERE id = ? AND online != ?",
            (int(online), now(), node_id, int(online)),
        ).rowcount
        > 0
    )


def delete_node(connection: sqlite3.Connection, node_id: str) -> bool:
    return connection.execute("DELETE FROM nodes WHERE id = ?", (node_id,)).rowcount > 0


def endpoint_users(connection: sqlite3.Connection, endpoint: str) -> list[str]:
    """Nodes registered with this LXD endpoint (the same LXD may serve as several nodes)."""
    return [
        row[0] for row in connection.execute("SELECT id FROM nodes WHERE endpoint = ?", (endpoint,))
    ]


def restrict(
    connection: sqlite3.Connection,
    node_id: str,
    group_id: str,
    *,
    index: int | None,
    add: bool,
) -> int:
    """Add or remove a group restriction on one resource (by index) or all of a node's.

    Returns:
        How many resources it applied to (0: no such resource).
    """
    if index is None:
        rows = connection.execute(
            "SELECT id FROM resources WHERE node_id = ?", (node_id,)
        ).fetchall()
    else:
        rows = connection.execute(
            "SELECT id FROM resources WHERE node_id = ? AND idx = ?", (node_id, index)
        ).fetchall()
    for row in rows:
        if add:
            connection.execute(
                "INSERT OR IGNORE INTO resource_groups (resource_id, group_id) VALUES (?, ?)",
                (row[0], group_id),
            )
        else:
            connection.execute(
                "DELETE FROM resource_groups WHERE resource_id = ? AND group_id = ?",
                (row[0], group_id),
            )
    return len(rows)


def cluster_snapshot(connection: sqlite3.Connection) -> Cluster:
    """Nodes and resources (with aliases and restrictions) for the scheduling functions."""
    nodes = [
        Node(row["id"], bool(row["online"]), bool(row["available"]))
        for row in connection.execute("SELECT id, online, available FROM nodes")
    ]
    restrictions: dict[int, set[str]] = {}
    for row in connection.execute("SELECT resource_id, group_id FROM resource_groups"):
        restrictions.setdefault(row[0], set()).add(row[1])
    resources = [
        Resource(
            id=row["id"],
            node=row["node_id"],
            type=row["type"],
            index=row["idx"],
            name=row["name"],
            alias=row["alias"],
            groups=frozenset(restrictions.get(row["id"], ())),
        )
        for row in connection.execute(
            "SELECT r.id, r.node_id, r.type, r.idx, r.name, a.id AS alias FROM resources r"
            " LEFT JOIN aliases a ON a.name = r.name"
        )
    ]
    return Cluster(nodes, resources)


def busy_resource_ids(connection: sqlite3.Connection) -> frozenset[int]:
    """Resources held by jobs that are starting, running or stopping."""
    rows = connection.execute(
        "SELECT a.resource_id FROM allocations a JOIN processes p ON a.process_id = p.id"
        " JOIN jobs j ON p.job_id = j.id WHERE j.state IN (?, ?, ?) AND a.resource_id IS NOT NULL",
        tuple(int(state) for state in sorted(ACTIVE)),
    )
    return frozenset(row[0] for row in rows)


def groups_of(connection: sqlite3.Connection, user_id: str) -> frozenset[str]:
    """The groups a user is a member of (for resource restrictions)."""
    return frozenset(
        row[0]
        for row in connection.execute(
            "SELECT group_id FROM memberships WHERE user_id = ?", (user_id,)
        )
    )
