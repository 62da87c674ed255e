"""The people and data the data-domain tests share (no tests here; imported by the others).

root    administrator
carol   member of group lab; owns job {job} (shared with lab) and job {private} (not shared)
dave    member of group lab
bob     in no group
"""

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from snakepit.jobs.states import JobState
from tests.conftest import RunningService, insert_job_directly, register


@dataclasses.dataclass
class World:
    service: RunningService
    anon: httpx.AsyncClient
    root: httpx.AsyncClient
    carol: httpx.AsyncClient
    dave: httpx.AsyncClient
    bob: httpx.AsyncClient
    job: int
    private: int

    @property
    def data(self) -> Path:
        return self.service.config.data_root

    def pit(self, job: int | None = None) -> Path:
        return self.data / "pits" / str(self.job if job is None else job)

    def client(self, role: str) -> httpx.AsyncClient:
        return dict(anon=self.anon, root=self.root, carol=self.carol, dave=self.dave, bob=self.bob)[
            role
        ]


@pytest.fixture(name="world")
async def world_fixture(service: RunningService, anon: httpx.AsyncClient) -> AsyncIterator[World]:
    root_token = await register(anon, "root")
    carol_token = await register(anon, "carol")
    dave_token = await register(anon, "dave")
    bob_token = await register(anon, "bob")
    async with service.client(root_token) as root:
        assert (await root.put("/groups/lab", json={"title": "Lab"})).status_code == 200
        for member in ("carol", "dave"):
            assert (await root.put(f"/users/{member}/groups/lab")).status_code == 200
    job = insert_job_directly(service.config, "carol", JobState.DONE, b"line 1\nline 2\n")
    private = insert_job_directly(service.config, "carol", JobState.DONE, b"private\n")
    async with (
        service.client(root_token) as root,
        service.client(carol_token) as carol,
        service.client(dave_token) as dave,
        service.client(bob_token) as bob,
    ):
        assert (await carol.put(f"/jobs/{job}/groups/lab")).status_code == 200
        world = World(service, anon, root, carol, dave, bob, job, private)
        (world.data / "shared" / "readme.txt").write_text("shared data\n")
        (world.data / "groups" / "lab" / "corpus.txt").write_text("group data\n")
        (world.data / "home" / "carol" / "notes.txt").write_text("carol's notes\n")
        (world.data / "home" / "bob" / "secret.txt").write_text("bob's secret\n")
        (world.pit() / "keep").mkdir()
        (world.pit() / "keep" / "model.bin").write_bytes(b"weights")
        yield world
