"""Running commands in an instance.

:meth:`Exec.run` is the recorded form: LXD writes stdout and stderr to log files, which are read
and then deleted, and the exit code comes with the operation. The streaming form,
:meth:`Exec.open`, connects the operation's websockets and yields a :class:`Process`: stdin to
write, stdout and stderr as async iterators of chunks fed through bounded channels (a slow reader
slows the process down, memory stays bounded), and the control channel for window size and
signals. Leaving the block kills a process that is still running.

LXD marks the end of an output stream with an empty message. On the terminal socket of an
interactive process it then waits for an empty message back before it ends the operation;
the pump answers it.
"""

import contextlib
import json
import signal as signals
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import trio

from lxd.errors import LxdError
from lxd.models import ExecResult
from lxd.transport import Transport
from lxd.websocket import ConnectionClosed, WebSocket

#: Output chunks buffered per stream before the pump waits for the reader.
OUTPUT_BUFFER = 16
#: How long leaving an exec block may take (killing the process, closing sockets).
TEARDOWN_S = 10.0


class Process:
    """A command running in an instance, as yielded by :meth:`Exec.open`."""

    def __init__(
        self,
        transport: Transport,
        operation: str,
        stdin: WebSocket,
        control: WebSocket,
        stdout: trio.MemoryReceiveChannel[bytes],
        stderr: trio.MemoryReceiveChannel[bytes],
        *,
        interactive: bool,
    ) -> None:
        self._transport = transport
        self._interactive = interactive
        self._operation = operation
        self._stdin = stdin
        self._control = control
        #: Output chunks; the iteration ends when the process closes its output.
        self.stdout = stdout
        #: Error output chunks (empty for interactive processes, whose pty merges both).
        self.stderr = stderr
        self.exit_code: int | None = None

    async def write(self, data: bytes) -> None:
        """Send bytes to the process's standard input."""
        if data:
            await self._stdin.send_bytes(data)

    async def close_stdin(self) -> None:
        """End the process's standard input.

        For an interactive process this types Ctrl-D on its terminal, which ends input for a
        program reading lines, as on any terminal.
        """
        if self._interactive:
            await self._stdin.send_bytes(b"\x04")
        else:
            await self._stdin.close()

    async def resize(self, width: int, height: int) -> None:
        """Change the terminal size of an interactive process."""
        await self._send_control(
            {"command": "window-resize", "args": {"width": str(width), "height": str(height)}}
        )

    async def signal(self, number: int) -> None:
        """Send a signal to the process."""
        await self._send_control({"command": "signal", "signal": int(number)})

    async def _send_control(self, message: dict[str, Any]) -> None:
        await self._control.send_text(json.dumps(message))

    async def wait(self) -> int:
        """Wait for the process to end and return its exit code."""
        if self.exit_code is None:
            result = await self._transport.wait(self._operation)
            self.exit_code = int((result.get("metadata") or {}).get("return", -1))
        return self.exit_code


def exec_body(
    argv: Sequence[str],
    *,
    environment: Mapping[str, str] | None,
    cwd: str | None,
    uid: int | None,
    gid: int | None,
    **options: Any,
) -> dict[str, Any]:
    if not argv:
        raise ValueError("exec needs a command")
    body: dict[str, Any] = {
        "command": list(argv),
        "environment": dict(environment or {}),
        **options,
    }
    if cwd is not None:
        body["cwd"] = cwd
    if uid is not None:
        body["user"] = uid
    if gid is not None:
        body["group"] = gid
    return body


class Exec:
    """``POST /1.0/instances/<name>/exec`` in both forms."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def run(
        self,
        instance: str,
        argv: Sequence[str],
        *,
        environment: Mapping[str, str] | None = None,
        cwd: str | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> ExecResult:
        """Run a command to its end and return its exit code and recorded output.

        Raises:
            OperationFailed: LXD could not run it (for example, no such program).
        """
        body = exec_body(
            argv,
            environment=environment,
            cwd=cwd,
            uid=uid,
            gid=gid,
            interactive=False,
            **{"wait-for-websocket": False, "record-output": True},
        )
        path = f"/1.0/instances/{quote(instance, safe='')}/exec"
        result = await self._transport.run("POST", path, json_body=body)
        details = result.get("metadata") or {}
        logs = details.get("output") or {}
        stdout = await self._read_and_delete(logs.get("1"))
        stderr = await self._read_and_delete(logs.get("2"))
        return ExecResult(int(details.get("return", -1)), stdout, stderr)

    @contextlib.asynccontextmanager
    async def open(
        self,
        instance: str,
        argv: Sequence[str],
        *,
        environment: Mapping[str, str] | None = None,
        cwd: str | None = None,
        uid: int | None = None,
        gid: int | None = None,
        interactive: bool = False,
        width: int = 80,
        height: int = 24,
    ) -> AsyncIterator[Process]:
        """Start a command with its streams connected.

        Interactive processes get a pseudo-terminal: stdin and stdout share it and
        ``stderr`` stays empty.

        Raises:
            OperationFailed: LXD could not start it.
            LxdUnreachable: the websockets could not be opened.
        """
        options: dict[str, Any] = {"interactive": interactive, "wait-for-websocket": True}
        if interactive:
            options.update(width=width, height=height)
        body = exec_body(argv, environment=environment, cwd=cwd, uid=uid, gid=gid, **options)
        path = f"/1.0/instances/{quote(instance, safe='')}/exec"
        operation = await self._transport.start("POST", path, json_body=body)
        secrets = (operation.get("metadata") or {}).get("fds") or {}
        target = f"/1.0/operations/{operation['id']}/websocket?secret="
        stdout_send, stdout = trio.open_memory_channel[bytes](OUTPUT_BUFFER)
        stderr_send, stderr = trio.open_memory_channel[bytes](OUTPUT_BUFFER)
        async with contextlib.AsyncExitStack() as sockets:
            control = await sockets.enter_async_context(
                self._transport.websocket(target + secrets["control"])
            )
            stdin = await sockets.enter_async_context(
                self._transport.websocket(target + secrets["0"])
            )
            outputs = [(stdin, stdout_send)]
            if not interactive:
                stdout_socket = await sockets.enter_async_context(
                    self._transport.websocket(target + secrets["1"])
                )
                stderr_socket = await sockets.enter_async_context(
                    self._transport.websocket(target + secrets["2"])
                )
                outputs = [(stdout_socket, stdout_send), (stderr_socket, stderr_send)]
            else:
                stderr_send.close()
            process = Process(
                self._transport,
                operation["id"],
                stdin,
                control,
                stdout,
                stderr,
                interactive=interactive,
            )
            async with trio.open_nursery() as pumps:
                for socket, channel in outputs:
                    pumps.start_soon(_pump, socket, channel, interactive)
                try:
                    yield process
                finally:
                    await _end(process, pumps.cancel_scope)

    async def _read_and_delete(self, log_url: str | None) -> bytes:
        if not log_url:
            return b""
        path = log_url.removeprefix("/1.0/../").replace("//", "/")
        try:
            content = (await self._transport.request("GET", path)).content
        finally:
            with (
                trio.CancelScope(shield=True),
                trio.move_on_after(10),
                contextlib.suppress(LxdError),
            ):
                await self._transport.request("DELETE", path)
        return content


async def _pump(
    socket: WebSocket, channel: trio.MemorySendChannel[bytes], answer_end: bool
) -> None:
    """Copy one output websocket into a bounded channel until the stream ends."""
    async with channel:
        with contextlib.suppress(ConnectionClosed, trio.BrokenResourceError):
            async for message in socket:
                data = message.encode() if isinstance(message, str) else message
                if not data:  # LXD's end-of-stream marker
                    if answer_end:
                        await socket.send_bytes(b"")
                    return
                await channel.send(data)


async def _end(process: Process, pumps: trio.CancelScope) -> None:
    """Kill the process if it still runs, then stop the pumps; shielded and bounded."""
    with trio.CancelScope(shield=True), trio.move_on_after(TEARDOWN_S):
        if process.exit_code is None:
            with contextlib.suppress(LxdError, ConnectionClosed, trio.BrokenResourceError):
                await process.signal(signals.SIGKILL)
            with contextlib.suppress(LxdError):
                await process.wait()
    pumps.cancel()
