"""``pit exec`` and ``pit forward`` end to end: the client functions against a real service, and,
on the real LXD, a running job's worker; the worker's multiplex forwarder on its own; and the
refusals (no upgrade, no token, another user, a bad context, a worker that is not there)."""

import contextlib
import fcntl
import json
import os
import pty
import socket
import struct
import sys
import termios
from functools import partial
from urllib.parse import quote

import pytest
import trio
import trio.testing

from snakepit.client import Connection
from snakepit.client.channels import FrameReader, exec_command, forward_ports, frame
from snakepit.client.channels import _terminal_size as terminal_size
from snakepit.client.errors import ClientError
from snakepit.client.websocket import open_service_websocket
from snakepit.jobs.states import JobState
from tests.conftest import insert_job_directly, register
from tests.lxd_service import open_lxd_service, wait_for

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FORWARDER = os.path.join(REPOSITORY, "images", "snakepit-worker", "files", "snakepit-forward")
#: This run's node id and head id: containers of other test runs on the same LXD are not ours.
NODE = f"x{os.getpid()}"
HEAD = f"y{os.getpid()}"


class Capture(trio.abc.SendStream):
    """A stdout or stderr that keeps what it gets, and wakes those waiting for some text."""

    def __init__(self) -> None:
        self.data = b""
        self._changed = trio.Event()

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        self.data += bytes(data)
        self._changed.set()
        self._changed = trio.Event()

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()

    async def wait_for(self, text: bytes, start: int = 0) -> None:
        """Wait until ``text`` shows up at or after offset ``start``."""
        while text not in self.data[start:]:
            await self._changed.wait()


class ClosedOutput(Capture):
    """An output whose reader went away, as a closed pipe."""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        raise trio.BrokenResourceError("the reader went away")


def stdin_of(data: bytes, *, end: bool = True) -> trio.testing.MemoryReceiveStream:
    stream = trio.testing.MemoryReceiveStream()
    stream.put_data(data)
    if end:
        stream.put_eof()
    return stream


async def run(connection, job, argv, *, interactive=False, stdin=b"", instance=0):
    out, err = Capture(), Capture()
    with trio.fail_after(60):
        code = await exec_command(
            connection,
            job,
            instance,
            argv,
            interactive=interactive,
            stdin=stdin_of(stdin, end=not interactive),
            stdout=out,
            stderr=err,
        )
    return code, out.data, err.data


# The worker's forwarder, run here as a plain process


async def test_the_forwarder_pipes_streams_to_local_ports(nursery):
    async def shout(stream):
        async with stream:
            async for data in stream:
                await stream.send_all(data.upper())

    listeners = await nursery.start(partial(trio.serve_tcp, shout, 0, host="127.0.0.1"))
    port = listeners[0].socket.getsockname()[1]
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        closed_port = unused.getsockname()[1]
    process = await trio.lowlevel.open_process(
        ["python3", FORWARDER], stdin=-1, stdout=-1, stderr=None
    )
    reader = FrameReader()

    async def frames(count):
        got = []
        with trio.fail_after(10):
            while len(got) < count:
                got += reader.feed(await process.stdout.receive_some(65536))
        return sorted(got)

    await process.stdin.send_all(
        frame(0, 0, f"0-{port}".encode())
        + frame(1, 0, f"1-{port}".encode())
        + frame(2, 0, f"2-{closed_port}".encode())
        + frame(0, 2, b"first")
        + frame(1, 2, b"second")
    )
    got = await frames(3)
    assert got[:2] == [(0, 1, b"FIRST"), (1, 1, b"SECOND")]
    assert got[2][:2] == (2, 5)
    assert f"localhost:{closed_port}".encode() in got[2][2]
    # Ending a stream ends the connection; the server's end comes back.
    await process.stdin.send_all(frame(0, 4))
    assert await frames(1) == [(0, 3, b"")]
    # A destroyed stream is dropped without a word; its channel number can be used again.
    await process.stdin.send_all(frame(1, 6, b"gone") + frame(1, 0, f"3-{port}".encode()))
    await process.stdin.send_all(frame(1, 2, b"again"))
    assert await frames(1) == [(1, 1, b"AGAIN")]
    await process.stdin.aclose()
    with trio.fail_after(10):
        assert await process.wait() == 0
    await process.stdout.aclose()


# Refusals, on a service without LXD


async def test_refusals_before_any_worker_is_reached(service, users, anon):
    alice = await register(anon, "carol")
    bob = users.bob.headers["X-Auth-Token"]
    job = insert_job_directly(service.config, "carol", JobState.DONE)
    connection = Connection(service.url, token=alice)
    good = quote(json.dumps({"command": ["ls"]}))

    async def refusal(route, token=alice):
        with pytest.raises(ClientError) as refused, trio.fail_after(10):
            async with open_service_websocket(Connection(service.url, token=token), route):
                pass
        return refused.value.status, refused.value.message

    plain = await users.alice.get(f"/jobs/{job}/instances/0/exec", headers={"X-Auth-Token": alice})
    assert (plain.status_code, plain.json()["message"]) == (404, "Only web-socket upgrades")
    exec_route = f"jobs/{job}/instances/0/exec?context="
    assert await refusal(exec_route + good, None) == (401, "No token")
    assert (await refusal(exec_route + good, bob))[0] == 403
    assert await refusal(exec_route + good) == (404, "Worker not active")
    assert await refusal(f"jobs/{job}/instances/0/forward") == (404, "Worker not active")
    assert await refusal(f"jobs/{job + 1}/instances/0/forward") == (404, "Job not found")
    assert await refusal(f"jobs/{job}/instances/x/forward") == (400, "Wrong instance id format")
    assert await refusal(f"jobs/{job}/instances/0/exec") == (400, "No command")
    assert await refusal(f"jobs/{job}/instances/0/exec?context={good}&cwd=/") == (
        400,
        "Unknown query parameter cwd",
    )
    for context, message in [
        ({"command": []}, "No command"),
        ({"environment": {}}, "No command"),
        ({"command": ["ls"], "cwd": "/root"}, "Unknown context field 'cwd'"),
        ({"command": ["ls"], "user": 0}, "Unknown context field 'user'"),
        ({"command": "ls"}, "Context field 'command' must be a list"),
        ({"command": ["ls", 1]}, "Context field 'command' must hold strings only"),
        ({"command": ["ls"], "environment": {"A": 1}}, "'environment' must hold strings only"),
        ({"command": ["ls"], "interactive": "yes"}, "'interactive' must be true or false"),
        ({"command": ["ls"], "width": -3}, "'width' must be a whole number"),
        ([], "The context must be a JSON object"),
    ]:
        status, text = await refusal(exec_route + quote(json.dumps(context)))
        assert status == 400
        assert message in text, context
    assert (await refusal(exec_route + "%7Bnot%20json"))[0] == 400
    assert await refusal("no/such/websocket") == (
        404,
        "No such route: WEBSOCKET /no/such/websocket",
    )
    with pytest.raises(ClientError) as refused:
        await exec_command(connection, job, 0, ["ls"], interactive=False, stdin=stdin_of(b""))
    assert refused.value.message == "Worker not active"
    with pytest.raises(ClientError) as refused:
        await forward_ports(connection, job, 0, [(free_port(), 80)])
    assert refused.value.message == "Worker not active"
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ClientError) as refused:
            await forward_ports(connection, job, 0, [(free_port(), 80), (port, 80)])
    assert refused.value.message.startswith(f"Cannot listen on port {port}")


# A running job on the real LXD


@pytest.fixture
async def running_job(nursery, make_config, tmp_path):
    """A service with the local LXD as its node, and a job of alice's running ``sleep 600``."""
    async with open_lxd_service(
        nursery, make_config, tmp_path, head=HEAD, nodes={NODE: {}}
    ) as running:
        async with running.service.client() as anon:
            alice = await register(anon, "alice")
            bob = await register(anon, "bob")
        async with running.service.client(alice) as client:
            answer = await client.post(
                "/jobs", json={"clusterRequest": "[]", "script": "sleep 600"}
            )
            job = answer.json()["id"]
            await wait_for(client, job, {JobState.RUNNING})
            url = running.service.url
            yield Connection(url, token=alice), Connection(url, token=bob), job, client
            assert (await client.post(f"/jobs/{job}/stop")).status_code in (200, 412)
            await wait_for(client, job, {JobState.DONE})
    assert running.leftovers == [], "the service left containers behind"


@pytest.mark.lxd
async def test_exec_in_a_running_worker(running_job):
    alice, bob, job, client = running_job
    script = "echo out; echo err >&2; exit 7"
    assert await run(alice, job, ["sh", "-c", script]) == (7, b"out\n", b"err\n")
    assert await run(alice, job, ["no-such-program"]) == (127, b"", b"Command not found\n")
    assert await run(alice, job, ["cat"], stdin=b"piped\nthrough\n") == (
        0,
        b"piped\nthrough\n",
        b"",
    )
    argv = ["sh", "-c", "test -t 0 && stty size; exit 4"]
    code, out, _ = await run(alice, job, argv, interactive=True)
    width, height = terminal_size()  # our terminal's, or 80x24 without one
    assert (code, out.split()) == (4, [str(height).encode(), str(width).encode()])
    code, out, _ = await run(alice, job, ["sh"], interactive=True, stdin=b"echo $((6*7))\nexit 5\n")
    assert code == 5
    assert b"42" in out
    with pytest.raises(ClientError, match="writing its output failed"), trio.fail_after(60):
        await exec_command(
            alice,
            job,
            0,
            ["echo", "to a closed pipe"],
            interactive=False,
            stdin=stdin_of(b""),
            stdout=ClosedOutput(),
            stderr=Capture(),
        )
    with pytest.raises(ClientError) as refused:
        await run(bob, job, ["ls"])
    assert refused.value.status == 403
    context = quote(json.dumps({"command": ["ls"], "user": 0}))
    with pytest.raises(ClientError) as refused, trio.fail_after(10):
        async with open_service_websocket(alice, f"jobs/{job}/instances/0/exec?context={context}"):
            pass
    assert (refused.value.status, refused.value.message) == (400, "Unknown context field 'user'")
    with pytest.raises(ClientError) as refused:
        await run(alice, job, ["ls"], instance=1)
    assert (refused.value.status, refused.value.message) == (404, "Worker not active")
    assert (await client.post(f"/jobs/{job}/stop")).status_code == 200
    await wait_for(client, job, {JobState.DONE}, deadline_s=120)
    with pytest.raises(ClientError) as refused:
        await run(alice, job, ["ls"])
    assert (refused.value.status, refused.value.message) == (404, "Worker not active")


#: A ``pit exec`` on a terminal of its own: a child process whose controlling terminal is a pty.
TERMINAL_CLIENT = """
import fcntl, os, sys, termios, trio
from snakepit.client import Connection
from snakepit.client.channels import exec_command
os.setsid()
fcntl.ioctl(0, termios.TIOCSCTTY, 0)
url, token, job = sys.argv[1:]
code = trio.run(
    lambda: exec_command(Connection(url, token=token), int(job), 0, ["sh"], interactive=True)
)
sys.exit(code)
"""


def set_size(fd, rows, columns):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


@pytest.mark.lxd
async def test_exec_on_a_terminal(running_job, nursery):
    alice, _, job, _ = running_job
    master, slave = pty.openpty()
    set_size(master, 30, 100)
    terminal = trio.lowlevel.FdStream(master)
    screen = Capture()

    async def show():
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            while data := await terminal.receive_some(4096):
                await screen.send_all(data)

    async def wait_for_text(text):
        with trio.fail_after(30):
            await screen.wait_for(text)

    argv = [sys.executable, "-c", TERMINAL_CLIENT, alice.url, alice.token, str(job)]
    environment = {**os.environ, "PYTHONPATH": REPOSITORY, "TERM": "xterm"}
    async with terminal:
        client = await trio.lowlevel.open_process(
            argv, stdin=slave, stdout=slave, stderr=slave, env=environment
        )
        os.close(slave)
        try:
            nursery.start_soon(show)
            await wait_for_text(b"# ")  # the remote shell's prompt: it reads from now on
            await terminal.send_all(b"stty size\r")
            await wait_for_text(b"30 100")
            # Resizing our terminal resizes the remote one (SIGWINCH, a window-resize message).
            set_size(master, 40, 120)
            with trio.fail_after(30):
                while b"40 120" not in screen.data:
                    await terminal.send_all(b"stty size\r")
                    with trio.move_on_after(0.5):
                        await screen.wait_for(b"40 120")
            # Ctrl-C reaches the remote command, not us.
            await terminal.send_all(b"sleep 100\r")
            await wait_for_text(b"sleep 100\r\n")
            mark = len(screen.data)
            await terminal.send_all(b"\x03")
            with trio.fail_after(30):  # the shell's next prompt, long before the sleep's end
                await screen.wait_for(b"# ", start=mark)
            await terminal.send_all(b"echo after-$((1+1))\r")
            await wait_for_text(b"after-2")
            await terminal.send_all(b"exit 6\r")
            with trio.fail_after(30):
                assert await client.wait() == 6
        finally:
            if client.returncode is None:  # (a failed step must not leave it running)
                client.kill()
                with trio.CancelScope(shield=True):
                    await client.wait()


ECHO_SERVER = """
import socketserver
class Shout(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(line.upper())
class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
server = Server(("127.0.0.1", 7000), Shout)
print("listening", flush=True)
server.serve_forever()
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def connect(port):
    """Connect to a local port that is about to be listened on."""
    with trio.fail_after(30):
        while True:
            try:
                return await trio.open_tcp_stream("127.0.0.1", port)
            except OSError:
                await trio.sleep(0.05)  # polling under the deadline above


async def read_line(stream):
    data = b""
    with trio.fail_after(30):
        while not data.endswith(b"\n"):
            data += await stream.receive_some(100)
    return data


@pytest.mark.lxd
async def test_forward_a_worker_port(running_job, nursery):
    alice, _, job, _ = running_job
    server_out = Capture()
    server = trio.CancelScope()

    async def serve():
        with server:
            await exec_command(
                alice,
                job,
                0,
                ["python3", "-c", ECHO_SERVER],
                interactive=False,
                stdin=stdin_of(b"", end=False),
                stdout=server_out,
                stderr=server_out,
            )

    nursery.start_soon(serve)
    with trio.fail_after(30):
        await server_out.wait_for(b"listening")
    local, refused_local = free_port(), free_port()
    reports = []
    forwarding = trio.CancelScope()

    async def forward():
        with forwarding:
            await forward_ports(
                alice, job, 0, [(local, 7000), (refused_local, 7001)], report=reports.append
            )

    nursery.start_soon(forward)
    first, second = await connect(local), await connect(local)
    async with first, second:
        await first.send_all(b"hello from one\n")
        await second.send_all(b"hello from two\n")
        assert await read_line(second) == b"HELLO FROM TWO\n"
        assert await read_line(first) == b"HELLO FROM ONE\n"
        await first.send_all(b"again\n")
        assert await read_line(first) == b"AGAIN\n"
    third = await connect(refused_local)
    async with third:
        with trio.fail_after(30):
            assert await third.receive_some(100) == b""
    assert len(reports) == 1
    assert reports[0].startswith("Remote cannot connect to localhost:7001")
    forwarding.cancel()
    # The client going away kills its command: the server stops listening.
    server.cancel()
    probe = "import socket; socket.create_connection(('127.0.0.1', 7000))"
    # Bounded polling inside the worker (100 tries, 0.2 s apart), under run's deadline.
    loop = f'for i in $(seq 100); do python3 -c "{probe}" 2>/dev/null || exit 0; sleep 0.2; done'
    assert (await run(alice, job, ["sh", "-c", loop + "; exit 1"]))[0] == 0
