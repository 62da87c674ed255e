"""One conversation with the service: an HTTP client, error mapping, and re-login on 401.

:class:`Session` sends requests below the service URL and raises :class:`ClientError` for every
answer above 299 (with the service's ``message``) and for every transport failure (``Unable to
reach pit: ...``). When the service answers 401 and the session was given a ``relogin``
callback, the callback is awaited once for a new token and the request is sent again: the
service's tokens expire and it has no refresh route, so signing in again is the only way on.
"""

import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx

from snakepit.client.connection import Connection
from snakepit.client.errors import ClientError

#: Called on a 401 answer; returns a fresh token (it may prompt the user for a password).
Relogin = Callable[[], Awaitable[str]]

#: Body argument: JSON-able value (sent as JSON) or raw bytes.
Body = Any


def describe_transport_error(error: BaseException) -> str:
    """The innermost useful text of a transport error (TLS errors under trio come empty)."""
    texts = []
    current: BaseException | None = error
    while current is not None:
        text = str(current) or type(current).__name__
        if text not in texts:
            texts.append(text)
        current = current.__cause__ or current.__context__
    return ": ".join(texts)


def error_from_response(response: httpx.Response, body: bytes) -> ClientError:
    """A :class:`ClientError` for an answer above 299, with its ``message`` when it has one."""
    message = None
    if response.headers.get("content-type", "").startswith("application/json"):
        with contextlib.suppress(ValueError):
            parsed = json.loads(body)
            if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
                message = parsed["message"]
    return ClientError.from_status(response.status_code, message)


class Session:
    """Requests to one service with one token (see the module docstring).

    Args:
        connection: Service URL, certificate and token.
        relogin: Awaited once on a 401 answer for a new token; None gives up on 401.
        debug: Print each request and answer status to stderr (``pit -d``).
    """

    def __init__(
        self, connection: Connection, relogin: Relogin | None = None, *, debug: bool = False
    ) -> None:
        self.connection = connection
        self.relogin = relogin
        self.debug = debug
        self._http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> "Session":
        self._http = self.connection.http_client(timeout=httpx.Timeout(None, connect=15.0))
        await self._http.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        if self._http is not None:
            await self._http.__aexit__(*exc_info)
            self._http = None

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError("Session used outside 'async with'")
        return self._http

    def set_token(self, token: str | None) -> None:
        self.connection = self.connection.with_token(token)
        if token:
            self.http.headers["X-Auth-Token"] = token
        else:
            self.http.headers.pop("X-Auth-Token", None)

    def _build(
        self,
        method: str,
        route: str,
        body: Body,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Request:
        all_headers = dict(headers or {})
        content: Any = None
        if isinstance(body, bytes | bytearray) or hasattr(body, "__aiter__"):
            content = body
            all_headers.setdefault("Content-Type", "application/octet-stream")
        elif body is not None:
            # ensure_ascii keeps undecodable diff bytes (surrogate escapes) intact on the wire.
            content = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        if self.debug:
            print(f"SENDING {method} {self.connection.url}/{route}", file=sys.stderr)
        return self.http.build_request(
            method, "/" + route, content=content, params=params, headers=all_headers
        )

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        route: str,
        body: Body = None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> AsyncIterator[httpx.Response]:
        """Send a request and yield its answer (status below 300) with the body unread.

        Raises:
            ClientError: an answer above 299, or the service cannot be reached.
        """
        request = self._build(method, route, body, params, headers)
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as error:
            raise ClientError("Unable to reach pit: " + describe_transport_error(error)) from None
        try:
            if self.debug:
                print(f"RECEIVING CODE {response.status_code}", file=sys.stderr)
            # A streamed body is spent after one send: such callers sign in again beforehand.
            replayable = not hasattr(body, "__aiter__")
            if response.status_code == 401 and retry and replayable and self.relogin is not None:
                await response.aclose()
                self.set_token(await self.relogin())
                async with self.stream(
                    method, route, body, params=params, headers=headers, retry=False
                ) as again:
                    yield again
                return
            if response.status_code > 299:
                raise error_from_response(response, await response.aread())
            yield response
        except httpx.HTTPError as error:
            raise ClientError("Unable to reach pit: " + describe_transport_error(error)) from None
        finally:
            await response.aclose()

    async def request(
        self,
        method: str,
        route: str,
        body: Body = None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """Send a request and return the answer's body (see :meth:`stream`)."""
        async with self.stream(method, route, body, params=params, headers=headers) as answer:
            return await answer.aread()

    async def json(
        self,
        method: str,
        route: str,
        body: Body = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send a request and return its JSON answer (None for an empty body)."""
        data = await self.request(method, route, body, params=params)
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise ClientError("Problem parsing pit response.") from None
