"""Opening a websocket to the service (``pit exec``, ``pit forward``): ``ws://`` or ``wss://``
below the service URL, the token in ``X-Auth-Token`` on the upgrade request, TLS verified as for
every other call (pinned when ``.pitconnect.txt`` holds a certificate).

The websocket itself is the wsproto client of :mod:`lxd.websocket`, on a plain TCP or a TLS
stream. A refused upgrade becomes a :class:`ClientError` carrying the service's status and its
``message``; an unreachable service one saying ``Unable to reach pit``.
"""

import contextlib
import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import trio

from lxd.websocket import ConnectionClosed, HandshakeError, WebSocket, open_websocket
from snakepit.client.connection import Connection
from snakepit.client.errors import ClientError

__all__ = ["ConnectionClosed", "WebSocket", "open_service_websocket"]


@contextlib.asynccontextmanager
async def open_service_websocket(connection: Connection, route: str) -> AsyncIterator[WebSocket]:
    """Open the websocket of ``route`` (path and query below the service URL, no leading ``/``).

    Raises:
        ClientError: the service is unreachable (no status), or refused the upgrade (its status
            and message: 401, 403, 404 ``Worker not active``, ...).
    """
    parts = urlsplit(connection.url)
    secure = parts.scheme == "https"
    host = parts.hostname or "localhost"
    port = parts.port or (443 if secure else 80)
    target = parts.path.rstrip("/") + "/" + route
    headers = [("X-Auth-Token", connection.token)] if connection.token else []
    try:
        stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
    except OSError as error:
        raise ClientError(f"Unable to reach pit: {_describe(error)}") from None
    if secure:
        stream = trio.SSLStream(
            stream, connection.ssl_context(), server_hostname=host, https_compatible=True
        )
        try:
            await stream.do_handshake()
        except BaseException as error:
            await trio.aclose_forcefully(stream)
            if isinstance(error, trio.BrokenResourceError):
                raise ClientError(f"Unable to reach pit: {_describe(error)}") from None
            raise
    async with contextlib.AsyncExitStack() as stack:
        try:
            socket = await stack.enter_async_context(
                open_websocket(stream, host=parts.netloc, target=target, extra_headers=headers)
            )
        except HandshakeError as error:
            raise _refusal(error) from None
        except ConnectionClosed as error:
            raise ClientError(f"Unable to reach pit: {error.reason}") from None
        yield socket


def _refusal(error: HandshakeError) -> ClientError:
    if error.status_code is None:
        return ClientError(f"Problem opening connection to pit: {error.detail}")
    message = None
    with contextlib.suppress(ValueError):
        body = json.loads(error.body)
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            message = body["message"]
    return ClientError.from_status(error.status_code, message)


def _describe(error: BaseException) -> str:
    """The whole cause chain: TLS failures under trio carry their text in ``__cause__``."""
    texts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(texts) < 5:
        text = str(current) or type(current).__name__
        if text not in texts:
            texts.append(text)
        current = current.__cause__ or current.__context__
    return ": ".join(texts)
