"""Where the service is and who we are: the one value every client module starts from."""

import dataclasses
import ssl
from typing import Any

import httpx


@dataclasses.dataclass(frozen=True)
class Connection:
    """A service URL, an optional pinned certificate and an optional token.

    Attributes:
        url: Base URL of the service without a trailing slash, ``http://`` or ``https://``.
        token: The JWT sent as ``X-Auth-Token``; None for anonymous calls.
        ca_cert: PEM text of a certificate to trust for an ``https`` URL (the second part of
            ``.pitconnect.txt``); None trusts the system's certificate authorities.
    """

    url: str
    token: str | None = None
    ca_cert: str | None = None

    def with_token(self, token: str | None) -> "Connection":
        return dataclasses.replace(self, token=token)

    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token} if self.token else {}

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS settings for this service: always verified, pinned when a cert is given."""
        if self.ca_cert is not None:
            return ssl.create_default_context(cadata=self.ca_cert)
        return ssl.create_default_context()

    def http_client(self, **options: Any) -> httpx.AsyncClient:
        """An ``httpx.AsyncClient`` for this service; the caller closes it (``async with``)."""
        options.setdefault("timeout", httpx.Timeout(60.0, connect=10.0))
        return httpx.AsyncClient(
            base_url=self.url,
            headers=self.headers(),
            verify=self.ssl_context() if self.url.startswith("https:") else True,
            **options,
        )
