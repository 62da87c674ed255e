"""Images: list, look up by alias, import a tarball, manage aliases, delete."""

from pathlib import Path
from typing import Any
from urllib.parse import quote

import trio

from lxd.errors import NotFound
from lxd.models import Image
from lxd.transport import Transport


class Images:
    """The ``/1.0/images`` resource."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def list(self) -> list[Image]:
        found = await self._transport.sync("GET", "/1.0/images", params={"recursion": "1"})
        return [_image(data) for data in found]

    async def get(self, fingerprint: str) -> Image:
        return _image(await self._transport.sync("GET", f"/1.0/images/{quote(fingerprint)}"))

    async def fingerprint_of(self, alias: str) -> str | None:
        """The fingerprint an alias points to, or None."""
        try:
            data = await self._transport.sync("GET", f"/1.0/images/aliases/{quote(alias, safe='')}")
        except NotFound:
            return None
        return str(data["target"])

    async def import_tarball(self, tarball: Path, *, public: bool = False) -> str:
        """Import a unified image tarball; return its fingerprint.

        Importing an image that exists already fails with a Conflict-like operation failure;
        callers compare fingerprints first.
        """
        data = await trio.Path(tarball).read_bytes()
        headers = {"Content-Type": "application/octet-stream"}
        if public:
            headers["X-LXD-public"] = "true"
        result = await self._transport.run("POST", "/1.0/images", content=data, headers=headers)
        return str((result.get("metadata") or {})["fingerprint"])

    async def add_alias(self, alias: str, fingerprint: str, description: str = "") -> None:
        await self._transport.sync(
            "POST",
            "/1.0/images/aliases",
            json_body={"name": alias, "target": fingerprint, "description": description},
        )

    async def point_alias(self, alias: str, fingerprint: str) -> None:
        """Create the alias, or move it to ``fingerprint``."""
        if await self.fingerprint_of(alias) is None:
            await self.add_alias(alias, fingerprint)
        else:
            await self._transport.sync(
                "PUT",
                f"/1.0/images/aliases/{quote(alias, safe='')}",
                json_body={"target": fingerprint, "description": ""},
            )

    async def delete_alias(self, alias: str) -> None:
        await self._transport.sync("DELETE", f"/1.0/images/aliases/{quote(alias, safe='')}")

    async def delete(self, fingerprint: str) -> None:
        await self._transport.run("DELETE", f"/1.0/images/{quote(fingerprint)}")


def _image(data: dict[str, Any]) -> Image:
    return Image(
        fingerprint=data["fingerprint"],
        aliases=tuple(alias["name"] for alias in data.get("aliases") or ()),
        size=int(data.get("size") or 0),
        public=bool(data.get("public")),
    )
