"""The one place that talks HTTP to LXD and unwraps its sync/async/error envelope.

Every request goes through :meth:`Transport.request`, which maps transport failures to
:class:`~lxd.errors.LxdUnreachable` and LXD's error envelopes to :class:`~lxd.errors.LxdApiError`
subclasses. Async operations are awaited to completion by :meth:`Transport.wait`. No call sets a
deadline of its own: the caller wraps it in ``trio.fail_after``.
"""

import contextlib
import dataclasses
import json
import ssl
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from lxd.errors import LxdApiError, LxdUnreachable, OperationFailed, api_error
from lxd.websocket import HandshakeError, WebSocket, open_websocket_tls, open_websocket_unix

#: How long one ``/wait`` request asks LXD to hold before answering; the loop repeats it.
OPERATION_POLL_S = 30

#: Operation status codes (LXD's ``status_code``).
SUCCESS, FAILURE, CANCELLED = 200, 400, 401


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """Where LXD listens: ``https://host:port`` with a TLS context, or a unix socket."""

    url: str
    ssl_context: ssl.SSLContext | None = None
    unix_socket: str | None = None

    @classmethod
    def parse(cls, endpoint: str, ssl_context: ssl.SSLContext | None = None) -> "Endpoint":
        """Read ``https://host:port`` or ``unix:/path/to/unix.socket``.

        Raises:
            ValueError: another scheme, or HTTPS without a TLS context.
        """
        if endpoint.startswith("unix:"):
            path = endpoint.removeprefix("unix:").removeprefix("//")
            return cls("http://lxd", unix_socket=path)
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"LXD endpoint must be https://HOST:PORT or unix:PATH: {endpoint!r}")
        if ssl_context is None:
            raise ValueError("an HTTPS LXD endpoint needs a TLS context (client certificate)")
        return cls(f"https://{parts.netloc}", ssl_context=ssl_context)

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 8443


def describe(error: BaseException) -> str:
    """An error with its whole cause chain (trio's TLS failures come with empty messages)."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(parts) < 8:
        text = str(current) or repr(current)
        parts.append(f"{type(current).__name__}: {text}")
        current = current.__cause__ or current.__context__
    return " <- ".join(parts)


class Transport:
    """An httpx client bound to one LXD endpoint."""

    def __init__(self, endpoint: Endpoint, client: httpx.AsyncClient) -> None:
        self.endpoint = endpoint
        self._client = client

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, endpoint: Endpoint) -> AsyncIterator["Transport"]:
        """Open the HTTP client for ``endpoint`` and close it on exit."""
        if endpoint.unix_socket is not None:
            transport = httpx.AsyncHTTPTransport(uds=endpoint.unix_socket)
            client = httpx.AsyncClient(base_url=endpoint.url, transport=transport, timeout=None)
        else:
            assert endpoint.ssl_context is not None
            client = httpx.AsyncClient(
                base_url=endpoint.url, verify=endpoint.ssl_context, timeout=None
            )
        async with client:
            yield cls(endpoint, client)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """Send one request; raise for transport failures and LXD error answers.

        Raises:
            LxdUnreachable: the daemon cannot be reached.
            LxdApiError: LXD answered with an error status.
        """
        try:
            response = await self._client.request(
                method, path, json=json_body, params=params, content=content, headers=headers
            )
        except httpx.TransportError as error:
            raise LxdUnreachable(f"{method} {path}: {describe(error)}") from error
        if response.status_code >= 400:
            raise _error_from(response)
        return response

    @contextlib.asynccontextmanager
    async def stream(
        self, method: str, path: str, params: Mapping[str, str]
    ) -> AsyncIterator[httpx.Response]:
        """Send a request and stream the answer's body (for file downloads)."""
        request = self._client.build_request(method, path, params=params)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as error:
            raise LxdUnreachable(f"{method} {path}: {describe(error)}") from error
        try:
            if response.status_code >= 400:
                await response.aread()
                raise _error_from(response)
            yield response
        finally:
            await response.aclose()

    @contextlib.asynccontextmanager
    async def websocket(self, target: str) -> AsyncIterator[WebSocket]:
        """Open one of an operation's websockets (``/1.0/operations/ID/websocket?secret=S``).

        Raises:
            LxdUnreachable: the daemon cannot be reached or refused the upgrade.
        """
        try:
            if self.endpoint.unix_socket is not None:
                opened = open_websocket_unix(self.endpoint.unix_socket, target)
            else:
                assert self.endpoint.ssl_context is not None
                opened = open_websocket_tls(
                    self.endpoint.host, self.endpoint.port, target, self.endpoint.ssl_context
                )
            async with opened as ws:
                yield ws
        except (OSError, HandshakeError) as error:
            raise LxdUnreachable(f"websocket {target.split('?')[0]}: {describe(error)}") from error

    async def sync(self, method: str, path: str, **kwargs: Any) -> Any:
        """A request answered synchronously; returns the envelope's ``metadata``."""
        return _envelope(await self.request(method, path, **kwargs)).get("metadata")

    async def run(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A request that starts an operation; waits for it and returns its metadata.

        Raises:
            OperationFailed: the operation ended in failure or was cancelled.
        """
        envelope = _envelope(await self.request(method, path, **kwargs))
        if envelope.get("type") != "async":
            return envelope.get("metadata") or {}
        return await self.wait(operation_id(envelope))

    async def start(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """A request that starts an operation; returns the operation without waiting."""
        envelope = _envelope(await self.request(method, path, **kwargs))
        return dict(envelope.get("metadata") or {}, id=operation_id(envelope))

    async def wait(self, operation: str) -> dict[str, Any]:
        """Wait until the operation ends; return its metadata.

        Raises:
            OperationFailed: it failed or was cancelled.
        """
        while True:
            metadata = await self.sync(
                "GET",
                f"/1.0/operations/{operation}/wait",
                params={"timeout": str(OPERATION_POLL_S)},
            )
            status = metadata.get("status_code")
            if status == SUCCESS:
                return dict(metadata)
            if status in (FAILURE, CANCELLED):
                raise OperationFailed(operation, metadata.get("err") or metadata.get("status", ""))


def operation_id(envelope: Mapping[str, Any]) -> str:
    """The operation's id from an async answer (``/1.0/operations/<id>``)."""
    operation = envelope.get("operation") or ""
    if not operation:
        operation = (envelope.get("metadata") or {}).get("id", "")
    return str(operation).rstrip("/").rsplit("/", 1)[-1]


def _envelope(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise LxdApiError(response.status_code, "answer is not JSON") from None
    if not isinstance(body, dict):
        raise LxdApiError(response.status_code, "answer is not a JSON object")
    if body.get("type") == "error":
        raise api_error(int(body.get("error_code") or response.status_code), body.get("error", ""))
    return body


def _error_from(response: httpx.Response) -> LxdApiError:
    try:
        body = response.json()
        message = body.get("error") or response.reason_phrase
        status = int(body.get("error_code") or response.status_code)
    except (ValueError, AttributeError):
        message, status = response.reason_phrase, response.status_code
    return api_error(status, message)
