"""The client: one object per LXD endpoint with a part for each resource kind."""

import contextlib
import ssl
from collections.abc import AsyncIterator

from lxd.certificates import Certificates
from lxd.exec import Exec
from lxd.files import Files
from lxd.images import Images
from lxd.instances import Instances
from lxd.models import ServerInfo
from lxd.transport import Endpoint, Transport


class Lxd:
    """An open connection to one LXD daemon."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.instances = Instances(transport)
        self.files = Files(transport)
        self.images = Images(transport)
        self.certificates = Certificates(transport)
        self.exec = Exec(transport)

    async def server_info(self) -> ServerInfo:
        """``GET /1.0``: whether we are trusted, versions, the server's certificate."""
        data = await self.transport.sync("GET", "/1.0")
        environment = data.get("environment") or {}
        return ServerInfo(
            auth=data.get("auth", ""),
            api_version=data.get("api_version", ""),
            server_version=environment.get("server_version", ""),
            certificate=environment.get("certificate", ""),
            addresses=tuple(environment.get("addresses") or ()),
        )


@contextlib.asynccontextmanager
async def open_lxd(endpoint: str, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[Lxd]:
    """Connect to LXD at ``https://host:port`` (with a TLS context) or ``unix:/path``.

    Raises:
        ValueError: the endpoint is malformed, or HTTPS is asked for without a TLS context.
    """
    async with Transport.open(Endpoint.parse(endpoint, ssl_context)) as transport:
        yield Lxd(transport)
