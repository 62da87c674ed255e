"""Mounting a domain: the checks before, the trio main loop, signals, and unmounting.

:func:`run_mount` checks everything a user can get wrong before anything is mounted (the domain,
``/dev/fuse``, the mountpoint, the right to the domain, asked once of the service), clears a stale
mount that a killed mount process left on the mountpoint, then serves FUSE requests until the
filesystem is unmounted or the process gets SIGINT or SIGTERM, and unmounts on the way out.
"""

import errno
import logging
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pyfuse3
import trio

from fs.domains import MountError, domain_prefix
from fs.operations import Operations
from snakepit.client.connection import Connection
from snakepit.client.filesystem import Attr, FileSystem, FsError, StatFs, open_filesystem

log = logging.getLogger(__name__)

#: The FUSE device; without it nothing can be mounted.
FUSE_DEVICE = Path("/dev/fuse")
#: Mount options: the kernel checks permission bits itself; read-only domains add ``ro``.
OPTIONS = frozenset({"fsname=snakepit", "subtype=snakepit", "default_permissions", "noatime"})
#: Seconds ``fusermount3`` may take.
FUSERMOUNT_TIMEOUT_S = 10.0

#: What the service's refusals mean to someone mounting a domain.
REFUSALS = {
    "ENOENT": "does not exist",
    "EACCES": "is not accessible to you (sign in as a member or an administrator)",
}


def run_mount(
    connection: Connection,
    domain: str,
    mountpoint: Path,
    *,
    on_mounted: Callable[[str], None] | None = None,
) -> None:
    """Mount ``domain`` at ``mountpoint`` and serve it until it is unmounted.

    Blocks (runs its own ``trio.run``); returns after an unmount (``fs.unmount``, ``fusermount3
    -u``) or SIGINT/SIGTERM, which unmount cleanly.

    Args:
        connection: The service and the signed-in user's token.
        domain: ``home``, ``shared``, ``group:NAME``, ``job:N`` (or ``N``), ``user:NAME``.
        mountpoint: An existing empty directory.
        on_mounted: Called with a message once the filesystem is mounted.

    Raises:
        MountError: a bad domain, a missing or non-empty mountpoint, refused access, an
            unreachable service, no ``/dev/fuse``, a failed mount.
    """
    prefix = domain_prefix(domain)
    if not FUSE_DEVICE.exists():
        raise MountError(f"{FUSE_DEVICE} is missing: FUSE is not available on this machine")
    mountpoint = Path(os.path.abspath(mountpoint))
    clear_stale_mount(mountpoint)
    check_mountpoint(mountpoint)
    trio.run(serve_mount, connection, domain, prefix, mountpoint, on_mounted)


def unmount(mountpoint: Path) -> None:
    """Unmount the filesystem at ``mountpoint`` (also a stale one of a killed mount process).

    Raises:
        MountError: nothing is mounted there, or it is busy.
    """
    mountpoint = Path(os.path.abspath(mountpoint))
    if is_stale(mountpoint):
        fusermount(mountpoint, lazy=True)
        return
    if not os.path.ismount(mountpoint):
        raise MountError(f"Nothing is mounted at {mountpoint}")
    fusermount(mountpoint, lazy=False)


def is_stale(mountpoint: Path) -> bool:
    """Whether ``mountpoint`` is a FUSE mount whose process is gone."""
    try:
        os.stat(mountpoint)
    except OSError as error:
        return error.errno == errno.ENOTCONN
    return False


def clear_stale_mount(mountpoint: Path) -> None:
    """Lazily unmount what a killed mount process left at ``mountpoint``, if anything."""
    if is_stale(mountpoint):
        log.info("clearing the stale mount at %s", mountpoint)
        fusermount(mountpoint, lazy=True)


def check_mountpoint(mountpoint: Path) -> None:
    """Raise MountError unless ``mountpoint`` is an empty directory with nothing mounted on it."""
    if not mountpoint.is_dir():
        raise MountError(f"The mountpoint {mountpoint} is not an existing directory")
    if os.path.ismount(mountpoint):
        raise MountError(f"Something is already mounted at {mountpoint}")
    if any(mountpoint.iterdir()):
        raise MountError(f"The mountpoint {mountpoint} is not empty")


def fusermount(mountpoint: Path, *, lazy: bool) -> None:
    command = ["fusermount3", "-u", *(["-z"] if lazy else []), str(mountpoint)]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=FUSERMOUNT_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MountError(f"Cannot unmount {mountpoint}: {error}") from None
    if result.returncode != 0:
        raise MountError(f"Cannot unmount {mountpoint}: {result.stderr.strip()}")


async def check_domain(client: FileSystem, domain: str) -> tuple[Attr, StatFs]:
    """The domain root's attributes and figures, asked once before mounting.

    Raises:
        MountError: the service refused or could not be reached.
    """
    try:
        return await client.attr(""), await client.statfs()
    except FsError as error:
        if error.errno_name in REFUSALS:
            raise MountError(f"The domain {domain!r} {REFUSALS[error.errno_name]}") from None
        raise MountError(f"Cannot mount {domain!r}: {error.message}") from None


async def serve_mount(
    connection: Connection,
    domain: str,
    prefix: str,
    mountpoint: Path,
    on_mounted: Callable[[str], None] | None,
) -> None:
    """Mount, serve FUSE requests until unmounted or signalled, unmount."""
    async with open_filesystem(connection, prefix) as client:
        root, figures = await check_domain(client, domain)
        options = set(OPTIONS) | ({"ro"} if figures.read_only else set())
        try:
            async with trio.open_nursery() as nursery:
                operations = Operations(client, nursery, root)
                try:
                    pyfuse3.init(operations, str(mountpoint), options)
                except RuntimeError as error:
                    raise MountError(f"Cannot mount at {mountpoint}: {error}") from None
                try:
                    nursery.start_soon(stop_on_signals, name="unmount on SIGINT/SIGTERM")
                    if on_mounted is not None:
                        mode = "read-only" if figures.read_only else "read-write"
                        on_mounted(f"mounted {domain} ({mode}) at {mountpoint}")
                    await pyfuse3.main()
                finally:
                    await operations.flush_all()
                    pyfuse3.close(unmount=True)
                    nursery.cancel_scope.cancel()
        except* MountError as group:
            raise group.exceptions[0] from None


async def stop_on_signals() -> None:
    """End the FUSE main loop at the first SIGINT or SIGTERM (the caller then unmounts)."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async for signum in signals:
            log.info("unmounting on %s", signal.Signals(signum).name)
            pyfuse3.terminate()
            return
