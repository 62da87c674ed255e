"""One conversation with the service over HTTP/1.1: requests, error mapping, re-login on 401.

:class:`Session` keeps one keep-alive connection (``http.client``: it starts in a few
milliseconds and streams at the speed of the socket, which matters for a command line that runs
once per command and moves large files). Every answer above 299 becomes a :class:`ClientError`
with the service's ``message``; every transport failure ``Unable to reach pit: ...``. On a 401
answer a session given a ``relogin`` callback calls it once for a new token and sends the request
again: the service's tokens expire and it has no refresh route.

Blocking by design: the ``pit`` command line is one sequential program. Async code (``fs``,
the WebSocket channels) uses :meth:`Connection.http_client` instead.
"""

import contextlib
import http.client
import json
import socket
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from snakepit.client.connection import Connection
from snakepit.client.errors import ClientError

#: Called on a 401 answer; returns a fresh token (it may prompt the user for a password).
Relogin = Callable[[], str]

#: Seconds allowed for opening a connection; answers may take as long as they need (a log).
CONNECT_TIMEOUT_S = 15.0
#: Bytes per socket write of a streamed request body.
BLOCK_SIZE = 1024 * 1024


def describe_transport_error(error: BaseException) -> str:
    """The error's text, with its causes (TLS errors name their reason only there)."""
    texts = []
    current: BaseException | None = error
    while current is not None:
        text = str(current) or type(current).__name__
        if text not in texts:
            texts.append(text)
        current = current.__cause__ or current.__context__
    return ": ".join(texts)


def error_from_response(response: http.client.HTTPResponse) -> ClientError:
    """A :class:`ClientError` for an answer above 299, with its ``message`` when it has one."""
    body = response.read()
    message = None
    if (response.getheader("Content-Type") or "").startswith("application/json"):
        with contextlib.suppress(ValueError):
            parsed = json.loads(body)
            if isinstance(parsed, dict) and isinstance(parsed.get("message"), str):
                message = parsed["message"]
    return ClientError.from_status(response.status, message)


class Session:
    """Requests to one service with one token (see the module docstring).

    Args:
        connection: Service URL, certificate and token.
        relogin: Called once on a 401 answer for a new token; None gives up on 401.
        debug: Print each request and answer status to stderr (``pit -d``).
    """

    def __init__(
        self, connection: Connection, relogin: Relogin | None = None, *, debug: bool = False
    ) -> None:
        self.connection = connection
        self.relogin = relogin
        self.debug = debug
        parts = urlsplit(connection.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(f"Not an http(s) URL: {connection.url}")
        self._https = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self._http: http.client.HTTPConnection | None = None

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def set_token(self, token: str | None) -> None:
        self.connection = self.connection.with_token(token)

    def _open(self) -> http.client.HTTPConnection:
        if self._https:
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                self._host,
                self._port,
                timeout=CONNECT_TIMEOUT_S,
                context=self.connection.ssl_context(),
                blocksize=BLOCK_SIZE,
            )
        else:
            connection = http.client.HTTPConnection(
                self._host, self._port, timeout=CONNECT_TIMEOUT_S, blocksize=BLOCK_SIZE
            )
        connection.connect()
        assert connection.sock is not None
        connection.sock.settimeout(None)
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def _send(
        self, method: str, target: str, body: Any, headers: dict[str, str]
    ) -> http.client.HTTPResponse:
        """One request on the kept connection, or on a new one when the kept one was closed."""
        for attempt in (1, 2):
            reused = self._http is not None
            try:
                if self._http is None:
                    self._http = self._open()
                self._http.request(method, target, body=body, headers=headers)
                return self._http.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                self.close()
                replayable = body is None or isinstance(body, bytes)
                if attempt == 2 or not reused or not replayable:
                    raise ClientError(
                        "Unable to reach pit: " + describe_transport_error(error)
                    ) from None
            except (OSError, http.client.HTTPException) as error:
                self.close()
                raise ClientError(
                    "Unable to reach pit: " + describe_transport_error(error)
                ) from None
        raise AssertionError("unreachable")

    @contextlib.contextmanager
    def stream(
        self,
        method: str,
        route: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        length: int | None = None,
    ) -> Iterator[http.client.HTTPResponse]:
        """Send a request and yield its answer (status below 300) with the body unread.

        Args:
            body: A JSON-able value (sent as JSON), bytes, or a binary file object to stream
                (``length`` bytes of it, or chunked when ``length`` is None).

        Raises:
            ClientError: an answer above 299, or the service cannot be reached.
        """
        all_headers = dict(headers or {})
        data: Any = None
        if isinstance(body, bytes | bytearray):
            data = bytes(body)
            all_headers.setdefault("Content-Type", "application/octet-stream")
        elif hasattr(body, "read"):
            data = body
            all_headers.setdefault("Content-Type", "application/octet-stream")
            if length is not None:
                all_headers["Content-Length"] = str(length)
        elif body is not None:
            # ensure_ascii keeps undecodable diff bytes (surrogate escapes) intact on the wire.
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        target = f"{self._base}/{route}"
        if params:
            target += "?" + urlencode(params)
        for attempt in (1, 2):
            sent_headers = dict(all_headers)
            if self.connection.token:
                sent_headers["X-Auth-Token"] = self.connection.token
            if self.debug:
                print(f"SENDING {method} {self.connection.url}/{route}", file=sys.stderr)
            response = self._send(method, target, data, sent_headers)
            if self.debug:
                print(f"RECEIVING CODE {response.status}", file=sys.stderr)
            retry = attempt == 1 and self.relogin is not None and not hasattr(data, "read")
            if response.status == 401 and retry:
                response.read()
                assert self.relogin is not None
                self.set_token(self.relogin())
                continue
            if response.status > 299:
                raise error_from_response(response)
            try:
                yield response
                response.read()  # the rest, so that the connection can be used again
            except BaseException:
                self.close()
                raise
            if response.will_close:
                self.close()
            return

    def request(
        self,
        method: str,
        route: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        length: int | None = None,
    ) -> bytes:
        """Send a request and return the answer's body (see :meth:`stream`)."""
        with self.stream(
            method, route, body, params=params, headers=headers, length=length
        ) as answer:
            return answer.read()

    def json(
        self,
        method: str,
        route: str,
        body: Any = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> Any:
        """Send a request and return its JSON answer (None for an empty body)."""
        data = self.request(method, route, body, params=params)
        if not data.strip():
            return None
        try:
            return json.loads(data)
        except ValueError:
            raise ClientError("Problem parsing pit response.") from None


def read_into(response: http.client.HTTPResponse, buffer: bytearray) -> int:
    """Fill ``buffer`` from ``response`` as far as one read goes; 0 at the end.

    Raises:
        ClientError: the connection broke.
    """
    try:
        return response.readinto(buffer)
    except (OSError, http.client.HTTPException) as error:
        raise ClientError("Unable to reach pit: " + describe_transport_error(error)) from None
