"""Fixtures for tests against the real local LXD (started by bin/lxd-up).

A missing LXD fails these tests with a clear message instead of skipping them: CI always has
LXD, and a silent skip would count as passing. Deselect them with ``-m "not lxd"``.
"""

import contextlib
import dataclasses
import itertools
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import trio

from lxd import Lxd, client_ssl_context, open_lxd
from lxd.certificates import fingerprint

UNIX_SOCKET = Path("/var/lib/lxd/unix.socket")
SERVER_CERT = Path("/var/lib/lxd/server.crt")
HTTPS_ENDPOINT = "https://127.0.0.1:8443"
TINY_IMAGE = "snakepit-tiny"
_names = itertools.count()


@dataclasses.dataclass(frozen=True)
class ClientCert:
    cert: Path
    key: Path

    @property
    def pem(self) -> str:
        return self.cert.read_text()


def make_certificate(folder: Path, name: str, *, ip: str = "127.0.0.1") -> ClientCert:
    """A self-signed certificate and key made with openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{name}.crt", folder / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=IP:{ip}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return ClientCert(cert, key)


def require_lxd() -> None:
    if not UNIX_SOCKET.exists():
        pytest.fail(f"LXD is not running ({UNIX_SOCKET} is missing): run bin/lxd-up first")


def unique_name(prefix: str = "test") -> str:
    return f"{prefix}-{os.getpid()}-{next(_names)}"


@pytest.fixture(scope="session")
def trusted_cert(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClientCert]:
    """A client certificate that the local LXD trusts for this session (added and removed over
    the root-only unix socket)."""
    require_lxd()
    made = make_certificate(tmp_path_factory.mktemp("lxd-client"), "snakepit-test")

    async def trust() -> None:
        async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
            with trio.fail_after(30):
                await lxd.certificates.add(made.pem, name="snakepit-test")

    async def untrust() -> None:
        async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
            with trio.fail_after(30):
                await lxd.certificates.remove(fingerprint(made.pem))

    trio.run(trust)
    yield made
    trio.run(untrust)


@pytest.fixture
async def lxd_unix() -> AsyncIterator[Lxd]:
    require_lxd()
    async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
        yield lxd


@pytest.fixture
async def lxd(trusted_cert: ClientCert) -> AsyncIterator[Lxd]:
    """The local LXD over HTTPS with a trusted client certificate and the pinned server cert."""
    context = client_ssl_context(trusted_cert.cert, trusted_cert.key, SERVER_CERT)
    async with open_lxd(HTTPS_ENDPOINT, context) as client:
        yield client


@pytest.fixture
async def cleanup_instances(lxd_unix: Lxd) -> AsyncIterator[list[str]]:
    """Names appended to the list are force-deleted after the test."""
    names: list[str] = []
    yield names
    with trio.move_on_after(60):
        for name in names:
            with contextlib.suppress(Exception):
                await lxd_unix.instances.remove(name)


async def wait_for_ipv4(lxd: Lxd, name: str, deadline_s: float = 30) -> str:
    """Poll the instance state until eth0 has an IPv4 address."""
    with trio.fail_after(deadline_s):
        while True:
            state = await lxd.instances.state(name)
            if state.ipv4:
                return state.ipv4[0]
            await trio.sleep(0.1)
