"""The SQLite store: WAL, migrations from the first schema, job numbers that never repeat."""

import sqlite3
import threading
from pathlib import Path

import pytest
import trio

from snakepit.store import Database, StoreError
from snakepit.store.accounts import get_user, insert_user
from snakepit.store.migrations import LATEST_VERSION, schema_version
from snakepit.store.pits import delete_pit, new_job_number
from tests.conftest import PASSWORD, sign_in, start_service

FIRST_SCHEMA = Path(__file__).parent / "data" / "schema_v1.sql"


def make_first_schema_database(path: Path) -> None:
    connection = sqlite3.connect(path)
    connection.executescript(FIRST_SCHEMA.read_text())
    connection.close()


def test_first_schema_database_is_migrated_with_its_data(tmp_path):
    path = tmp_path / "old.db"
    make_first_schema_database(path)
    database = Database.open(path)
    try:
        connection = database._writer
        assert schema_version(connection) == LATEST_VERSION
        alice = get_user(connection, "alice")
        assert alice is not None
        assert (alice.fullname, alice.admin, alice.groups) == ("Alice", False, ("lab",))
        names = [row["name"] for row in connection.execute("SELECT name FROM aliases")]
        assert names == ["GeForce GTX 1070"]
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        database.close()


async def test_service_runs_on_a_migrated_first_schema_database(tmp_path, nursery, make_config):
    path = tmp_path / "old.db"
    make_first_schema_database(path)
    service = await start_service(nursery, make_config(database=str(path)))
    async with service.client() as anon:
        token = await sign_in(anon, "root", PASSWORD)
        async with service.client(token) as root:
            assert (await root.get("/users")).json() == ["alice", "root"]
            assert (await root.get("/groups/lab")).json() == {"id": "lab", "title": "The Lab"}
            # The old account gets a token key on its first password change.
            answer = await root.post(
                "/users/~", json={"password": "a new password!", "verification": PASSWORD}
            )
            assert answer.status_code == 200
            assert (await root.get("/users")).status_code == 401
    await service.stop()


def test_database_from_a_newer_snakepit_is_refused(tmp_path):
    path = tmp_path / "new.db"
    connection = sqlite3.connect(path)
    connection.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    connection.close()
    with pytest.raises(StoreError, match="newer than this Snakepit"):
        Database.open(path)


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open database"):
        Database.open(path)


async def test_job_numbers_never_repeat_after_deletion_and_reopening(tmp_path):
    path = tmp_path / "jobs.db"
    database = Database.open(path)
    numbers = [await database.write(new_job_number) for _ in range(3)]
    assert numbers == [1, 2, 3]
    await database.write(lambda c: delete_pit(c, 3))
    await database.write(lambda c: delete_pit(c, 2))
    database.close()
    database = Database.open(path)
    assert await database.write(new_job_number) == 4
    database.close()


async def test_failed_write_leaves_nothing_behind(tmp_path):
    database = Database.open(tmp_path / "t.db")

    def insert_then_fail(connection):
        insert_user(connection, "alice", "hash", None, None, False)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        await database.write(insert_then_fail)
    assert await database.read(lambda c: get_user(c, "alice")) is None
    database.close()


async def test_reads_run_beside_a_long_write(tmp_path):
    database = Database.open(tmp_path / "t.db")
    await database.write(lambda c: insert_user(c, "alice", "hash", None, None, False))
    writing, release = trio.Event(), threading.Event()
    token = trio.lowlevel.current_trio_token()

    def slow_write(connection):
        insert_user(connection, "bob", "hash", None, None, False)
        trio.from_thread.run_sync(writing.set, trio_token=token)
        release.wait(5)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(database.write, slow_write)
        await writing.wait()
        # WAL: the reader sees the last committed state while the writer holds its transaction.
        with trio.fail_after(2):
            assert await database.read(lambda c: get_user(c, "alice")) is not None
            assert await database.read(lambda c: get_user(c, "bob")) is None
        release.set()
    assert await database.read(lambda c: get_user(c, "bob")) is not None
    database.close()
