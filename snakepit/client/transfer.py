"""Files in the data domains over the service's ``simplefs`` routes, streamed.

``stats`` and ``list_dir`` read, ``download`` streams a file (from an offset, for resuming)
into a callback, ``upload`` streams chunks to an offset (the service truncates there and
appends), ``create_file``, ``make_dir`` and ``delete`` change the tree. Nothing here holds a
whole file in memory.
"""

import dataclasses
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

from snakepit.client.domains import Domain
from snakepit.client.errors import ClientError
from snakepit.client.session import Session


@dataclasses.dataclass(frozen=True)
class Stats:
    """``GET stats``: file or directory, and its size."""

    is_file: bool
    size: int
    mtime: str | None = None


def _parse_error() -> ClientError:
    return ClientError("Problem parsing pit response.")


async def stats(session: Session, domain: Domain, path: str) -> Stats | None:
    """Stats of ``path``, or None when it does not exist (404)."""
    try:
        answer = await session.json("GET", domain.route("stats", path))
    except ClientError as error:
        if error.status == 404:
            return None
        raise
    if not isinstance(answer, dict):
        raise _parse_error()
    return Stats(bool(answer.get("isFile")), int(answer.get("size") or 0), answer.get("mtime"))


async def list_dir(session: Session, domain: Domain, path: str) -> tuple[list[str], list[str]]:
    """Sub-directories and files of the directory ``path``."""
    answer: Any = await session.json("GET", domain.route("content", path))
    if not isinstance(answer, dict):
        raise _parse_error()
    return list(answer.get("dirs") or []), list(answer.get("files") or [])


async def download(
    session: Session, domain: Domain, path: str, offset: int = 0
) -> AsyncIterator[bytes]:
    """The bytes of file ``path`` from ``offset`` on, as they arrive."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    async with session.stream("GET", domain.route("content", path), headers=headers) as answer:
        if offset and answer.status_code != 206:
            raise ClientError("The service ignored the range; cannot resume this download")
        async for chunk in answer.aiter_raw():
            yield chunk


async def create_file(session: Session, domain: Domain, path: str, size: int = 0) -> None:
    """Create ``path`` empty (or truncate an existing file to ``size``)."""
    await session.request("PUT", domain.route("stats", path), {"type": "file", "size": size})


async def upload(
    session: Session, domain: Domain, path: str, chunks: AsyncIterable[bytes], offset: int = 0
) -> None:
    """Write ``chunks`` to the existing file ``path``, from ``offset`` on (truncating there)."""
    await session.request(
        "PUT",
        domain.route("content", path),
        chunks,
        headers={"Content-Offset": str(offset), "Content-Type": "application/octet-stream"},
    )


async def make_dir(session: Session, domain: Domain, path: str) -> None:
    await session.request("PUT", domain.route("stats", path), {"type": "directory"})


async def delete(session: Session, domain: Domain, path: str) -> None:
    """Delete ``path`` (recursively); an empty path (the whole domain) is refused."""
    if not [part for part in path.split("/") if part]:
        raise ClientError("Refusing to delete the root of a data domain")
    await session.request("DELETE", domain.route("stats", path))
