"""The websocket client against a real hypercorn + Quart-Trio server, and scripted wsproto peers.

The hypercorn server listens on a loopback port and a unix socket (and, for the TLS tests, on a
second port with a self-signed certificate that demands a client certificate, as LXD does).
Behaviour a Quart app cannot produce (pings, fragments, hang-ups, bad answers, a silent peer) comes
from a small wsproto server peer, over TCP or over trio's in-memory streams.
"""

import dataclasses
import hashlib
import logging
import random
import shutil
import socket
import ssl
import struct
import subprocess
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import hypercorn.config
import hypercorn.trio
import pytest
import trio
import trio.testing
from quart import abort, websocket
from quart_trio import QuartTrio
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Event,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from lxd.websocket import (
    CLOSE_WAIT_S,
    MAX_MESSAGE_SIZE,
    ConnectionClosed,
    HandshakeError,
    WebSocket,
    open_websocket,
    open_websocket_tls,
    open_websocket_unix,
)

MIB = 1024 * 1024
#: Every test finishes well within this.
DEADLINE_S = 10


# A real server: Quart-Trio on hypercorn


def create_app(big: bytes) -> QuartTrio:
    app = QuartTrio(__name__)

    @app.websocket("/echo")
    async def echo() -> None:
        await websocket.accept()
        while True:
            await websocket.send(await websocket.receive())

    @app.websocket("/request")
    async def request() -> None:
        await websocket.accept()
        await websocket.send(f"{websocket.args['secret']} {websocket.headers['X-Test']}")
        await websocket.close(1000)

    @app.websocket("/big")
    async def big_message() -> None:
        await websocket.accept()
        await websocket.send(big)
        await websocket.receive()

    @app.websocket("/hello")
    async def hello() -> None:
        await websocket.accept()
        await websocket.send("hello")
        await websocket.send(b"world")
        await websocket.close(1000)

    @app.websocket("/close")
    async def close() -> None:
        await websocket.accept()
        await websocket.send("bye")
        await websocket.close(4001, "go away")

    @app.websocket("/reject")
    async def reject() -> None:
        abort(403)

    return app


@dataclasses.dataclass
class Server:
    port: int
    unix_path: str
    big: bytes


@asynccontextmanager
async def serving(config: hypercorn.config.Config, big: bytes) -> AsyncIterator[list[str]]:
    """Run hypercorn with the test app until the block ends; yield the URLs it listens on."""
    config.errorlog = logging.getLogger("hypercorn.error")
    config.graceful_timeout = 2
    shutdown = trio.Event()
    serve = partial(hypercorn.trio.serve, create_app(big), config, shutdown_trigger=shutdown.wait)
    async with trio.open_nursery() as nursery:
        try:
            yield await nursery.start(serve)
        finally:
            shutdown.set()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    big = random.Random(6455).randbytes(10 * MIB)
    unix_path = str(tmp_path / "ws.sock")
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0", f"unix:{unix_path}"]
    async with serving(config, big) as urls:
        yield Server(port_of(urls[0]), unix_path, big)


@asynccontextmanager
async def connect(
    server: Server, target: str, max_message_size: int = MAX_MESSAGE_SIZE
) -> AsyncIterator[WebSocket]:
    stream = await trio.open_tcp_stream("127.0.0.1", server.port)
    host = f"127.0.0.1:{server.port}"
    async with open_websocket(
        stream, host=host, target=target, max_message_size=max_message_size
    ) as ws:
        yield ws


# Certificates for the TLS tests: LXD's are self-signed on both sides


@dataclasses.dataclass
class KeyPair:
    cert: Path
    key: Path


@dataclasses.dataclass
class Certificates:
    server: KeyPair
    other: KeyPair  # valid for 127.0.0.1 too, but not the one the server uses
    client: KeyPair


#: A self-signed certificate valid for 127.0.0.1, like LXD's own.
OPENSSL_REQ = (
    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
    " -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1"
)


def make_key_pair(folder: Path, name: str) -> KeyPair:
    pair = KeyPair(folder / f"{name}.crt", folder / f"{name}.key")
    command = [*OPENSSL_REQ.split(), "-keyout", str(pair.key), "-out", str(pair.cert)]
    subprocess.run(command, check=True, capture_output=True, timeout=60)
    return pair


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make test certificates")
    folder = tmp_path_factory.mktemp("certificates")
    return Certificates(*(make_key_pair(folder, name) for name in ("server", "other", "client")))


@pytest.fixture
async def tls_port(certificates: Certificates) -> AsyncIterator[int]:
    config = hypercorn.config.Config()
    config.bind = ["127.0.0.1:0"]
    config.certfile = str(certificates.server.cert)
    config.keyfile = str(certificates.server.key)
    config.ca_certs = str(certificates.client.cert)
    config.verify_mode = ssl.CERT_REQUIRED
    async with serving(config, b"") as urls:
        yield port_of(urls[0])


def client_context(pinned: Path, client: KeyPair | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pinned))
    if client is not None:
        context.load_cert_chain(client.cert, client.key)
    return context


# A scripted peer: a wsproto server driven step by step


class Peer:
    """The server side of one connection, for behaviour a Quart app cannot produce."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.ws = WSConnection(ConnectionType.SERVER)
        self.events: deque[Event] = deque()
        self.hung_up = False

    async def next_event(self) -> Event:
        while not self.events:
            assert not self.hung_up, "the client hung up"
            data = await self.stream.receive_some(65536)
            self.hung_up = not data
            self.ws.receive_data(bytes(data) or None)
            self.events.extend(self.ws.events())
        return self.events.popleft()

    async def send(self, event: Event) -> None:
        await self.stream.send_all(self.ws.send(event))

    async def accept(self) -> Request:
        request = await self.next_event()
        assert isinstance(request, Request)
        await self.send(AcceptConnection())
        return request

    async def expect_close(self) -> CloseConnection:
        """Skip to the client's close frame and answer it."""
        while not isinstance(event := await self.next_event(), CloseConnection):
            pass
        await self.send(event.response())
        return event


Script = Callable[[Peer], Awaitable[None]]


@asynccontextmanager
async def scripted_server(script: Script) -> AsyncIterator[int]:
    """Serve one TCP connection with ``script``; yield the port."""
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")

    async def serve_once() -> None:
        async with listener:
            stream = await listener.accept()
        async with stream:
            await script(Peer(stream))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_once)
        yield listener.socket.getsockname()[1]


StreamPair = Callable[[], tuple[trio.abc.Stream, trio.abc.Stream]]


@asynccontextmanager
async def scripted_stream(script: Script, pair: StreamPair) -> AsyncIterator[trio.abc.Stream]:
    """One end of an in-memory stream pair, ``script`` playing the server on the other."""
    client, server = pair()

    async def serve() -> None:
        async with server:
            await script(Peer(server))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve)
        yield client


@asynccontextmanager
async def scripted_connection(script: Script, pair: StreamPair) -> AsyncIterator[WebSocket]:
    """A websocket over an in-memory stream pair, ``script`` playing the server."""
    async with (
        scripted_stream(script, pair) as stream,
        open_websocket(stream, host="peer", target="/") as ws,
    ):
        yield ws


async def collect(ws: WebSocket, messages: list[bytes | str]) -> None:
    """Append what ``async for`` yields, so that what came before an exception is kept."""
    async for message in ws:
        messages.append(message)


# Messages


async def test_echo_round_trip_of_binary_and_text(server):
    with trio.fail_after(DEADLINE_S):
        async with connect(server, "/echo") as ws:
            await ws.send_bytes(b"\x00\xffbinary")
            assert await ws.receive() == b"\x00\xffbinary"
            await ws.send_text("texte accentué ✓")
            assert await ws.receive() == "texte accentué ✓"


async def test_target_query_and_extra_headers_reach_the_server(server):
    with trio.fail_after(DEADLINE_S):
        stream = await trio.open_tcp_stream("127.0.0.1", server.port)
        async with open_websocket(
            stream, host="lxd", target="/request?secret=s3cr3t", extra_headers=[("X-Test", "yes")]
        ) as ws:
            assert [message async for message in ws] == ["s3cr3t yes"]


async def test_a_10_mib_message_arrives_intact(server):
    with trio.fail_after(DEADLINE_S):
        async with connect(server, "/big") as ws:
            message = await ws.receive()
    assert isinstance(message, bytes)
    assert len(message) == 10 * MIB
    assert hashlib.sha256(message).hexdigest() == hashlib.sha256(server.big).hexdigest()


async def test_a_message_over_the_limit_closes_with_1009(server):
    with trio.fail_after(DEADLINE_S):
        async with connect(server, "/big", max_message_size=MIB) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
    assert closed.value.code == 1009


async def test_fragmented_messages_are_reassembled():
    async def script(peer: Peer) -> None:
        await peer.accept()
        await peer.send(BytesMessage(b"std", message_finished=False))
        await peer.send(BytesMessage(b"out", message_finished=True))
        await peer.send(TextMessage("accentu", message_finished=False))
        await peer.send(TextMessage("é", message_finished=True))
        await peer.send(CloseConnection(1000))
        await peer.next_event()

    with trio.fail_after(DEADLINE_S):
        async with scripted_server(script) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with open_websocket(stream, host="peer", target="/") as ws:
                assert [message async for message in ws] == [b"stdout", "accentué"]


async def test_empty_binary_messages_go_both_ways():
    # LXD's exec reads an empty binary message on stdin's websocket as end of input.
    async def script(peer: Peer) -> None:
        await peer.accept()
        assert await peer.next_event() == BytesMessage(b"")
        await peer.send(BytesMessage(b""))
        await peer.expect_close()

    with trio.fail_after(DEADLINE_S):
        async with scripted_connection(script, trio.testing.memory_stream_pair) as ws:
            await ws.send_bytes(b"")
            assert await ws.receive() == b""


# Concurrency


async def test_one_task_sends_while_another_receives(server):
    chunks = [bytes([n]) * 64 * 1024 for n in range(200)]
    received = []
    with trio.fail_after(DEADLINE_S):
        async with connect(server, "/echo") as ws:

            async def pump_in() -> None:
                for chunk in chunks:
                    await ws.send_bytes(chunk)

            async def pump_out() -> None:
                while len(received) < len(chunks):
                    received.append(await ws.receive())

            async with trio.open_nursery() as nursery:
                nursery.start_soon(pump_in)
                nursery.start_soon(pump_out)
    assert received == chunks


async def test_a_second_receiver_is_refused_and_a_cancelled_receive_loses_nothing(server):
    with trio.fail_after(DEADLINE_S):
        async with connect(server, "/echo") as ws, trio.open_nursery() as nursery:
            nursery.start_soon(ws.receive)
            await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(RuntimeError, match="already receiving"):
                await ws.receive()
            nursery.cancel_scope.cancel()
        async with connect(server, "/echo") as ws:
            with trio.move_on_after(0):
                await ws.receive()
            await ws.send_text("still there")
            assert await ws.receive() == "still there"


async def test_pings_are_answered_even_while_a_send_is_blocked():
    async def script(peer: Peer) -> None:
        await peer.accept()
        await trio.testing.wait_all_tasks_blocked()  # the client's send waits for us to read
        await peer.send(Ping(b"alive?"))
        await peer.send(TextMessage("after the ping"))  # the receiver is not stuck behind a send
        assert await peer.next_event() == BytesMessage(b"stdin")
        assert await peer.next_event() == Pong(b"alive?")
        await peer.expect_close()

    with trio.fail_after(DEADLINE_S):
        async with (
            scripted_connection(script, trio.testing.lockstep_stream_pair) as ws,
            trio.open_nursery() as nursery,
        ):
            nursery.start_soon(ws.send_bytes, b"stdin")  # blocks until the peer reads
            assert await ws.receive() == "after the ping"


# Closing


async def test_a_normal_close_by_the_server_ends_iteration(server):
    with trio.fail_after(DEADLINE_S):
        async with connect(server, "/hello") as ws:
            assert [message async for message in ws] == ["hello", b"world"]
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
    assert closed.value.code == 1000


async def test_a_close_with_code_4001_surfaces_with_its_reason(server):
    with trio.fail_after(DEADLINE_S):
        async with connect(server, "/close") as ws:
            messages: list[bytes | str] = []
            with pytest.raises(ConnectionClosed) as closed:
                await collect(ws, messages)
            with pytest.raises(ConnectionClosed) as again:
                await ws.send_text("too late")
    assert messages == ["bye"]
    assert (closed.value.code, closed.value.reason) == (4001, "go away")
    assert (again.value.code, again.value.reason) == (4001, "go away")


async def test_closing_ends_a_concurrent_receiver_cleanly(server):
    received: list[bytes | str] = []
    got_one = trio.Event()
    with trio.fail_after(DEADLINE_S):
        async with connect(server, "/echo") as ws:

            async def drain() -> None:
                async for message in ws:
                    received.append(message)
                    got_one.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(drain)
                await ws.send_text("one")
                await got_one.wait()
                await trio.testing.wait_all_tasks_blocked()  # drain is receiving again
                await ws.close()
            with pytest.raises(ConnectionClosed) as closed:
                await ws.send_text("after close")
    assert received == ["one"]
    assert closed.value.code == 1000


async def test_close_gives_up_after_its_grace_when_the_peer_never_answers(autojump_clock):
    seen: list[Event] = []

    async def script(peer: Peer) -> None:
        await peer.accept()
        while CloseConnection(1006) not in seen:  # read on until the client hangs up
            seen.append(await peer.next_event())

    with trio.fail_after(DEADLINE_S):
        async with scripted_connection(script, trio.testing.memory_stream_pair) as ws:
            started = trio.current_time()
            await ws.close(4000, "done")
            assert trio.current_time() - started == pytest.approx(CLOSE_WAIT_S)
    assert seen == [CloseConnection(4000, "done"), CloseConnection(1006)]


async def test_close_runs_its_handshake_even_when_cancelled():
    closes: list[CloseConnection] = []

    async def script(peer: Peer) -> None:
        await peer.accept()
        closes.append(await peer.expect_close())

    with trio.fail_after(DEADLINE_S):
        async with scripted_connection(script, trio.testing.memory_stream_pair) as ws:
            with trio.CancelScope() as scope:
                scope.cancel()
                await ws.close(4000, "cancelled")
    assert closes == [CloseConnection(4000, "cancelled")]


async def test_leaving_the_block_by_an_exception_closes_with_1001():
    closes: list[CloseConnection] = []

    async def script(peer: Peer) -> None:
        await peer.accept()
        closes.append(await peer.expect_close())

    with trio.fail_after(DEADLINE_S):
        async with scripted_stream(script, trio.testing.memory_stream_pair) as stream:
            with pytest.raises(KeyError):
                async with open_websocket(stream, host="peer", target="/"):
                    raise KeyError("boom")
    assert [close.code for close in closes] == [1001]


async def test_a_dead_server_gives_1006_after_what_it_sent():
    async def script(peer: Peer) -> None:
        await peer.accept()
        await peer.send(TextMessage("last words"))  # then hang up without a close frame

    with trio.fail_after(DEADLINE_S):
        async with scripted_server(script) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with open_websocket(stream, host="peer", target="/") as ws:
                messages: list[bytes | str] = []
                with pytest.raises(ConnectionClosed) as closed:
                    await collect(ws, messages)
    assert messages == ["last words"]
    assert closed.value.code == 1006


async def test_a_reset_connection_gives_1006():
    async def script(peer: Peer) -> None:
        await peer.accept()
        assert await peer.next_event() == TextMessage("ready")
        assert isinstance(peer.stream, trio.SocketStream)
        peer.stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with trio.fail_after(DEADLINE_S):
        async with scripted_server(script) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with open_websocket(stream, host="peer", target="/") as ws:
                await ws.send_text("ready")
                with pytest.raises(ConnectionClosed) as closed:
                    await ws.receive()
    assert closed.value.code == 1006
    assert "BrokenResourceError" in closed.value.reason


async def test_a_protocol_violation_closes_with_1002():
    async def script(peer: Peer) -> None:
        await peer.accept()
        await peer.stream.send_all(b"\x81\x80\x00\x00\x00\x00")  # a masked frame from a server
        assert await peer.next_event() == CloseConnection(
            1002, "client received unexpected masked frame"
        )

    with trio.fail_after(DEADLINE_S):
        async with scripted_connection(script, trio.testing.memory_stream_pair) as ws:
            with pytest.raises(ConnectionClosed) as closed:
                await ws.receive()
    assert closed.value.code == 1002


# Handshake


async def test_a_refused_handshake_raises_handshake_error_with_403(server):
    with trio.fail_after(DEADLINE_S), pytest.raises(HandshakeError) as refused:
        async with connect(server, "/reject"):
            pytest.fail("the handshake should fail")
    assert refused.value.status_code == 403


async def test_an_invalid_upgrade_answer_raises_handshake_error():
    async def script(peer: Peer) -> None:
        await peer.next_event()
        await peer.stream.send_all(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: not-the-right-token\r\n\r\n"
        )

    with trio.fail_after(DEADLINE_S):
        async with scripted_server(script) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            with pytest.raises(HandshakeError) as invalid:
                async with open_websocket(stream, host="peer", target="/"):
                    pytest.fail("the handshake should fail")
    assert invalid.value.status_code is None
    assert "accept" in invalid.value.detail


async def test_a_server_hanging_up_during_the_handshake_gives_1006():
    async def script(peer: Peer) -> None:
        await peer.next_event()

    with trio.fail_after(DEADLINE_S):
        async with scripted_server(script) as port:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            with pytest.raises(ConnectionClosed) as closed:
                async with open_websocket(stream, host="peer", target="/"):
                    pytest.fail("the handshake should fail")
    assert closed.value.code == 1006


# Transports


async def test_a_unix_socket_works(server):
    with trio.fail_after(DEADLINE_S):
        async with open_websocket_unix(server.unix_path, "/echo") as ws:
            await ws.send_text("over the unix socket")
            assert await ws.receive() == "over the unix socket"


async def test_a_missing_unix_socket_raises_os_error(tmp_path):
    with trio.fail_after(DEADLINE_S), pytest.raises(FileNotFoundError):
        async with open_websocket_unix(str(tmp_path / "none.sock"), "/echo"):
            pytest.fail("nothing listens there")


async def test_tls_with_the_pinned_certificate_connects(tls_port, certificates):
    context = client_context(certificates.server.cert, certificates.client)
    with trio.fail_after(DEADLINE_S):
        async with open_websocket_tls("127.0.0.1", tls_port, "/echo", context) as ws:
            await ws.send_bytes(b"over TLS")
            assert await ws.receive() == b"over TLS"


async def test_tls_with_a_wrong_pinned_certificate_is_refused(tls_port, certificates):
    context = client_context(certificates.other.cert, certificates.client)
    with trio.fail_after(DEADLINE_S), pytest.raises(ConnectionClosed) as refused:
        async with open_websocket_tls("127.0.0.1", tls_port, "/echo", context):
            pytest.fail("the server certificate is not the pinned one")
    assert refused.value.code == 1006
    assert "CERTIFICATE_VERIFY_FAILED" in refused.value.reason


async def test_tls_without_a_client_certificate_is_refused(tls_port, certificates):
    context = client_context(certificates.server.cert, None)
    with trio.fail_after(DEADLINE_S), pytest.raises(ConnectionClosed) as refused:
        async with open_websocket_tls("127.0.0.1", tls_port, "/echo", context):
            pytest.fail("the server demands a client certificate")
    assert refused.value.code == 1006
