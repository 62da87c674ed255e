"""``mount``/``umount`` (package ``fs``) and ``exec``/``forward`` (``snakepit.client.channels``).

Those modules are imported only when their command runs: they are heavy (pyfuse3, websockets)
and the other commands must start fast.
"""

import argparse
import inspect
import sys
from collections.abc import Callable
from typing import Any

from snakepit.cli.context import Context, say
from snakepit.client.errors import ClientError


def _import_channels() -> Any:
    try:
        from snakepit.client import channels  # type: ignore[attr-defined,unused-ignore]
    except ImportError as error:
        raise ClientError(f"This installation has no exec and forward channels ({error})") from None
    return channels


def _import_fs() -> Any:
    try:
        import fs
    except ImportError as error:
        raise ClientError(f"This installation cannot mount ({error})") from None
    if not hasattr(fs, "run_mount"):
        raise ClientError("This installation cannot mount (fs.run_mount is missing)")
    return fs


async def _call(ctx: Context, function: Callable[..., Any], *args: Any) -> None:
    """Run ``function(*args)``: awaited here if async, else after the event loop has ended
    (a blocking mount runs its own loop); ``fs.MountError`` becomes a :class:`ClientError`."""
    fs = sys.modules["fs"]
    mount_error = getattr(fs, "MountError", None) or ClientError

    def translated() -> int:
        try:
            function(*args)
        except mount_error as error:
            raise ClientError(str(error)) from None
        return 0

    if inspect.iscoroutinefunction(function):
        try:
            await function(*args)
        except mount_error as error:
            raise ClientError(str(error)) from None
    else:
        ctx.after = translated


async def mount(ctx: Context, args: argparse.Namespace) -> int:
    fs = _import_fs()
    async with ctx.session() as session:
        connection = session.connection
    await _call(ctx, fs.run_mount, connection, args.domain, args.mountpoint)
    return 0


async def umount(ctx: Context, args: argparse.Namespace) -> int:
    fs = _import_fs()
    await _call(ctx, fs.unmount, args.mountpoint)
    return 0


async def exec_(ctx: Context, args: argparse.Namespace) -> int:
    if not args.command:
        raise ClientError('No command given: use "pit exec <job> -- <command> [args...]"')
    channels = _import_channels()
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    async with ctx.session() as session:
        connection = session.connection
    code = await channels.exec_command(
        connection, args.job, args.worker, list(args.command), interactive=interactive
    )
    return int(code)


def parse_port_pair(text: str) -> tuple[int, int]:
    """``L`` or ``L:R`` as (local, remote) ports.

    Raises:
        ClientError: ``Wrong port pair format``.
    """
    local_text, _, remote_text = text.partition(":")
    try:
        local = int(local_text)
        remote = int(remote_text) if remote_text else local
    except ValueError:
        raise ClientError(f"Wrong port pair format: {text}") from None
    if not (0 < local < 65536 and 0 < remote < 65536):
        raise ClientError(f"Wrong port pair format: {text}")
    return local, remote


async def forward(ctx: Context, args: argparse.Namespace) -> int:
    pairs = dict(parse_port_pair(text) for text in args.ports)
    if not pairs:
        raise ClientError("No ports to forward: use L or L:R (local port : remote port)")
    channels = _import_channels()
    async with ctx.session() as session:
        connection = session.connection
    for local, remote in pairs.items():
        say(f"Forwarding port {remote} of worker {args.worker} to port {local} on localhost...")
    say("Hit Ctrl-C to stop forwarding.")
    await channels.forward_ports(connection, args.job, args.worker, list(pairs.items()))
    return 0
