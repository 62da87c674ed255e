"""``ls``, ``cat``, ``pull``/``cp``, ``push``, ``mkdir`` and ``delete`` on data domains.

Transfers stream in chunks (never the whole file in memory) and resume: a download continues at
the local file's size with ``Range``, an upload at the remote file's size with
``Content-Offset``.
"""

import argparse
import io
import json
import os
import stat
import sys
from pathlib import Path

from snakepit.cli import prompts
from snakepit.cli.context import Context, say
from snakepit.cli.progress import Progress
from snakepit.client import transfer
from snakepit.client.domains import Domain, parse_domain
from snakepit.client.errors import ClientError
from snakepit.client.session import Session

#: Bytes read from a local file per upload chunk.
CHUNK = 1024 * 1024


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _write_all(descriptor: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(descriptor, view) :]


def ls(ctx: Context, args: argparse.Namespace) -> int:
    domain = parse_domain(args.entity)
    path = args.path or ""
    with ctx.session() as session:
        found = transfer.stats(session, domain, path)
        if found is None:
            raise ClientError("Not Found", 404)
        dirs: list[str] = []
        if found.is_file:
            files = [path.strip("/")]
        else:
            dirs, files = transfer.list_dir(session, domain, path)
    if args.json:
        json.dump({"dirs": dirs, "files": files}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write("".join(f"D {name}\n" for name in dirs))
        sys.stdout.write("".join(f"F {name}\n" for name in files))
    return 0


def _remote_file_size(session: Session, domain: Domain, path: str) -> int:
    found = transfer.stats(session, domain, path)
    if found is None:
        raise ClientError("Not Found", 404)
    if not found.is_file:
        raise ClientError("Command only supports file transfers.")
    return found.size


def _download(
    session: Session, domain: Domain, path: str, descriptor: int, offset: int, size: int
) -> None:
    progress = Progress("downloading", size, offset)

    def sink(chunk: memoryview) -> None:
        _write_all(descriptor, chunk)
        progress.add(len(chunk))

    try:
        transfer.download(session, domain, path, sink, offset)
    finally:
        progress.finish()


def cat(ctx: Context, args: argparse.Namespace) -> int:
    domain = parse_domain(args.entity)
    with ctx.session() as session:
        _remote_file_size(session, domain, args.path)
        sys.stdout.flush()
        descriptor = sys.stdout.fileno()
        transfer.download(session, domain, args.path, lambda chunk: _write_all(descriptor, chunk))
    return 0


def _decide_download_offset(
    target: Path, remote_size: int, *, force: bool, resume: bool
) -> int | None:
    """Where to start writing ``target``: 0, its size (resume), or None to skip."""
    local = _stat_or_none(target)
    if local is None:
        parent = _stat_or_none(target.parent)
        if parent is None:
            raise ClientError("Target directory not existing.")
        if not stat.S_ISDIR(parent.st_mode):
            raise ClientError("Specified target directory is not a directory.")
        return 0
    if not stat.S_ISREG(local.st_mode):
        return -1  # a device or pipe: write from the start, no resume
    if force:
        say("Target file existing: Re-downloading...")
        return 0
    if local.st_size > remote_size:
        raise ClientError(
            "Larger local file already existing. Remove it or use force option to overwrite."
        )
    if local.st_size == remote_size:
        say("Local file of same size already existing: Skipped download.")
        return None
    if resume:
        say("Local file already existing and smaller than remote file: Continuing download...")
        return local.st_size
    question = "Remote file larger than local one. Continue interrupted download (yN)? "
    if prompts.confirm(question):
        return local.st_size
    raise ClientError("Aborted")


def pull(ctx: Context, args: argparse.Namespace) -> int:
    domain = parse_domain(args.entity)
    with ctx.session() as session:
        size = _remote_file_size(session, domain, args.path)
        if args.local is None or args.local == "-":
            sys.stdout.flush()
            _download(session, domain, args.path, sys.stdout.fileno(), 0, size)
            return 0
        target = Path(args.local)
        found = _stat_or_none(target)
        if found is not None and stat.S_ISDIR(found.st_mode):
            name = args.path.rstrip("/").rsplit("/", 1)[-1]
            if not name:
                raise ClientError("Cannot construct target filename.")
            target = target / name
        offset = _decide_download_offset(target, size, force=args.force, resume=args.cont)
        if offset is None:
            return 0
        if offset < 0:
            flags, offset = os.O_WRONLY, 0
        else:
            flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if offset else os.O_TRUNC)
        descriptor = os.open(target, flags, 0o644)
        try:
            _download(session, domain, args.path, descriptor, offset, size)
        finally:
            os.close(descriptor)
    return 0


class _Counted(io.RawIOBase):
    """A file descriptor read for an upload, counting on a progress bar."""

    def __init__(self, descriptor: int, progress: Progress) -> None:
        self.descriptor = descriptor
        self.progress = progress

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = os.read(self.descriptor, CHUNK if size < 0 else size)
        self.progress.add(len(data))
        return data


def upload_file(
    session: Session,
    domain: Domain,
    path: str,
    source: Path | None,
    *,
    resume: bool = False,
    force: bool = False,
) -> None:
    """Send ``source`` (stdin when None) to ``path``, resuming or re-sending as decided by the
    sizes on both sides (the published client's rules)."""
    local_size = 0 if source is None else os.stat(source).st_size
    remote = transfer.stats(session, domain, path)
    offset = 0
    if remote is None:
        transfer.create_file(session, domain, path)
    elif not remote.is_file:
        raise ClientError("Target path is existing, but not a file.")
    elif remote.size == local_size and source is not None:
        if not force:
            return
        say("Remote file of same size as the local one - re-uploading...")
    elif remote.size < local_size:
        if resume:
            say("Remote file smaller than local one - continuing upload...")
            offset = remote.size
        elif force:
            say("Remote file existing - re-uploading...")
        else:
            question = "Remote file smaller than local one. Continue interrupted upload (yN)? "
            if not prompts.confirm(question):
                raise ClientError("Aborted")
            offset = remote.size
    elif remote.size > 0 or source is not None:
        if not force:
            raise ClientError("Remote file is larger than local one.")
        say("Remote file is larger than local one - re-uploading...")
    descriptor = sys.stdin.fileno() if source is None else os.open(source, os.O_RDONLY)
    try:
        if offset:
            os.lseek(descriptor, offset, os.SEEK_SET)
        progress = Progress("uploading", local_size, offset)
        try:
            length = None if source is None else local_size - offset
            body = _Counted(descriptor, progress)
            transfer.upload(session, domain, path, body, offset, length)  # type: ignore[arg-type]
        finally:
            progress.finish()
    finally:
        if source is not None:
            os.close(descriptor)


def push(ctx: Context, args: argparse.Namespace) -> int:
    domain = parse_domain(args.entity)
    source = None if args.local is None or args.local == "-" else Path(args.local)
    if source is not None:
        found = _stat_or_none(source)
        if found is None or not stat.S_ISREG(found.st_mode):
            raise ClientError("Source file not found.")
    with ctx.session() as session:
        upload_file(session, domain, args.path, source, resume=args.cont, force=args.force)
    return 0


def mkdir(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        transfer.make_dir(session, parse_domain(args.entity), args.path)
    return 0


def delete(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        transfer.delete(session, parse_domain(args.entity), args.path)
    return 0
