"""``pit exec`` and ``pit forward``: a command in a running job's worker, and TCP ports of the
worker reached from this machine, each over one websocket to the service.

Exec framing (binary messages, first byte a channel; see ``snakepit.api.instances``): we send
``0x01`` + stdin bytes, ``0x01`` alone for the end of stdin, and ``0x00`` + a window-resize
control message; the service sends ``0x01`` stdout, ``0x02`` stderr, and ``0x00`` +
``{"command": "exit", "return": N}`` once the command has ended. The published service sends no
exit message (its client always exits 0): a websocket closed without one is a
:class:`ClientError`.

Forward speaks npm ``multiplex`` v6 over the websocket (frames ``varint(channel << 3 | type)
varint(length) payload``), as the initiator: one stream per accepted local TCP connection, named
``<counter>-<remotePort>``, on the lowest free channel number.
"""

import contextlib
import json
import os
import signal
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from urllib.parse import quote

import trio

from snakepit.client.connection import Connection
from snakepit.client.errors import ClientError
from snakepit.client.websocket import ConnectionClosed, WebSocket, open_service_websocket

__all__ = ["exec_command", "forward_ports"]

#: Bytes read at once from stdin and from forwarded connections.
CHUNK = 64 * 1024
#: Multiplex frame types: open, data, end, destroy (odd: from the receiver, even: from us).
OPEN, DATA_RECEIVER, DATA_INITIATOR, END_RECEIVER, END_INITIATOR = 0, 1, 2, 3, 4
DESTROY_RECEIVER, DESTROY_INITIATOR = 5, 6
#: Data frames buffered per forwarded connection before the websocket reader waits.
STREAM_BUFFER = 64


def _route(job: int, instance: int, what: str) -> str:
    return f"jobs/{int(job)}/instances/{int(instance)}/{what}"


# Exec


async def exec_command(
    connection: Connection,
    job: int,
    instance: int,
    argv: list[str],
    *,
    interactive: bool,
    stdin: trio.abc.ReceiveStream | None = None,
    stdout: trio.abc.SendStream | None = None,
    stderr: trio.abc.SendStream | None = None,
) -> int:
    """Run ``argv`` in worker ``instance`` of ``job`` and return its exit code.

    Interactive: the command gets a terminal of our terminal's size (resized along with it), and
    our terminal is in raw mode meanwhile, so Ctrl-C and the like reach the remote side as bytes.
    Otherwise our stdin is piped to it (its end too) and its stdout and stderr go to ours.

    Args:
        stdin, stdout, stderr: streams to use instead of this process's own (for tests and
            embedding); the terminal is only touched when ``stdin`` is None.

    Raises:
        ClientError: the service is unreachable or refused (401, 403, 404 ``Worker not
            active``, 400 for a bad command), or the connection ended before the command did.
    """
    width, height = _terminal_size()
    context = {
        "command": list(argv),
        "environment": {"TERM": os.environ.get("TERM", "xterm")},
        "interactive": interactive,
        "width": width,
        "height": height,
    }
    route = _route(job, instance, "exec") + "?context=" + quote(json.dumps(context), safe="")
    raw = interactive and stdin is None and os.isatty(0)
    async with contextlib.AsyncExitStack() as stack:
        if stdin is None:
            stdin = await stack.enter_async_context(trio.lowlevel.FdStream(os.dup(0)))
        if stdout is None:
            stdout = await stack.enter_async_context(trio.lowlevel.FdStream(os.dup(1)))
        if stderr is None:
            stderr = await stack.enter_async_context(trio.lowlevel.FdStream(os.dup(2)))
        socket = await stack.enter_async_context(open_service_websocket(connection, route))
        if raw:
            stack.enter_context(_raw_terminal(0))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_send_stdin, socket, stdin, not interactive)
            if raw:
                nursery.start_soon(_send_resizes, socket)
            code, lost = await _receive_output(socket, stdout, stderr)
            nursery.cancel_scope.cancel()
    if code is None:
        raise ClientError(f"The connection to the worker ended before the command did{lost}")
    return code


async def _receive_output(
    socket: WebSocket, stdout: trio.abc.SendStream, stderr: trio.abc.SendStream
) -> tuple[int | None, str]:
    """Write what the service sends until it closes: the exit code if it sent one, and how the
    connection was lost if it was."""
    code = None
    try:
        async for message in socket:
            data = message.encode() if isinstance(message, str) else message
            if not data:
                continue
            if data[0] == 1:
                await stdout.send_all(data[1:])
            elif data[0] == 2:
                await stderr.send_all(data[1:])
            elif data[0] == 0:
                code = _exit_code(data[1:]) if code is None else code
    except ConnectionClosed as closed:
        return code, f": {closed.reason or closed.code}"
    except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as error:
        return code, f": writing its output failed ({error or type(error).__name__})"
    return code, ""


def _exit_code(raw: bytes) -> int | None:
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(raw)
        if message.get("command") == "exit" and isinstance(message.get("return"), int):
            return int(message["return"])
    return None


async def _send_stdin(socket: WebSocket, stdin: trio.abc.ReceiveStream, send_end: bool) -> None:
    """Our input to the command; a failing input ends it as an end of input would."""
    with contextlib.suppress(ConnectionClosed):
        with contextlib.suppress(trio.BrokenResourceError, OSError):
            while data := await stdin.receive_some(CHUNK):
                await socket.send_bytes(b"\x01" + data)
        if send_end:
            await socket.send_bytes(b"\x01")


async def _send_resizes(socket: WebSocket) -> None:
    with contextlib.suppress(ConnectionClosed), trio.open_signal_receiver(signal.SIGWINCH) as sig:
        async for _ in sig:
            width, height = _terminal_size()
            size = {"width": str(width), "height": str(height)}
            message = {"command": "window-resize", "args": size}
            await socket.send_bytes(b"\x00" + json.dumps(message).encode())


def _terminal_size() -> tuple[int, int]:
    try:
        size = os.get_terminal_size(sys.__stdout__.fileno() if sys.__stdout__ else 1)
    except (OSError, ValueError):
        return 80, 24
    return size.columns or 80, size.lines or 24


@contextlib.contextmanager
def _raw_terminal(fd: int) -> Iterator[None]:
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


# Forward


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | 0x80 if number else byte)
        if not number:
            return bytes(out)


def frame(channel: int, kind: int, payload: bytes = b"") -> bytes:
    """One multiplex frame."""
    return _varint(channel << 3 | kind) + _varint(len(payload)) + payload


class FrameReader:
    """Cuts a byte stream into multiplex frames ``(channel, type, payload)``."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        self._buffer += data
        frames, offset = [], 0
        while True:
            header = _read_varint(self._buffer, offset)
            length = header and _read_varint(self._buffer, header[1])
            if not header or not length or length[1] + length[0] > len(self._buffer):
                break
            end = length[1] + length[0]
            frames.append((header[0] >> 3, header[0] & 7, bytes(self._buffer[length[1] : end])))
            offset = end
        del self._buffer[:offset]
        return frames


def _read_varint(buffer: bytearray, offset: int) -> tuple[int, int] | None:
    value = shift = 0
    while offset < len(buffer) and shift < 64:
        byte = buffer[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, offset
        shift += 7
    if shift >= 64:
        raise ClientError("Problem with remote end - Closing")
    return None


class _Stream:
    def __init__(self) -> None:
        self.send, self.receive = trio.open_memory_channel[bytes | None](STREAM_BUFFER)
        self.sent_end = self.got_end = False


async def forward_ports(
    connection: Connection,
    job: int,
    instance: int,
    mappings: list[tuple[int, int]],
    *,
    report: Callable[[str], None] | None = None,
) -> None:
    """Forward ``127.0.0.1:<local>`` to ``localhost:<remote>`` in the worker, for each
    ``(local, remote)`` pair, until cancelled.

    Args:
        report: called with ``Remote <message>`` when the worker refuses or breaks a forwarded
            connection (default: printed to stderr).

    Raises:
        ClientError: the service is unreachable or refused, a local port cannot be listened
            on, or the connection to the worker ends (``Problem with remote end - Closing``).
    """
    plex = _Multiplexer(report or _print_error)
    async with contextlib.AsyncExitStack() as stack:
        listeners = []
        for local, remote in mappings:
            try:
                group = await trio.open_tcp_listeners(local, host="127.0.0.1")
            except OSError as error:
                raise ClientError(f"Cannot listen on port {local}: {error.strerror}") from None
            for listener in group:
                stack.push_async_callback(listener.aclose)
                listeners.append((listener, remote))
        route = _route(job, instance, "forward")
        plex.socket = await stack.enter_async_context(open_service_websocket(connection, route))
        async with trio.open_nursery() as nursery:
            for listener, remote in listeners:
                nursery.start_soon(plex.serve, listener, remote)
            await plex.receive()
            nursery.cancel_scope.cancel()
    raise ClientError("Problem with remote end - Closing")


def _print_error(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Multiplexer:
    """The initiator's side: channel numbers, the frames for each local connection."""

    def __init__(self, report: Callable[[str], None]) -> None:
        self.socket: WebSocket | None = None
        self._report = report
        self._streams: dict[int, _Stream] = {}
        self._counter = 0

    async def _send(self, channel: int, kind: int, payload: bytes = b"") -> None:
        assert self.socket is not None
        await self.socket.send_bytes(frame(channel, kind, payload))

    async def receive(self) -> None:
        """Dispatch the worker's frames until the websocket closes."""
        assert self.socket is not None
        reader = FrameReader()
        with contextlib.suppress(ConnectionClosed):
            async for message in self.socket:
                data = message.encode() if isinstance(message, str) else message
                for channel, kind, payload in reader.feed(data):
                    await self._dispatch(channel, kind, payload)

    async def _dispatch(self, channel: int, kind: int, payload: bytes) -> None:
        stream = self._streams.get(channel)
        if stream is None:
            return
        if kind == DATA_RECEIVER:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send.send(payload)
        elif kind == END_RECEIVER:
            stream.got_end = True
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await stream.send.send(None)
            self._forget_if_done(channel, stream)
        elif kind == DESTROY_RECEIVER:
            self._report(f"Remote {payload.decode(errors='replace') or 'Channel destroyed'}")
            del self._streams[channel]
            stream.send.close()

    def _forget_if_done(self, channel: int, stream: _Stream) -> None:
        if stream.sent_end and stream.got_end and self._streams.get(channel) is stream:
            del self._streams[channel]

    async def serve(self, listener: trio.SocketListener, remote: int) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                connection = await listener.accept()
                nursery.start_soon(self._forward, connection, remote)

    async def _forward(self, connection: trio.SocketStream, remote: int) -> None:
        channel = next(
            number for number in range(len(self._streams) + 1) if number not in self._streams
        )
        stream = self._streams[channel] = _Stream()
        name = f"{self._counter}-{remote}"
        self._counter += 1
        async with connection:
            try:
                await self._send(channel, OPEN, name.encode())
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._to_worker, connection, channel, stream)
                    await self._from_worker(connection, stream)
            except* (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionClosed) as group:
                if self._streams.get(channel) is stream:
                    del self._streams[channel]
                    with contextlib.suppress(ConnectionClosed):
                        message = str(group.exceptions[0]) or "local connection failed"
                        await self._send(channel, DESTROY_INITIATOR, message.encode())

    async def _to_worker(
        self, connection: trio.SocketStream, channel: int, stream: _Stream
    ) -> None:
        while data := await connection.receive_some(CHUNK):
            if self._streams.get(channel) is not stream:
                return
            await self._send(channel, DATA_INITIATOR, data)
        if self._streams.get(channel) is stream:
            stream.sent_end = True
            await self._send(channel, END_INITIATOR)
            self._forget_if_done(channel, stream)

    async def _from_worker(self, connection: trio.SocketStream, stream: _Stream) -> None:
        async for data in stream.receive:
            if data is None:
                await connection.send_eof()
                # Wait for our side's end too; the nursery ends when it comes.
                return
            await connection.send_all(data)
        # Destroyed by the worker: drop the local connection.
        raise trio.ClosedResourceError("destroyed by the worker")
