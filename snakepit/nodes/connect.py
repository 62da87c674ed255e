"""Opening an LXD client for a node: our client certificate, the node's pinned certificate."""

import contextlib
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import trio

from lxd import Lxd, client_ssl_context, open_lxd
from lxd.tls import fetch_server_certificate
from snakepit.config import Config


class NoClientCertificate(Exception):
    """The service has no LXD client certificate configured (clientCert, clientKey)."""


class LxdConnector:
    """Makes LXD clients for nodes with the service's client identity."""

    def __init__(self, config: Config) -> None:
        self._config = config

    def context(self, server_cert: str) -> ssl.SSLContext:
        config = self._config
        if not config.client_cert or not config.client_key:
            raise NoClientCertificate("the service has no clientCert/clientKey for LXD")
        return client_ssl_context(Path(config.client_cert), Path(config.client_key), server_cert)

    @contextlib.asynccontextmanager
    async def open(self, endpoint: str, server_cert: str) -> AsyncIterator[Lxd]:
        """An LXD client for a node; TLS verified against its pinned certificate."""
        async with open_lxd(endpoint, self.context(server_cert)) as client:
            yield client

    async def first_certificate(self, endpoint: str) -> str:
        """The certificate the node presents, to be pinned from now on (trust on first use).

        For an endpoint on this machine the certificate must be the local LXD's own
        (``lxdServerCert``), so not even the first contact is taken on trust.

        Raises:
            ValueError: not an ``https://host:port`` endpoint, or a local endpoint presenting
                another certificate.
            OSError: nothing answers there.
        """
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"endpoint must be https://HOST:PORT, not {endpoint!r}")
        presented = await trio.to_thread.run_sync(
            fetch_server_certificate,
            parts.hostname,
            parts.port or 8443,
            self._config.lxd_timeout_s,
        )
        local = trio.Path(self._config.lxd_server_cert)
        if parts.hostname in ("127.0.0.1", "localhost", "::1") and await local.exists():
            expected = ssl.PEM_cert_to_DER_cert(await local.read_text())
            if ssl.PEM_cert_to_DER_cert(presented) != expected:
                raise ValueError(f"{endpoint} does not present this machine's LXD certificate")
        return presented
