"""Files in the data domains over the service's ``simplefs`` routes, streamed.

``stats`` and ``list_dir`` read; ``download`` streams a file from an offset (for resuming) into
a callback, one buffer at a time; ``upload`` streams a binary file object to an offset (the
service truncates there and appends); ``create_file``, ``make_dir`` and ``delete`` change the
tree. Nothing here holds a whole file in memory.
"""

import dataclasses
from collections.abc import Callable
from typing import Any, BinaryIO

from snakepit.client.domains import Domain
from snakepit.client.errors import ClientError
from snakepit.client.session import Session, read_into

#: Bytes per read of a download.
CHUNK = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Stats:
    """``GET stats``: file or directory, and its size."""

    is_file: bool
    size: int
    mtime: str | None = None


def _parse_error() -> ClientError:
    return ClientError("Problem parsing pit response.")


def stats(session: Session, domain: Domain, path: str) -> Stats | None:
    """Stats of ``path``, or None when it does not exist (404)."""
    try:
        answer = session.json("GET", domain.route("stats", path))
    except ClientError as error:
        if error.status == 404:
            return None
        raise
    if not isinstance(answer, dict):
        raise _parse_error()
    return Stats(bool(answer.get("isFile")), int(answer.get("size") or 0), answer.get("mtime"))


def list_dir(session: Session, domain: Domain, path: str) -> tuple[list[str], list[str]]:
    """Sub-directories and files of the directory ``path``."""
    answer: Any = session.json("GET", domain.route("content", path))
    if not isinstance(answer, dict):
        raise _parse_error()
    return list(answer.get("dirs") or []), list(answer.get("files") or [])


def download(
    session: Session,
    domain: Domain,
    path: str,
    sink: Callable[[memoryview], None],
    offset: int = 0,
) -> None:
    """Hand the bytes of file ``path`` from ``offset`` on to ``sink``, as they arrive.

    Raises:
        ClientError: refused, unreachable, or the service ignored the range of a resume.
    """
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    with session.stream("GET", domain.route("content", path), headers=headers) as answer:
        if offset and answer.status != 206:
            raise ClientError("The service ignored the range; cannot resume this download")
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        while count := read_into(answer, buffer):
            sink(view[:count])


def create_file(session: Session, domain: Domain, path: str, size: int = 0) -> None:
    """Create ``path`` empty (or truncate an existing file to ``size``)."""
    session.request("PUT", domain.route("stats", path), {"type": "file", "size": size})


def upload(
    session: Session,
    domain: Domain,
    path: str,
    source: BinaryIO,
    offset: int = 0,
    length: int | None = None,
) -> None:
    """Write ``source`` (``length`` bytes, or chunked to its end) to the existing file
    ``path`` from ``offset`` on, truncating it there."""
    session.request(
        "PUT",
        domain.route("content", path),
        source,
        headers={"Content-Offset": str(offset), "Content-Type": "application/octet-stream"},
        length=length,
    )


def make_dir(session: Session, domain: Domain, path: str) -> None:
    session.request("PUT", domain.route("stats", path), {"type": "directory"})


def delete(session: Session, domain: Domain, path: str) -> None:
    """Delete ``path`` (recursively); an empty path (the whole domain) is refused."""
    if not [part for part in path.split("/") if part]:
        raise ClientError("Refusing to delete the root of a data domain")
    session.request("DELETE", domain.route("stats", path))
