"""Job numbers: rows of ``pits``, whose AUTOINCREMENT id never repeats.

SQLite's AUTOINCREMENT keeps the highest id ever used in ``sqlite_sequence``, so a number is not
handed out again after its pit is deleted, nor after a restart.
"""

import sqlite3
from datetime import UTC, datetime


def new_job_number(connection: sqlite3.Connection) -> int:
    cursor = connection.execute(
        "INSERT INTO pits (created_at) VALUES (?)",
        (datetime.now(UTC).isoformat(timespec="seconds"),),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def delete_pit(connection: sqlite3.Connection, number: int) -> bool:
    return connection.execute("DELETE FROM pits WHERE id = ?", (number,)).rowcount > 0
