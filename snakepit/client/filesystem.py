"""The typed async client of the service's file-system API (``<prefix>/fs/...``), used by ``fs/``.

One :class:`FileSystem` talks to one data domain (``/users/~``, ``/groups/lab``, ``/shared``,
``/jobs/7``); paths are relative to the domain's root, ``""`` being the root itself. Every failure
is an :class:`FsError` carrying the errno *name* the service answered:

    FsError (errno name from the answer; 401 is EACCES, unknown answers EIO)
    └── FsUnavailable (EIO: the service cannot be reached or broke the connection)

Connections are opened with a short connect timeout so that a mount answers EIO quickly while the
service is down, and httpx's pool reconnects by itself once it is back.
"""

import contextlib
import dataclasses
import os
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, NamedTuple
from urllib.parse import quote

import httpx

from snakepit.client.connection import Connection

#: Seconds to wait for a TCP (and TLS) connection: a stopped service must not hang a mount.
CONNECT_TIMEOUT_S = 2.0
#: Seconds a connected request may go without progress (a hung service answers EIO after it).
ANSWER_TIMEOUT_S = 30.0
#: Parallel connections to the service (read-ahead and concurrent FUSE requests).
MAX_CONNECTIONS = 16

#: The errno name of an answer without an ``errno`` key, by HTTP status.
STATUS_ERRNO = {
    400: "EINVAL",
    401: "EACCES",
    403: "EACCES",
    404: "ENOENT",
    409: "EEXIST",
    413: "EFBIG",
    416: "EINVAL",
    507: "ENOSPC",
}


class FsError(Exception):
    """A refused or failed file-system call.

    Attributes:
        errno_name: The errno name (``"ENOENT"``, ``"EROFS"``, ...); ``"EIO"`` when unknown.
        message: What the service said, or what went wrong on this side.
        status: The HTTP status of the answer; None when there was no answer.
    """

    def __init__(self, errno_name: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{errno_name}: {message}")
        self.errno_name = errno_name
        self.message = message
        self.status = status


class FsUnavailable(FsError):
    """The service could not be reached, timed out or dropped the connection (EIO)."""

    def __init__(self, message: str) -> None:
        super().__init__("EIO", message)


class Attr(NamedTuple):
    """What the service tells about one directory entry (lstat values; links never followed).

    A named tuple, not a dataclass: a listing of 10,000 entries builds 10,000 of them.
    """

    name: str
    type: str
    inode: int
    size: int
    mode: int
    nlink: int
    mtime_ns: int
    ctime_ns: int
    atime_ns: int

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Attr":
        return cls(
            str(data["name"]),
            str(data["type"]),
            int(data["inode"]),
            int(data["size"]),
            int(data["mode"]),
            int(data["nlink"]),
            int(data["mtimeNs"]),
            int(data["ctimeNs"]),
            int(data["atimeNs"]),
        )

    def with_size(self, size: int) -> "Attr":
        return self._replace(size=size)


@dataclasses.dataclass(frozen=True)
class StatFs:
    """Capacity figures of the disk holding the domain, and whether the caller may write it."""

    block_size: int
    blocks: int
    blocks_free: int
    blocks_avail: int
    files: int
    files_free: int
    name_max: int
    read_only: bool


def encode_path(path: str) -> str:
    """``path`` with each component percent-encoded (file names may hold any byte but ``/``)."""
    return "/".join(quote(os.fsencode(part), safe="") for part in path.split("/") if part)


class FileSystem:
    """The file-system routes of one domain, over one pooled ``httpx.AsyncClient``."""

    def __init__(self, http: httpx.AsyncClient, prefix: str) -> None:
        self.http = http
        self.prefix = prefix.rstrip("/")

    def url(self, kind: str, path: str) -> str:
        return f"{self.prefix}/fs/{kind}/{encode_path(path)}"

    async def attr(self, path: str) -> Attr:
        return Attr.from_json(await self._json("GET", self.url("attr", path)))

    async def listdir(self, path: str) -> list[Attr]:
        answer = await self._json("GET", self.url("dir", path))
        return [Attr.from_json(entry) for entry in answer["entries"]]

    async def read(self, path: str, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset``; fewer at the end of the file, none past it."""
        async with contextlib.aclosing(self.read_stream(path, offset, size)) as chunks:
            return b"".join([chunk async for chunk in chunks])

    async def read_stream(self, path: str, offset: int, size: int) -> AsyncGenerator[bytes, None]:
        """:meth:`read` as the pieces arrive from the network (close it with ``aclosing``)."""
        if size <= 0:
            return
        headers = {"Range": f"bytes={offset}-{offset + size - 1}"}
        answer = await self._send("GET", self.url("data", path), headers=headers, stream=True)
        try:
            if answer.status_code == 416:
                return
            if answer.status_code not in (200, 206):
                await answer.aread()
                raise error_of(answer)
            if answer.status_code == 206:
                async for chunk in answer.aiter_raw():  # to the end: the connection is reused
                    yield chunk
                return
            skip = offset  # a server that ignored the range sends the whole file
            async for chunk in answer.aiter_raw():
                piece = chunk[skip:]
                skip = max(0, skip - len(chunk))
                yield piece[:size]
                size -= len(piece)
                if size <= 0:
                    return
        except httpx.TransportError as error:
            raise FsUnavailable(f"connection to the service lost: {error!r}") from None
        finally:
            await answer.aclose()

    async def write(self, path: str, offset: int, data: bytes) -> int:
        """Write ``data`` at ``offset`` of an existing file; return the file's size after."""
        answer = await self._json(
            "PUT",
            self.url("data", path),
            params={"offset": str(offset)},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        return int(answer["size"])

    async def create(self, path: str, mode: int, *, exclusive: bool = True) -> Attr:
        body = {"mode": mode, "exclusive": exclusive}
        return Attr.from_json(await self._json("POST", self.url("create", path), json=body))

    async def mkdir(self, path: str, mode: int) -> Attr:
        body = {"mode": mode}
        return Attr.from_json(await self._json("POST", self.url("mkdir", path), json=body))

    async def unlink(self, path: str) -> None:
        await self._json("DELETE", self.url("file", path))

    async def rmdir(self, path: str) -> None:
        await self._json("DELETE", self.url("dir", path))

    async def rename(self, path: str, to: str, *, no_replace: bool = False) -> Attr:
        body = {"to": to, "noReplace": no_replace}
        return Attr.from_json(await self._json("POST", self.url("rename", path), json=body))

    async def setattr(
        self,
        path: str,
        *,
        size: int | None = None,
        mode: int | None = None,
        atime_ns: int | None = None,
        mtime_ns: int | None = None,
    ) -> Attr:
        fields = {"size": size, "mode": mode, "atimeNs": atime_ns, "mtimeNs": mtime_ns}
        body = {key: value for key, value in fields.items() if value is not None}
        return Attr.from_json(await self._json("POST", self.url("setattr", path), json=body))

    async def statfs(self) -> StatFs:
        data = await self._json("GET", f"{self.prefix}/fs/statfs")
        return StatFs(
            block_size=int(data["blockSize"]),
            blocks=int(data["blocks"]),
            blocks_free=int(data["blocksFree"]),
            blocks_avail=int(data["blocksAvail"]),
            files=int(data["files"]),
            files_free=int(data["filesFree"]),
            name_max=int(data["nameMax"]),
            read_only=bool(data["readOnly"]),
        )

    async def _json(self, method: str, url: str, **options: Any) -> dict[str, Any]:
        answer = await self._send(method, url, **options)
        if answer.status_code >= 300:
            raise error_of(answer)
        try:
            data = answer.json()
        except ValueError:
            raise FsError("EIO", f"{method} {url}: the answer is not JSON", 200) from None
        if not isinstance(data, dict):
            raise FsError("EIO", f"{method} {url}: the answer is not a JSON object", 200)
        return data

    async def _send(
        self, method: str, url: str, *, stream: bool = False, **options: Any
    ) -> httpx.Response:
        # A pooled keep-alive connection may have been closed by a restarted service: try an
        # idempotent request once more on a fresh connection; never a create or a rename.
        attempts = 2 if method in ("GET", "PUT") else 1
        for attempt in range(attempts):
            try:
                request = self.http.build_request(method, url, **options)
                return await self.http.send(request, stream=stream)
            except httpx.ConnectError as error:
                raise FsUnavailable(f"cannot reach the service: {error!r}") from None
            except httpx.TimeoutException as error:
                raise FsUnavailable(f"the service did not answer in time: {error!r}") from None
            except httpx.TransportError as error:
                if attempt + 1 == attempts:
                    raise FsUnavailable(f"connection to the service lost: {error!r}") from None
        raise AssertionError("unreachable")


def error_of(answer: httpx.Response) -> FsError:
    """The :class:`FsError` of an answer with a status of 300 or above."""
    message, name = "", None
    try:
        body = answer.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        message = str(body.get("message", ""))
        name = body.get("errno")
    if not isinstance(name, str) or not name.isupper():
        name = STATUS_ERRNO.get(answer.status_code, "EIO")
    return FsError(name, message or f"HTTP {answer.status_code}", answer.status_code)


@contextlib.asynccontextmanager
async def open_filesystem(connection: Connection, prefix: str) -> AsyncIterator[FileSystem]:
    """A :class:`FileSystem` for the domain at ``prefix`` (``/users/~``), closed on exit."""
    timeout = httpx.Timeout(ANSWER_TIMEOUT_S, connect=CONNECT_TIMEOUT_S, pool=ANSWER_TIMEOUT_S)
    limits = httpx.Limits(
        max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS
    )
    async with connection.http_client(timeout=timeout, limits=limits) as http:
        yield FileSystem(http, prefix)
