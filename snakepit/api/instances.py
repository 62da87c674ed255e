"""WebSocket exec and port forwarding into a running job's workers.

``GET /jobs/<job>/instances/<instance>/exec?context=<JSON>`` runs a command in worker
``<instance>`` (flat index) of a running job; ``GET /jobs/<job>/instances/<instance>/forward``
runs the worker image's multiplex forwarder (``/usr/bin/snakepit-forward``) there. Both are
websocket upgrades for the job's owner and administrators; a plain GET answers 404
``Only web-socket upgrades`` once those checks pass.

The ``context`` of exec is checked field by field (the published service sent it verbatim as the
LXD exec body, so any LXD exec field could be set): ``command`` (a non-empty list of strings),
``environment`` (a string map), ``interactive`` (default true, as published), ``width`` and
``height``. Anything else is a 400.

Exec framing: binary messages whose first byte is a channel.

    client → service  0  control: {"command": "window-resize", "args": {"width": "120",
                         "height": "40"}} or {"command": "signal", "signal": 15}
                      1  stdin bytes; a message of the channel byte alone ends stdin (the
                         published client never sends one)
    service → client  0  {"command": "exit", "return": <exit code>}, sent once the command has
                         ended, right before the service closes the websocket with 1000
                      1  stdout (interactive: the terminal's output)
                      2  stderr (non-interactive, and LXD's word when it could not start the
                         command, which then exits with 127 if it was not found, else 126)

Forward: the websocket carries the forwarder's stdin and stdout as raw bytes, no channel byte.
Either side closing ends the session; a client that goes away has its process killed.
"""

import dataclasses
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import trio
from quart.wrappers import Websocket

from lxd import LxdError, OperationFailed
from lxd.exec import Process
from lxd.websocket import ConnectionClosed
from snakepit.access import can_change
from snakepit.api.auth import Access
from snakepit.api.routing import Routes, id_param, websocket_upgrade
from snakepit.errors import BadRequest, Forbidden, NotFound, ServiceUnavailable
from snakepit.ids import JOB_ID
from snakepit.jobs.runner import WorkerContainer
from snakepit.models import User
from snakepit.nodes.connect import NoClientCertificate
from snakepit.services import Services
from snakepit.store import jobs

log = logging.getLogger("snakepit.instances")

#: The forwarder installed in the worker image (images/snakepit-worker/files/snakepit-forward).
FORWARDER = "/usr/bin/snakepit-forward"
#: Limits on an exec context: arguments, environment entries, and the length of each string.
MAX_ARGUMENTS = 1000
MAX_VARIABLES = 200
MAX_STRING = 16 * 1024
#: Largest terminal side accepted, in characters.
MAX_TERMINAL = 10_000
#: Channel bytes of the exec framing.
CONTROL, STDOUT, STDERR = b"\x00", b"\x01", b"\x02"
STDIN = 1
#: Largest job number the store can hold.
MAX_JOB = 2**63 - 1


@dataclasses.dataclass(frozen=True)
class ExecContext:
    """What an exec request may ask for."""

    command: list[str]
    environment: dict[str, str]
    interactive: bool = True
    width: int = 80
    height: int = 24


def parse_context(raw: str | None) -> ExecContext:
    """Check the ``context`` query parameter of exec.

    Raises:
        BadRequest: no context or no command (``No command``), malformed JSON, an unknown
            field, a value of the wrong type or out of bounds.
    """
    if not raw:
        raise BadRequest("No command")
    try:
        data = json.loads(raw)
    except ValueError as error:
        raise BadRequest(f"Malformed context: {error}") from None
    if not isinstance(data, dict):
        raise BadRequest("The context must be a JSON object")
    for key in data:
        if key not in ("command", "environment", "interactive", "width", "height"):
            raise BadRequest(f"Unknown context field {key!r}")
    command = data.get("command")
    if command is None or command == []:
        raise BadRequest("No command")
    if not isinstance(command, list) or len(command) > MAX_ARGUMENTS:
        raise BadRequest(
            f"Context field 'command' must be a list of at most {MAX_ARGUMENTS} strings"
        )
    for argument in command:
        _check_string("command", argument)
    environment = data.get("environment") or {}
    if not isinstance(environment, dict) or len(environment) > MAX_VARIABLES:
        raise BadRequest(
            f"Context field 'environment' must map at most {MAX_VARIABLES} names to strings"
        )
    for name, value in environment.items():
        _check_string("environment", name)
        _check_string("environment", value)
        if not name or "=" in name:
            raise BadRequest(f"Bad environment variable name {name!r}")
    interactive = data.get("interactive", True)
    if not isinstance(interactive, bool):
        raise BadRequest("Context field 'interactive' must be true or false")
    width, height = (
        _terminal_side(data, key, default) for key, default in (("width", 80), ("height", 24))
    )
    return ExecContext(list(command), dict(environment), interactive, width, height)


def _check_string(field: str, value: Any) -> None:
    if not isinstance(value, str):
        raise BadRequest(f"Context field {field!r} must hold strings only")
    if len(value) > MAX_STRING or "\0" in value:
        raise BadRequest(f"Context field {field!r} holds a string too long or with a NUL")


def _terminal_side(data: Mapping[str, Any], key: str, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_TERMINAL:
        raise BadRequest(f"Context field {key!r} must be a whole number from 1 to {MAX_TERMINAL}")
    return value


def create_routes(services: Services) -> Routes:
    routes = Routes("instances", services)

    async def changeable_job(caller: User, job: str, instance: str) -> tuple[int, int]:
        number = int(id_param(job, JOB_ID, "job id"))
        index = int(id_param(instance, JOB_ID, "instance id"))
        found = None
        if number <= MAX_JOB:
            found = await services.database.read(lambda c: jobs.get_job(c, number))
        if found is None:
            raise NotFound("Job not found")
        if not can_change(caller, found):
            raise Forbidden(
                "Forbidden: only the job's owner and administrators may reach its workers"
            )
        return number, index

    async def worker(number: int, index: int) -> WorkerContainer:
        found = await services.jobs.worker_container(number, index)
        if found is None:
            raise NotFound("Worker not active")
        return found

    @routes.websocket("/jobs/<job>/instances/<instance>/exec", Access.USER, query=("context",))
    async def exec_in_worker(caller: User, job: str, instance: str) -> None:
        number, index = await changeable_job(caller, job, instance)
        socket = websocket_upgrade()
        context = parse_context(socket.args.get("context"))
        target = await worker(number, index)
        options = {
            "environment": context.environment,
            "interactive": context.interactive,
            "width": context.width,
            "height": context.height,
        }
        await run_session(services, target, socket, context.command, options, exec_session)

    @routes.websocket("/jobs/<job>/instances/<instance>/forward", Access.USER)
    async def forward_to_worker(caller: User, job: str, instance: str) -> None:
        number, index = await changeable_job(caller, job, instance)
        socket = websocket_upgrade()
        target = await worker(number, index)
        await run_session(services, target, socket, [FORWARDER], {}, forward_session)

    return routes


async def run_session(
    services: Services,
    target: WorkerContainer,
    socket: Websocket,
    argv: list[str],
    options: dict[str, Any],
    session: Callable[[Websocket, Process], Awaitable[None]],
) -> None:
    """Start ``argv`` in the worker, accept the websocket, run ``session(socket, process)``.

    Failing to start the command refuses the upgrade with 503; once accepted, the session ends
    with the websocket closed and the process killed if it still runs.
    """
    accepted = False
    try:
        async with services.lxd.open(target.endpoint, target.server_cert) as lxd:
            with trio.CancelScope() as opening:
                opening.deadline = trio.current_time() + services.config.lxd_timeout_s
                async with lxd.exec.open(target.name, argv, **options) as process:
                    opening.deadline = math.inf
                    await socket.accept()
                    accepted = True
                    await session(socket, process)
            if opening.cancelled_caught:
                raise ServiceUnavailable(f"The worker {target.name} did not answer in time")
    except (LxdError, NoClientCertificate, KeyError) as error:
        if accepted:
            log.warning("session in %s ended by an error: %s", target.name, error)
            return
        raise ServiceUnavailable(f"Could not start the command in {target.name}: {error}") from None


async def exec_session(socket: Websocket, process: Process) -> None:
    """Splice an exec websocket to the process (channel framing); send its exit code."""
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_exec_input, socket, process)
            async with trio.open_nursery() as outputs:
                outputs.start_soon(_send_output, socket, process.stdout, STDOUT)
                outputs.start_soon(_send_output, socket, process.stderr, STDERR)
            code = await _exit_code(socket, process)
            await socket.send(CONTROL + json.dumps({"command": "exit", "return": code}).encode())
            nursery.cancel_scope.cancel()
    except* (LxdError, ConnectionClosed, trio.BrokenResourceError) as group:
        log.warning("exec session ended by an error: %s", group.exceptions[0])


async def _exit_code(socket: Websocket, process: Process) -> int:
    """The command's exit code; a command LXD could not start is told on stderr and gets the
    shell's codes (127 not found, 126 otherwise)."""
    try:
        return await process.wait()
    except OperationFailed as error:
        await socket.send(STDERR + f"{error.message}\n".encode())
        return 127 if "not found" in error.message.lower() else 126


async def _send_output(
    socket: Websocket, output: trio.MemoryReceiveChannel[bytes], channel: bytes
) -> None:
    async for chunk in output:
        await socket.send(channel + chunk)


async def _exec_input(socket: Websocket, process: Process) -> None:
    """Client messages to the process: stdin bytes, end of stdin, resize and signal."""
    stdin_open = True
    while True:
        message = await socket.receive()
        data = message.encode() if isinstance(message, str) else message
        if not data:
            continue
        if data[0] == STDIN and stdin_open:
            try:
                if len(data) == 1:
                    stdin_open = False
                    await process.close_stdin()
                else:
                    await process.write(data[1:])
            except (ConnectionClosed, trio.BrokenResourceError):
                stdin_open = False  # the process closed its input; drop what comes
        elif data[0] == CONTROL[0]:
            await _control(process, data[1:])


async def _control(process: Process, raw: bytes) -> None:
    """Pass on a window resize or a signal; ignore anything else (LXD's control socket takes
    only these)."""
    try:
        message = json.loads(raw)
        if message.get("command") == "window-resize":
            args = message.get("args") or {}
            width, height = int(args["width"]), int(args["height"])
            if 0 < width <= MAX_TERMINAL and 0 < height <= MAX_TERMINAL:
                await process.resize(width, height)
        elif message.get("command") == "signal":
            number = message.get("signal")
            if isinstance(number, int) and not isinstance(number, bool) and 0 < number < 65:
                await process.signal(number)
    except (ValueError, KeyError, TypeError, AttributeError):
        log.debug("ignored a malformed control message")
    except (ConnectionClosed, trio.BrokenResourceError):
        log.debug("control message after the process ended")


async def forward_session(socket: Websocket, process: Process) -> None:
    """Splice a forward websocket to the forwarder's stdin and stdout, raw."""
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_forward_input, socket, process)
            nursery.start_soon(_log_errors, process)
            async for chunk in process.stdout:
                await socket.send(chunk)
            code = await process.wait()
            if code:
                log.warning("the forwarder ended with exit code %d", code)
            nursery.cancel_scope.cancel()
    except* (LxdError, ConnectionClosed, trio.BrokenResourceError) as group:
        log.warning("forward session ended by an error: %s", group.exceptions[0])


async def _forward_input(socket: Websocket, process: Process) -> None:
    while True:
        message = await socket.receive()
        await process.write(message.encode() if isinstance(message, str) else message)


async def _log_errors(process: Process) -> None:
    async for chunk in process.stderr:
        log.info("forwarder: %s", chunk.decode(errors="replace").rstrip())
