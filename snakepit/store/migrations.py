"""Forward-only schema migrations, tracked in SQLite's ``user_version``.

Each entry of :data:`MIGRATIONS` takes the schema from version ``n - 1`` to ``n``. Never edit a
migration that has shipped: add a new one. ``tests/data/schema_v1.sql`` is a database made by the
first schema; the tests migrate it to the newest version.
"""

import sqlite3

#: Migration scripts; index 0 creates version 1.
MIGRATIONS: tuple[str, ...] = (
    # 1: accounts
    """
    CREATE TABLE users (
        id TEXT PRIMARY KEY,
        password TEXT NOT NULL,
        admin INTEGER NOT NULL DEFAULT 0,
        fullname TEXT,
        email TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        title TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE memberships (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, group_id)
    );
    CREATE TABLE aliases (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
    """,
    # 2: token revocation on password change, and auto-sharing of jobs with groups
    """
    ALTER TABLE users ADD COLUMN token_key TEXT NOT NULL DEFAULT '';
    CREATE TABLE autoshares (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, group_id)
    );
    """,
    # 3: job numbers; AUTOINCREMENT never hands out a number twice, even after deletions
    """
    CREATE TABLE pits (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        created_at TEXT NOT NULL
    );
    """,
    # 4: nodes with their resources, and jobs with their history, processes and allocations
    """
    CREATE TABLE nodes (
        id TEXT PRIMARY KEY,
        endpoint TEXT NOT NULL,
        online INTEGER NOT NULL DEFAULT 0,
        available INTEGER NOT NULL DEFAULT 0,
        since TEXT NOT NULL,
        server_cert TEXT NOT NULL
    );
    CREATE TABLE resources (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        node_id TEXT NOT NULL REFERENCES nodes(id) ON DELETE CASCADE,
        type TEXT NOT NULL,
        idx INTEGER NOT NULL,
        name TEXT NOT NULL,
        UNIQUE (node_id, type, idx)
    );
    CREATE TABLE resource_groups (
        resource_id INTEGER NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        PRIMARY KEY (resource_id, group_id)
    );
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY REFERENCES pits(id),
        user_id TEXT NOT NULL,
        description TEXT NOT NULL,
        provisioning TEXT NOT NULL,
        request TEXT NOT NULL,
        state INTEGER NOT NULL,
        since TEXT NOT NULL,
        rank INTEGER NOT NULL DEFAULT 0,
        allocation TEXT,
        continues INTEGER
    );
    CREATE INDEX jobs_by_state ON jobs (state, rank);
    CREATE INDEX jobs_by_since ON jobs (since);
    CREATE INDEX jobs_by_user ON jobs (user_id);
    CREATE TABLE job_groups (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        PRIMARY KEY (job_id, group_id)
    );
    CREATE TABLE job_states (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        state INTEGER NOT NULL,
        since TEXT NOT NULL,
        reason TEXT
    );
    CREATE INDEX job_states_by_job ON job_states (job_id, id);
    CREATE TABLE processes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        group_index INTEGER NOT NULL,
        process_index INTEGER NOT NULL,
        node_id TEXT,
        status INTEGER,
        result TEXT
    );
    CREATE INDEX processes_by_job ON processes (job_id);
    CREATE TABLE allocations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        process_id INTEGER NOT NULL REFERENCES processes(id) ON DELETE CASCADE,
        resource_id INTEGER REFERENCES resources(id) ON DELETE SET NULL,
        ccompute REAL,
        cmemory REAL,
        acompute REAL NOT NULL DEFAULT 0,
        amemory REAL NOT NULL DEFAULT 0,
        samples INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX allocations_by_process ON allocations (process_id);
    CREATE INDEX allocations_by_resource ON allocations (resource_id);
    """,
    # 5: how a node hands GPUs to workers: LXD gpu devices, or environment variables only.
    """
    ALTER TABLE nodes ADD COLUMN gpu_binding TEXT NOT NULL DEFAULT 'lxd';
    """,
)

#: The schema version this code writes.
LATEST_VERSION = len(MIGRATIONS)


class SchemaTooNew(sqlite3.DatabaseError):
    """The database was written by a newer Snakepit."""


def schema_version(connection: sqlite3.Connection) -> int:
    return int(connection.execute("PRAGMA user_version").fetchone()[0])


def migrate(connection: sqlite3.Connection, target: int = LATEST_VERSION) -> int:
    """Apply the missing migrations up to ``target``, each in its own transaction.

    Returns:
        The version the database had before.

    Raises:
        SchemaTooNew: the database is newer than ``target``.
    """
    before = schema_version(connection)
    if before > target:
        raise SchemaTooNew(
            f"schema version {before} is newer than this Snakepit understands ({target})"
        )
    for version in range(before + 1, target + 1):
        script = MIGRATIONS[version - 1]
        statements = [part.strip() for part in script.split(";") if part.strip()]
        connection.execute("BEGIN IMMEDIATE")
        try:
            for statement in statements:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {version:d}")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")
    return before
