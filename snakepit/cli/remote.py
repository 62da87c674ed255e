"""``mount``/``umount`` (package ``fs``) and ``exec``/``forward`` (``snakepit.client.channels``).

Those modules are imported only when their command runs: they are heavy (pyfuse3, websockets)
and the other commands must start fast. Before opening a WebSocket or a mount, one cheap signed-in
request refreshes an expired token (asking for the password), since neither can sign in again
halfway.
"""

import argparse
import functools
import sys
from pathlib import Path
from typing import Any

from snakepit.cli.context import Context, say
from snakepit.client.connection import Connection
from snakepit.client.errors import ClientError


def _import_channels() -> tuple[Any, Any]:
    """``snakepit.client.channels`` and ``trio``, which only these commands need."""
    try:
        import trio

        from snakepit.client import channels
    except ImportError as error:
        raise ClientError(f"This installation has no exec and forward channels ({error})") from None
    return channels, trio


def _import_fs() -> Any:
    try:
        import fs
    except ImportError as error:
        raise ClientError(f"This installation cannot mount ({error})") from None
    return fs


def _fresh_connection(ctx: Context) -> Connection:
    """The signed-in connection, its token checked (and renewed) by one request."""
    with ctx.session() as session:
        session.request("GET", "users/~")
        return session.connection


def mount(ctx: Context, args: argparse.Namespace) -> int:
    fs = _import_fs()
    connection = _fresh_connection(ctx)
    try:
        fs.run_mount(connection, args.domain, Path(args.mountpoint), on_mounted=say)
    except fs.MountError as error:
        raise ClientError(str(error)) from None
    return 0


def umount(ctx: Context, args: argparse.Namespace) -> int:
    fs = _import_fs()
    try:
        fs.unmount(Path(args.mountpoint))
    except fs.MountError as error:
        raise ClientError(str(error)) from None
    return 0


def exec_(ctx: Context, args: argparse.Namespace) -> int:
    if not args.command:
        raise ClientError('No command given: use "pit exec <job> -- <command> [args...]"')
    channels, trio = _import_channels()
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    connection = _fresh_connection(ctx)
    sys.stdout.flush()
    code = trio.run(
        functools.partial(
            channels.exec_command,
            connection,
            args.job,
            args.worker,
            list(args.command),
            interactive=interactive,
        )
    )
    return int(code)


def parse_port_pair(text: str) -> tuple[int, int]:
    """``L`` or ``L:R`` as (local, remote) ports.

    Raises:
        ClientError: ``Wrong port pair format``.
    """
    local_text, colon, remote_text = text.partition(":")
    try:
        local = int(local_text)
        remote = int(remote_text) if colon else local
    except ValueError:
        raise ClientError(f"Wrong port pair format: {text}") from None
    if not (0 < local < 65536 and 0 < remote < 65536):
        raise ClientError(f"Wrong port pair format: {text}")
    return local, remote


def forward(ctx: Context, args: argparse.Namespace) -> int:
    pairs = dict(parse_port_pair(text) for text in args.ports)
    if not pairs:
        raise ClientError("No ports to forward: use L or L:R (local port : remote port)")
    channels, trio = _import_channels()
    connection = _fresh_connection(ctx)
    for local, remote in pairs.items():
        say(f"Forwarding port {remote} of worker {args.worker} to port {local} on localhost...")
    say("Hit Ctrl-C to stop forwarding.")
    mappings = list(pairs.items())
    trio.run(
        functools.partial(
            channels.forward_ports, connection, args.job, args.worker, mappings, report=say
        )
    )
    return 0
