"""A minimal websocket client for trio, on wsproto: what LXD's exec and console channels need.

LXD hands out websocket URLs (``/1.0/operations/<uuid>/websocket?secret=<s>``) to be opened over
HTTPS with a client certificate, or over its unix socket in plain HTTP. ``open_websocket_tls`` and
``open_websocket_unix`` make that stream and hand it to ``open_websocket``, which performs the
upgrade and yields a :class:`WebSocket`; leaving the block closes it (closing handshake, then the
stream). Deadlines belong to the caller (``with trio.fail_after(...)``); nothing here takes a
timeout except the closing handshake, which is bounded by ``CLOSE_WAIT_S`` and shielded.

One task may send while another receives (sends are serialised by a lock), but only one task may
receive at a time. Pings are answered by the receiving task or, while a send is in progress, by
that sender right after its message: a receiver never waits behind a sender stuck on a full socket.
Received data is read in chunks of ``RECEIVE_CHUNK`` bytes and reassembled into messages of at most
``max_message_size``.

Exceptions::

    WebSocketError
    ├── HandshakeError     the server refused the upgrade (status code and body of its answer)
    └── ConnectionClosed   the connection is closed: by the peer (its code and reason), by us
                           (our code), or lost (1006: EOF, reset, TLS failure, cancelled send)

Opening a connection may also raise ``OSError`` (nothing listens at the address).
"""

import ssl
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from typing import Self

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)
from wsproto.utilities import RemoteProtocolError

__all__ = [
    "CLOSE_WAIT_S",
    "MAX_MESSAGE_SIZE",
    "MAX_REJECT_BODY",
    "NORMAL_CLOSE_CODES",
    "RECEIVE_CHUNK",
    "ConnectionClosed",
    "HandshakeError",
    "WebSocket",
    "WebSocketError",
    "open_websocket",
    "open_websocket_tls",
    "open_websocket_unix",
]

#: Bytes asked of the stream per read; wsproto gets them as they come.
RECEIVE_CHUNK = 64 * 1024
#: Default largest message accepted (bytes, or characters for text); larger ones close with 1009.
MAX_MESSAGE_SIZE = 16 * 1024 * 1024
#: How long ``close`` waits for the peer to answer our close frame.
CLOSE_WAIT_S = 2.0
#: Most of a refused handshake's body kept in ``HandshakeError.body``.
MAX_REJECT_BODY = 64 * 1024
#: Close codes that end ``async for`` quietly: normal closure, and no status code given.
NORMAL_CLOSE_CODES = frozenset({1000, 1005})

_ABNORMAL = 1006
_STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError)


class WebSocketError(Exception):
    """Base class of this module's errors."""


class HandshakeError(WebSocketError):
    """The server did not upgrade the connection.

    Attributes:
        status_code: the HTTP status of its answer, or None when the answer was not valid HTTP or
            not a valid websocket upgrade (``detail`` says why).
        body: the start of the answer's body (at most ``MAX_REJECT_BODY`` bytes).
        detail: what was wrong with an invalid answer; empty for a plain refusal.
    """

    def __init__(self, status_code: int | None, body: bytes = b"", detail: str = "") -> None:
        self.status_code = status_code
        self.body = body
        self.detail = detail
        if status_code is None:
            message = f"invalid websocket handshake answer: {detail}"
        else:
            message = f"websocket handshake refused with HTTP {status_code}"
        super().__init__(message)


class ConnectionClosed(WebSocketError):
    """The connection is closed; ``code`` and ``reason`` say how.

    Attributes:
        code: the close code: the peer's when it closed first, ours when we did, 1006 when the
            connection was lost without a closing handshake, 1009 for a message too big, 1002 or
            1007 for a protocol violation by the peer.
        reason: the close reason, or a description of what broke the connection.
    """

    def __init__(self, code: int, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"websocket closed with code {code}" + (f": {reason}" if reason else ""))


@dataclass
class _Answer:
    """What the server said so far to the upgrade request."""

    accepted: bool = False
    status_code: int | None = None
    body: bytearray = field(default_factory=bytearray)
    body_done: bool = False


class WebSocket:
    """An open websocket connection; made by ``open_websocket`` and its helpers.

    ``async for message in ws`` yields each message (``bytes`` or ``str``) until the peer closes
    normally (codes in ``NORMAL_CLOSE_CODES``); other closes raise ``ConnectionClosed``.
    """

    def __init__(self, stream: trio.abc.Stream, max_message_size: int) -> None:
        self._stream = stream
        self._ws = WSConnection(ConnectionType.CLIENT)
        self._max_message_size = max_message_size
        self._send_lock = trio.Lock()
        self._reader_lock = trio.Lock()
        self._replies: deque[Event] = deque()  # pongs and close frames owed to the peer
        self._messages: deque[bytes | str] = deque()
        self._byte_parts: list[bytes | bytearray] = []  # the message being reassembled
        self._text_parts: list[str] = []
        self._parts_size = 0
        self._close: tuple[int, str] | None = None  # (code, reason) of the first close
        self._closed_locally = False
        self._finished = False  # nothing more will be read from the stream

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message.

        Args:
            data: the message.

        Raises:
            ConnectionClosed: the connection is closed or closing, or broke while sending. If the
                send is cancelled, part of a frame may have gone out: the connection then counts
                as lost (1006).
        """
        await self._send(BytesMessage(data=data))

    async def send_text(self, text: str) -> None:
        """Send a text message.

        Args:
            text: the message.

        Raises:
            ConnectionClosed: as for ``send_bytes``.
        """
        await self._send(TextMessage(data=text))

    async def receive(self) -> bytes | str:
        """Wait for the next complete message.

        Cancelling a receive loses nothing: the next one carries on.

        Returns:
            The message: ``bytes`` for a binary message, ``str`` for a text one.

        Raises:
            ConnectionClosed: the connection is closed (messages that arrived before the peer's
                close frame are still delivered first), or ``close`` was called.
            RuntimeError: another task is already receiving on this websocket.
        """
        await trio.lowlevel.checkpoint()
        if self._closed_locally:
            raise self._closed_error()
        try:
            self._reader_lock.acquire_nowait()
        except trio.WouldBlock:
            raise RuntimeError("another task is already receiving on this websocket") from None
        try:
            while not self._messages:
                if self._finished:
                    raise self._closed_error()
                await self._read_more()
            return self._messages.popleft()
        finally:
            self._reader_lock.release()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Perform the closing handshake (bounded by ``CLOSE_WAIT_S``, shielded); close the stream.

        Safe to call more than once and after the connection is lost. A task blocked in
        ``receive`` gets ``ConnectionClosed`` with this code.

        Args:
            code: the close code sent to the peer.
            reason: the close reason sent to the peer.
        """
        try:
            with trio.move_on_after(CLOSE_WAIT_S, shield=True):
                await self._closing_handshake(code, reason)
        finally:
            self._finished = True
            await trio.aclose_forcefully(self._stream)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes | str:
        try:
            return await self.receive()
        except ConnectionClosed as closed:
            if closed.code in NORMAL_CLOSE_CODES:
                raise StopAsyncIteration from None
            raise

    # Opening handshake

    async def _handshake(self, host: str, target: str, headers: Iterable[tuple[str, str]]) -> None:
        """Send the upgrade request and read the answer; see ``open_websocket``."""
        extra = [(name.encode("ascii"), value.encode("ascii")) for name, value in headers]
        answer = _Answer()
        with _stream_errors_as_closed():
            await self._stream.send_all(self._ws.send(Request(host, target, extra_headers=extra)))
            while not answer.accepted:
                data = await self._stream.receive_some(RECEIVE_CHUNK)
                self._read_answer(data, answer)
        await self._flush_replies_if_idle()

    def _read_answer(self, data: bytes | bytearray, answer: _Answer) -> None:
        """Feed part of the server's answer; raise if it refuses, fails or hangs up."""
        if not data and answer.status_code is None:
            raise ConnectionClosed(_ABNORMAL, "the server hung up during the handshake")
        try:
            self._ws.receive_data(bytes(data) or None)
        except RemoteProtocolError as error:
            status, body = answer.status_code, bytes(answer.body)
            raise HandshakeError(status, body, detail=str(error)) from error
        for event in self._ws.events():
            if answer.accepted:  # frames that came right behind the 101 response
                self._on_event(event)
            elif isinstance(event, AcceptConnection):
                answer.accepted = True
            elif isinstance(event, RejectConnection):
                answer.status_code = event.status_code
                answer.body_done = not event.has_body
            elif isinstance(event, RejectData):
                answer.body += event.data[: MAX_REJECT_BODY - len(answer.body)]
                answer.body_done = event.body_finished
        if answer.status_code is not None and (answer.body_done or not data):
            raise HandshakeError(answer.status_code, bytes(answer.body))

    # Sending

    async def _send(self, message: BytesMessage | TextMessage) -> None:
        async with self._send_lock:
            await self._flush_replies()
            if self._close is not None:
                raise self._closed_error()
            await self._write(message)
            await self._flush_replies()

    async def _write(self, event: Event) -> None:
        """Send one event; the caller holds the send lock."""
        data = self._ws.send(event)
        try:
            await self._stream.send_all(data)
        except _STREAM_ERRORS as error:
            self._lose(_describe(error))
            raise self._closed_error() from error
        except trio.Cancelled:
            self._lose("a send was cancelled part way")
            raise

    async def _flush_replies(self) -> None:
        """Send the pongs and close frames owed to the peer; the caller holds the send lock."""
        while self._replies:
            event = self._replies.popleft()
            if self._can_send(event):
                await self._write(event)

    async def _flush_replies_if_idle(self) -> None:
        """Send what is owed unless a sender holds the lock (it flushes before letting go)."""
        if self._replies and not self._send_lock.locked():
            async with self._send_lock:
                await self._flush_replies()

    def _can_send(self, event: Event) -> bool:
        state = self._ws.state
        if isinstance(event, CloseConnection):
            return state in (ConnectionState.OPEN, ConnectionState.REMOTE_CLOSING)
        return state is ConnectionState.OPEN

    # Receiving

    async def _read_more(self) -> None:
        """Read one chunk, turn it into messages, and answer what it asks for."""
        try:
            data = await self._stream.receive_some(RECEIVE_CHUNK)
        except _STREAM_ERRORS as error:
            self._lose(_describe(error))
            return
        self._ws.receive_data(bytes(data) or None)
        for event in self._ws.events():
            self._on_event(event)
        await self._flush_replies_if_idle()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, BytesMessage | TextMessage):
            self._on_data(event)
        elif isinstance(event, Ping):
            self._replies.append(event.response())
        elif isinstance(event, CloseConnection):
            self._on_close(event)

    def _on_data(self, event: BytesMessage | TextMessage) -> None:
        if self._finished or self._closed_locally:
            return  # closing: later messages are dropped
        if isinstance(event, TextMessage):
            self._text_parts.append(event.data)
        else:
            self._byte_parts.append(event.data)
        self._parts_size += len(event.data)
        if self._parts_size > self._max_message_size:
            self._fail(1009, f"message larger than {self._max_message_size}")
        elif event.message_finished:
            if isinstance(event, TextMessage):
                self._messages.append("".join(self._text_parts))
            else:
                self._messages.append(b"".join(self._byte_parts))
            self._forget_parts()

    def _on_close(self, event: CloseConnection) -> None:
        reason = event.reason or ""
        state = self._ws.state
        if state is ConnectionState.REMOTE_CLOSING:  # the peer closes first: answer it
            self._record_close(event.code, reason)
            self._replies.append(event.response())
        elif state is ConnectionState.OPEN:  # wsproto found a protocol violation
            self._fail(event.code, reason)
        elif event.code == _ABNORMAL:  # end of stream without a close frame
            self._record_close(_ABNORMAL, "the peer hung up without closing the websocket")
        else:  # the peer answered our close frame
            self._record_close(event.code, reason)
        self._finished = True

    # Closing

    async def _closing_handshake(self, code: int, reason: str) -> None:
        if self._close is None:
            self._record_close(code, reason)
            self._closed_locally = True
            self._replies.append(CloseConnection(code, reason))
        self._messages.clear()
        try:
            async with self._send_lock:
                await self._flush_replies()
            async with self._reader_lock:  # a task blocked in receive reads the answer for us
                while not self._finished:
                    await self._read_more()
        except ConnectionClosed:
            pass  # lost while closing: nothing left to wait for

    def _record_close(self, code: int, reason: str) -> None:
        if self._close is None:
            self._close = (int(code), reason)

    def _fail(self, code: int, reason: str) -> None:
        """Give up on a connection the peer broke the rules of; tell it why."""
        self._record_close(code, reason)
        self._replies.append(CloseConnection(code, reason))
        self._forget_parts()
        self._finished = True

    def _forget_parts(self) -> None:
        self._byte_parts, self._text_parts, self._parts_size = [], [], 0

    def _lose(self, why: str) -> None:
        self._record_close(_ABNORMAL, why)
        self._replies.clear()
        self._finished = True

    def _closed_error(self) -> ConnectionClosed:
        code, reason = self._close or (_ABNORMAL, "")
        return ConnectionClosed(code, reason)


@asynccontextmanager
async def open_websocket(
    stream: trio.abc.Stream,
    *,
    host: str,
    target: str,
    extra_headers: Iterable[tuple[str, str]] = (),
    max_message_size: int = MAX_MESSAGE_SIZE,
) -> AsyncIterator[WebSocket]:
    """Upgrade ``stream`` to a websocket; closing the block closes both.

    The websocket owns ``stream`` from this call on: it is closed when the block exits (with code
    1000, or 1001 when the block raises) and when the handshake fails.

    Args:
        stream: a connected byte stream to the server (TLS already set up, if any).
        host: the ``Host`` header (``name`` or ``name:port``).
        target: the request target, path and query (``/1.0/operations/ID/websocket?secret=S``).
        extra_headers: more request headers, as ASCII ``(name, value)`` pairs.
        max_message_size: the largest message accepted; a larger one closes with 1009.

    Returns:
        An async context manager yielding the open ``WebSocket``.

    Raises:
        HandshakeError: the server refused the upgrade, or answered with something invalid.
        ConnectionClosed: the stream broke or the server hung up during the handshake (1006).
    """
    ws = WebSocket(stream, max_message_size)
    try:
        await ws._handshake(host, target, extra_headers)
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    try:
        yield ws
    except BaseException:
        await ws.close(1001)
        raise
    await ws.close()


@asynccontextmanager
async def open_websocket_tls(
    host: str,
    port: int,
    target: str,
    ssl_context: ssl.SSLContext,
    server_hostname: str | None = None,
    *,
    extra_headers: Iterable[tuple[str, str]] = (),
    max_message_size: int = MAX_MESSAGE_SIZE,
) -> AsyncIterator[WebSocket]:
    """Open a websocket over TLS (``wss://``), as LXD's HTTPS API wants.

    Args:
        host: the address to connect to.
        port: the TCP port.
        target: the request target, path and query.
        ssl_context: the client context: client certificate loaded, server certificate pinned,
            hostname checks on.
        server_hostname: the name the server's certificate must carry (default: ``host``).
        extra_headers: more request headers, as ASCII ``(name, value)`` pairs.
        max_message_size: the largest message accepted.

    Returns:
        An async context manager yielding the open ``WebSocket``.

    Raises:
        OSError: nothing accepts connections at ``host:port``.
        ConnectionClosed: the TLS handshake failed (a certificate not trusted, ours refused), the
            cause chain being in the reason (1006).
        HandshakeError: as for ``open_websocket``.
    """
    name = server_hostname or host
    tcp = await trio.open_tcp_stream(host, port)
    stream = trio.SSLStream(tcp, ssl_context, server_hostname=name, https_compatible=True)
    try:
        with _stream_errors_as_closed("TLS handshake failed: "):
            await stream.do_handshake()
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    authority = _authority(name, port, default_port=443)
    async with open_websocket(
        stream,
        host=authority,
        target=target,
        extra_headers=extra_headers,
        max_message_size=max_message_size,
    ) as ws:
        yield ws


@asynccontextmanager
async def open_websocket_unix(
    socket_path: str,
    target: str,
    *,
    extra_headers: Iterable[tuple[str, str]] = (),
    max_message_size: int = MAX_MESSAGE_SIZE,
) -> AsyncIterator[WebSocket]:
    """Open a websocket over a unix socket in plain HTTP, as LXD's local socket wants.

    Args:
        socket_path: the socket (``/var/lib/lxd/unix.socket``).
        target: the request target, path and query.
        extra_headers: more request headers, as ASCII ``(name, value)`` pairs.
        max_message_size: the largest message accepted.

    Returns:
        An async context manager yielding the open ``WebSocket``.

    Raises:
        OSError: nothing listens on ``socket_path``.
        HandshakeError: as for ``open_websocket``.
        ConnectionClosed: as for ``open_websocket``.
    """
    stream = await trio.open_unix_socket(socket_path)
    async with open_websocket(
        stream,
        host="localhost",
        target=target,
        extra_headers=extra_headers,
        max_message_size=max_message_size,
    ) as ws:
        yield ws


@contextmanager
def _stream_errors_as_closed(prefix: str = "") -> Iterator[None]:
    try:
        yield
    except _STREAM_ERRORS as error:
        raise ConnectionClosed(_ABNORMAL, prefix + _describe(error)) from error


def _describe(error: BaseException) -> str:
    """Name an error and its causes: trio's TLS errors carry their message in ``__cause__``."""
    parts: list[str] = []
    current: BaseException | None = error
    while current is not None and len(parts) < 5:
        name = type(current).__name__
        parts.append(f"{name}: {current}" if str(current) else name)
        current = current.__cause__ or current.__context__
    return "; caused by ".join(parts)


def _authority(host: str, port: int, *, default_port: int) -> str:
    bracketed = f"[{host}]" if ":" in host else host
    return bracketed if port == default_port else f"{bracketed}:{port}"
