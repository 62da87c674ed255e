"""A real service with its own LXD identity and nodes on the local LXD, for tests that run pits.

Each test run uses its own node and head ids (they appear in container names), so runs that
share the LXD never touch each other's containers. On the way out the service is stopped, any
container of those ids is removed (and reported: a passing test must leave none) and the
service's certificate is untrusted again.
"""

import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Collection, Mapping
from pathlib import Path
from typing import Any

import httpx
import trio

from lxd import open_lxd
from lxd.certificates import fingerprint
from snakepit.config import Config
from tests.conftest import RunningService, register, start_service
from tests.lxd_fixtures import HTTPS_ENDPOINT, SERVER_CERT, UNIX_SOCKET, make_certificate

#: Settings of a pit-running service in the tests, before the test's own.
PIT_SETTINGS = {
    "lxdServerCert": str(SERVER_CERT),
    "endpoint": HTTPS_ENDPOINT,
    "pollInterval": "200ms",
    "containerTimeout": "60s",
    "maxStartDuration": "3m",
}


@dataclasses.dataclass
class LxdService:
    service: RunningService
    #: The administrator's token (user ``root``).
    root: str
    #: Container names of this service left behind, filled in on the way out.
    leftovers: list[str] = dataclasses.field(default_factory=list)

    def admin(self, timeout: float = 10) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.service.url, headers={"X-Auth-Token": self.root}, timeout=timeout
        )


@contextlib.asynccontextmanager
async def open_lxd_service(
    nursery: trio.Nursery,
    make_config: Callable[..., Config],
    tmp_path: Path,
    *,
    head: str,
    nodes: Mapping[str, Mapping[str, Any]],
    **settings: Any,
) -> AsyncIterator[LxdService]:
    """Start a service and register ``nodes`` (id -> extra fields of ``PUT /nodes/:node``, an
    ``endpoint`` defaulting to the local LXD) with a one-time trust password."""
    identity = make_certificate(tmp_path / "identity", f"snakepit-{head}")
    config = make_config(
        **{
            **PIT_SETTINGS,
            "clientCert": str(identity.cert),
            "clientKey": str(identity.key),
            "headNode": head,
            **settings,
        }
    )
    service = await start_service(nursery, config)
    running = LxdService(service, "")
    try:
        async with service.client() as anon:
            running.root = await register(anon, "root")
        password = f"trust-{head}-{os.getpid()}"
        await trio.run_process(["lxc", "config", "set", "core.trust_password", password])
        try:
            async with running.admin(timeout=180) as admin:
                for node, fields in nodes.items():
                    body = {"endpoint": HTTPS_ENDPOINT, "password": password, **fields}
                    answer = await admin.put(f"/nodes/{node}", json=body)
                    assert answer.status_code == 200, answer.text
        finally:
            await trio.run_process(["lxc", "config", "unset", "core.trust_password"])
        yield running
    finally:
        if not service.stopped.is_set():
            await service.stop()
        ids = [head, *nodes]
        async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
            for name in await lxd.instances.names():
                if any(f"-{node_id}-" in name for node_id in ids):
                    running.leftovers.append(name)
                    await lxd.instances.remove(name)
            trusted = [certificate.fingerprint for certificate in await lxd.certificates.list()]
            if fingerprint(identity.pem) in trusted:
                await lxd.certificates.remove(fingerprint(identity.pem))


async def wait_for(
    client: httpx.AsyncClient, job: int, states: Collection[int], deadline_s: float = 240
) -> dict[str, Any]:
    """Poll ``GET /jobs/<job>`` until the job is in one of ``states``; its detail."""
    with trio.fail_after(deadline_s):
        while True:
            found: dict[str, Any] = (await client.get(f"/jobs/{job}")).json()
            if found["state"] in states:
                return found
            await trio.sleep(0.2)  # polling the API under the deadline above
