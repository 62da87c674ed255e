"""The SQLite database: WAL, one writer thread, a few reader connections, migrations on open.

Writes go through a single connection in a worker thread under a limiter of one, each as one
``BEGIN IMMEDIATE`` transaction, so there is exactly one writer. Reads borrow one of a few
read-only connections in worker threads, which WAL lets run beside the writer. Point lookups by
primary key (:meth:`Database.lookup`, the user behind every request's token) run on the event
loop instead: they take about 20 µs, a tenth of a thread round trip (bench/README.md). SQL uses
``?`` placeholders only.
"""

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import trio

from snakepit.store.migrations import migrate

T = TypeVar("T")

#: Read connections kept open; more readers wait for a free one.
READERS = 4
#: How long SQLite waits for a lock held by another process before giving up.
BUSY_TIMEOUT_MS = 5000


class StoreError(Exception):
    """The database cannot be opened or used."""


class StoreFull(StoreError):
    """A write found the disk full; it was rolled back and the database is intact."""


def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if read_only else f"file:{path}?mode=rwc"
    connection = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    connection.row_factory = sqlite3.Row
    connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    connection.execute("PRAGMA foreign_keys = ON")
    return connection


class Database:
    """One SQLite file, opened by :meth:`open` and closed by :meth:`close`."""

    def __init__(self, path: Path, writer: sqlite3.Connection) -> None:
        self.path = path
        self._writer = writer
        self._lookup_connection = _connect(path, read_only=True)
        self._write_limiter = trio.CapacityLimiter(1)
        self._readers: list[sqlite3.Connection] = []
        self._reader_limiter = trio.CapacityLimiter(READERS)

    @classmethod
    def open(cls, path: Path) -> "Database":
        """Open (or create) the database, switch it to WAL and migrate it to the newest schema.

        Blocking: call it from a thread or before the event loop is busy.

        Raises:
            StoreError: the file cannot be opened, is not a database, or is from a newer version.
        """
        try:
            writer = _connect(path, read_only=False)
            writer.execute("PRAGMA journal_mode = WAL")
            writer.execute("PRAGMA synchronous = NORMAL")
            migrate(writer)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot open database {path}: {error}") from None
        return cls(path, writer)

    def close(self) -> None:
        for connection in (*self._readers, self._lookup_connection, self._writer):
            connection.close()
        self._readers.clear()

    def write_blocking(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` as one write transaction in the calling thread."""
        connection = self._writer
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = work(connection)
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode == sqlite3.SQLITE_FULL:
                raise StoreFull(f"the disk of the database is full ({error})") from error
            raise
        return result

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` as one write transaction in the writer thread."""
        return await trio.to_thread.run_sync(self.write_blocking, work, limiter=self._write_limiter)

    def lookup(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run a primary-key lookup on the event loop's own read connection.

        Only for queries that touch a handful of rows through an index: anything bigger goes
        through :meth:`read`. WAL readers never wait for the writer, so this does not block.
        """
        return _read_transaction(self._lookup_connection, work)

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` in one read transaction on a reader, in a worker thread."""
        async with self._reader_limiter:
            connection = self._readers.pop() if self._readers else None
            if connection is None:
                connection = await trio.to_thread.run_sync(_connect, self.path, True)
            try:
                return await trio.to_thread.run_sync(_read_transaction, connection, work)
            finally:
                self._readers.append(connection)


def _read_transaction(connection: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
    connection.execute("BEGIN")
    try:
        return work(connection)
    finally:
        connection.execute("COMMIT")
