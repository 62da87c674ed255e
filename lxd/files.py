"""Files inside an instance: push, pull (binary safe), stat, mkdir, delete.

LXD needs ``Content-Type: application/octet-stream`` on pushes: any other type gives a 0-byte file
and a "Success" answer (platform.md).
"""

from pathlib import Path
from urllib.parse import quote

from lxd.models import FileInfo
from lxd.transport import Transport

#: Bytes read per chunk when pulling to a file.
CHUNK = 1 << 20


def _files_path(instance: str) -> str:
    return f"/1.0/instances/{quote(instance, safe='')}/files"


class Files:
    """The ``/1.0/instances/<name>/files`` resource."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def push(
        self,
        instance: str,
        path: str,
        data: bytes,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
    ) -> None:
        """Write ``data`` to ``path`` (replacing it), with the given mode and owner."""
        await self._transport.sync(
            "POST",
            _files_path(instance),
            params={"path": path},
            content=data,
            headers={
                "Content-Type": "application/octet-stream",
                "X-LXD-type": "file",
                "X-LXD-mode": f"{mode:04o}",
                "X-LXD-uid": str(uid),
                "X-LXD-gid": str(gid),
                "X-LXD-write": "overwrite",
            },
        )

    async def mkdir(
        self, instance: str, path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0
    ) -> None:
        """Create a directory (its parent must exist)."""
        await self._transport.sync(
            "POST",
            _files_path(instance),
            params={"path": path},
            headers={
                "Content-Type": "application/octet-stream",
                "X-LXD-type": "directory",
                "X-LXD-mode": f"{mode:04o}",
                "X-LXD-uid": str(uid),
                "X-LXD-gid": str(gid),
            },
        )

    async def pull(self, instance: str, path: str) -> bytes:
        """The whole content of a file. Raises NotFound."""
        response = await self._transport.request(
            "GET", _files_path(instance), params={"path": path}
        )
        return response.content

    async def pull_to(self, instance: str, path: str, target: Path) -> int:
        """Stream a file into ``target`` without holding it in memory; return its size."""
        size = 0
        async with self._transport.stream("GET", _files_path(instance), {"path": path}) as response:
            with target.open("wb") as output:
                async for chunk in response.aiter_bytes(CHUNK):
                    output.write(chunk)
                    size += len(chunk)
        return size

    async def stat(self, instance: str, path: str) -> FileInfo:
        """Mode, owner and kind of a path. Raises NotFound."""
        response = await self._transport.request(
            "GET", _files_path(instance), params={"path": path}
        )
        headers = response.headers
        return FileInfo(
            mode=int(headers.get("X-LXD-mode", "0"), 8),
            uid=int(headers.get("X-LXD-uid", "0")),
            gid=int(headers.get("X-LXD-gid", "0")),
            kind=headers.get("X-LXD-type", "file"),
        )

    async def delete(self, instance: str, path: str) -> None:
        """Delete a file or an empty directory. Raises NotFound."""
        await self._transport.sync("DELETE", _files_path(instance), params={"path": path})
