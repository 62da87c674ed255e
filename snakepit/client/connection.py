"""Where the service is and who we are: the one value every client module starts from."""

import dataclasses
import ssl
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from snakepit.client.errors import ClientError

if TYPE_CHECKING:
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

    @classmethod
    def from_text(cls, text: str) -> "Connection":
        """Parse the content of a ``.pitconnect.txt``: the URL, then an optional PEM text.

        Raises:
            ClientError: the first line is not an ``http://`` or ``https://`` URL.
        """
        lines = text.replace("\r\n", "\n").split("\n")
        url = lines[0].strip().rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ClientError(f"The connection file does not start with an http(s) URL: {url!r}")
        pem = "\n".join(lines[1:]).strip()
        return cls(url, ca_cert=pem + "\n" if pem else None)

    def with_token(self, token: str | None) -> "Connection":
        return dataclasses.replace(self, token=token)

    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token} if self.token else {}

    def ssl_context(self) -> ssl.SSLContext:
        """The TLS settings for this service: always verified, pinned when a cert is given."""
        if self.ca_cert is not None:
            return ssl.create_default_context(cadata=self.ca_cert)
        return ssl.create_default_context()

    def websocket_url(self, route: str) -> str:
        """``ws(s)://`` URL of ``route`` (a path below the service URL, without leading ``/``)."""
        scheme, rest = self.url.split("://", 1)
        return ("wss" if scheme == "https" else "ws") + "://" + rest + "/" + route

    def http_client(self, **options: Any) -> "httpx.AsyncClient":
        """An ``httpx.AsyncClient`` for this service; the caller closes it (``async with``).

        httpx is imported here, not with this module: ``pit`` starts without it.
        """
        import httpx

        options.setdefault("timeout", httpx.Timeout(60.0, connect=10.0))
        return httpx.AsyncClient(
            base_url=self.url,
            headers=self.headers(),
            verify=self.ssl_context() if self.url.startswith("https:") else True,
            **options,
        )


def segment(value: str | int) -> str:
    """One path segment, percent-encoded (``~`` stays: it names the signed-in user)."""
    return quote(str(value), safe="~")


def route(*parts: str | int) -> str:
    """A route from path segments, each encoded: ``route("users", "a b")`` → ``users/a%20b``."""
    return "/".join(segment(part) for part in parts)
