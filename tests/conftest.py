"""Shared fixtures: a real service on a loopback port, httpx clients and signed-in users."""

import dataclasses
import secrets
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import trio

from snakepit.config import Config, config_from_mapping
from snakepit.server import serve

pytest_plugins = ["tests.lxd_fixtures"]

T = TypeVar("T")

#: Passwords used by the tests; the published client asks for 12 to 24 characters.
PASSWORD = "correct horse battery"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "token-secret"
    path.write_text(secrets.token_urlsafe(32) + "\n")
    return path


@pytest.fixture
def make_config(tmp_path: Path, secret_file: Path) -> Callable[..., Config]:
    """Build a configuration for a service on a free loopback port in ``tmp_path``."""

    def make(**overrides: Any) -> Config:
        raw = {
            "interface": "127.0.0.1",
            "port": 0,
            "mountRoot": str(tmp_path / "root"),
            "tokenSecretPath": str(secret_file),
            "hashRounds": 4,
            "loginDelay": "50ms",
            "logLevel": 0,
            "shutdownTimeout": "2s",
        }
        raw.update(overrides)
        config, warnings = config_from_mapping(raw)
        assert warnings == []
        return config

    return make


@dataclasses.dataclass
class RunningService:
    url: str
    config: Config
    shutdown: trio.Event
    stopped: trio.Event

    def client(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"X-Auth-Token": token} if token else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)

    async def stop(self) -> None:
        self.shutdown.set()
        with trio.fail_after(10):
            await self.stopped.wait()


async def start_service(nursery: trio.Nursery, config: Config) -> RunningService:
    shutdown, stopped = trio.Event(), trio.Event()

    async def run(task_status: trio.TaskStatus[list[str]]) -> None:
        try:
            await serve(config, shutdown=shutdown, task_status=task_status)
        finally:
            stopped.set()

    binds = await nursery.start(run)
    return RunningService(binds[0], config, shutdown, stopped)


@pytest.fixture
async def service(
    nursery: trio.Nursery, make_config: Callable[..., Config]
) -> AsyncIterator[RunningService]:
    running = await start_service(nursery, make_config())
    yield running
    await running.stop()


@pytest.fixture
async def anon(service: RunningService) -> AsyncIterator[httpx.AsyncClient]:
    async with service.client() as client:
        yield client


def write_directly(config: Config, work: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``work(connection)`` as one transaction on the service's database file, as another
    process would: for putting states into place that the API cannot make (yet)."""
    connection = sqlite3.connect(config.database_path, isolation_level=None)
    connection.row_factory = sqlite3.Row
    try:
        connection.execute("BEGIN IMMEDIATE")
        result = work(connection)
        connection.execute("COMMIT")
        return result
    finally:
        connection.close()


def insert_job_directly(
    config: Config, owner: str, state: int = 0, log: bytes | None = None, title: str = "job"
) -> int:
    """Put a job into the service's database as if it had been submitted and run.

    For tests of routes that read jobs, until jobs can be run end to end in the tests.
    """
    from snakepit.jobs.states import JobState
    from snakepit.store.jobs import insert_job, set_state

    def insert(connection: sqlite3.Connection) -> int:
        number = insert_job(
            connection,
            user_id=owner,
            description=title,
            provisioning="Script",
            request="[]",
            continues=None,
            groups=(),
        )
        if state:
            set_state(connection, number, JobState(state), "set by the test")
        return number

    number = write_directly(config, insert)
    if log is not None:
        folder = config.data_root / "pits" / str(number)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "pit.log").write_bytes(log)
    return number


def insert_node_directly(config: Config, node_id: str, gpus: int = 2) -> None:
    """Put a node with GPUs into the database, its endpoint a closed loopback port."""
    from snakepit.store.nodes import insert_node, set_resources

    def insert(connection: sqlite3.Connection) -> None:
        if insert_node(connection, node_id, "https://127.0.0.1:9", "no certificate"):
            gpu_list = [("cuda", index, "GeForce GTX 1070") for index in range(gpus)]
            set_resources(connection, node_id, gpu_list)

    write_directly(config, insert)


async def register(
    client: httpx.AsyncClient, name: str, password: str = PASSWORD, **fields: Any
) -> str:
    """Register ``name`` and sign in; return the token."""
    answer = await client.put(f"/users/{name}", json={"password": password, **fields})
    assert answer.status_code == 200, answer.text
    return await sign_in(client, name, password)


async def sign_in(client: httpx.AsyncClient, name: str, password: str = PASSWORD) -> str:
    answer = await client.post(f"/users/{name}/authenticate", json={"password": password})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


@dataclasses.dataclass
class Users:
    """An administrator (the first user) and two ordinary users, each with a client."""

    admin: httpx.AsyncClient
    alice: httpx.AsyncClient
    bob: httpx.AsyncClient


@pytest.fixture
async def users(service: RunningService, anon: httpx.AsyncClient) -> AsyncIterator[Users]:
    root_token = await register(anon, "root", fullname="Root")
    alice_token = await register(anon, "alice", fullname="Alice", email="alice@example.org")
    bob_token = await register(anon, "bob")
    async with (
        service.client(root_token) as admin,
        service.client(alice_token) as alice,
        service.client(bob_token) as bob,
    ):
        yield Users(admin, alice, bob)
