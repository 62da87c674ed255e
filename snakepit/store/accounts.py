"""Queries on users, groups, memberships, auto-shares and aliases.

Plain functions over a ``sqlite3.Connection``, run by :class:`~snakepit.store.Database` in a
thread: reads through ``database.read(fn)``, changes through ``database.write(fn)``.
"""

import secrets
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime

from snakepit.models import Alias, Group, User


def new_token_key() -> str:
    """A fresh random token key: tokens signed with any earlier key stop working."""
    return secrets.token_hex(16)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# -- users


def get_user(connection: sqlite3.Connection, user_id: str) -> User | None:
    row = connection.execute(
        "SELECT id, password, admin, fullname, email, token_key FROM users WHERE id = ?",
        (user_id,),
    ).fetchone()
    if row is None:
        return None
    groups = connection.execute(
        "SELECT group_id FROM memberships WHERE user_id = ? ORDER BY group_id", (user_id,)
    ).fetchall()
    autoshare = connection.execute(
        "SELECT group_id FROM autoshares WHERE user_id = ? ORDER BY group_id", (user_id,)
    ).fetchall()
    return User(
        id=row["id"],
        password_hash=row["password"],
        admin=bool(row["admin"]),
        fullname=row["fullname"],
        email=row["email"],
        token_key=row["token_key"],
        groups=tuple(r[0] for r in groups),
        autoshare=tuple(r[0] for r in autoshare),
    )


def any_user_exists(connection: sqlite3.Connection) -> bool:
    return connection.execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None


def user_ids(connection: sqlite3.Connection) -> list[str]:
    return [row[0] for row in connection.execute("SELECT id FROM users ORDER BY id")]


def insert_user(
    connection: sqlite3.Connection,
    user_id: str,
    password_hash: str,
    fullname: str | None,
    email: str | None,
    admin: bool,
) -> bool | None:
    """Create a user; the very first user of the service becomes an administrator.

    Returns:
        Whether the new user is an administrator, or None if the id is taken.
    """
    if connection.execute("SELECT 1 FROM users WHERE id = ?", (user_id,)).fetchone():
        return None
    first = connection.execute("SELECT 1 FROM users LIMIT 1").fetchone() is None
    connection.execute(
        "INSERT INTO users (id, password, admin, fullname, email, created_at, token_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (user_id, password_hash, int(admin or first), fullname, email, _now(), new_token_key()),
    )
    return admin or first


def update_user(
    connection: sqlite3.Connection,
    user_id: str,
    *,
    fullname: str | None = None,
    email: str | None = None,
    password_hash: str | None = None,
    admin: bool | None = None,
    autoshare: Iterable[str] | None = None,
) -> None:
    """Change the given fields; a new password also revokes all earlier tokens."""
    if fullname is not None:
        connection.execute("UPDATE users SET fullname = ? WHERE id = ?", (fullname, user_id))
    if email is not None:
        connection.execute("UPDATE users SET email = ? WHERE id = ?", (email, user_id))
    if admin is not None:
        connection.execute("UPDATE users SET admin = ? WHERE id = ?", (int(admin), user_id))
    if password_hash is not None:
        connection.execute(
            "UPDATE users SET password = ?, token_key = ? WHERE id = ?",
            (password_hash, new_token_key(), user_id),
        )
    if autoshare is not None:
        connection.execute("DELETE FROM autoshares WHERE user_id = ?", (user_id,))
        connection.executemany(
            "INSERT INTO autoshares (user_id, group_id) VALUES (?, ?)",
            [(user_id, group_id) for group_id in autoshare],
        )


def count_other_admins(connection: sqlite3.Connection, user_id: str) -> int:
    """How many administrators there are besides ``user_id``."""
    return int(
        connection.execute(
            "SELECT count(*) FROM users WHERE admin = 1 AND id != ?", (user_id,)
        ).fetchone()[0]
    )


def delete_user(connection: sqlite3.Connection, user_id: str) -> bool:
    """Delete a user with memberships and auto-shares; False if there was none."""
    return connection.execute("DELETE FROM users WHERE id = ?", (user_id,)).rowcount > 0


def missing_groups(connection: sqlite3.Connection, group_ids: Iterable[str]) -> list[str]:
    """The ids among ``group_ids`` that name no group."""
    return [
        group_id
        for group_id in group_ids
        if connection.execute("SELECT 1 FROM groups WHERE id = ?", (group_id,)).fetchone() is None
    ]


# -- memberships


def add_membership(connection: sqlite3.Connection, user_id: str, group_id: str) -> None:
    connection.execute(
        "INSERT OR IGNORE INTO memberships (user_id, group_id) VALUES (?, ?)", (user_id, group_id)
    )


def remove_membership(connection: sqlite3.Connection, user_id: str, group_id: str) -> bool:
    return (
        connection.execute(
            "DELETE FROM memberships WHERE user_id = ? AND group_id = ?", (user_id, group_id)
        ).rowcount
        > 0
    )


# -- groups


def get_group(connection: sqlite3.Connection, group_id: str) -> Group | None:
    row = connection.execute("SELECT id, title FROM groups WHERE id = ?", (group_id,)).fetchone()
    return None if row is None else Group(row["id"], row["title"])


def group_ids(connection: sqlite3.Connection) -> list[str]:
    return [row[0] for row in connection.execute("SELECT id FROM groups ORDER BY id")]


def insert_group(connection: sqlite3.Connection, group_id: str, title: str) -> bool:
    """Create a group; False if the id is taken."""
    if get_group(connection, group_id) is not None:
        return False
    connection.execute(
        "INSERT INTO groups (id, title, created_at) VALUES (?, ?, ?)", (group_id, title, _now())
    )
    return True


def update_group(connection: sqlite3.Connection, group_id: str, title: str) -> bool:
    return (
        connection.execute("UPDATE groups SET title = ? WHERE id = ?", (title, group_id)).rowcount
        > 0
    )


def delete_group(connection: sqlite3.Connection, group_id: str) -> bool:
    """Delete a group with its memberships and auto-shares; False if there was none."""
    return connection.execute("DELETE FROM groups WHERE id = ?", (group_id,)).rowcount > 0


# -- aliases


def get_alias(connection: sqlite3.Connection, alias_id: str) -> Alias | None:
    row = connection.execute("SELECT id, name FROM aliases WHERE id = ?", (alias_id,)).fetchone()
    return None if row is None else Alias(row["id"], row["name"])


def alias_ids(connection: sqlite3.Connection) -> list[str]:
    return [row[0] for row in connection.execute("SELECT id FROM aliases ORDER BY id")]


def alias_for_name(connection: sqlite3.Connection, name: str) -> Alias | None:
    row = connection.execute("SELECT id, name FROM aliases WHERE name = ?", (name,)).fetchone()
    return None if row is None else Alias(row["id"], row["name"])


def insert_alias(connection: sqlite3.Connection, alias_id: str, name: str) -> None:
    connection.execute("INSERT INTO aliases (id, name) VALUES (?, ?)", (alias_id, name))


def update_alias(connection: sqlite3.Connection, alias_id: str, name: str) -> None:
    connection.execute("UPDATE aliases SET name = ? WHERE id = ?", (name, alias_id))


def delete_alias(connection: sqlite3.Connection, alias_id: str) -> bool:
    return connection.execute("DELETE FROM aliases WHERE id = ?", (alias_id,)).rowcount > 0
