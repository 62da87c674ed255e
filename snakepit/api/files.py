"""Job, home, group and shared data over HTTP: the published "simplefs" routes and the
file-system API that ``pit mount`` uses.

Each domain is reached under its entity's prefix (``/shared``, ``/users/<user>``,
``/groups/<group>``, ``/jobs/<job>``):

    <prefix>/simplefs/<aspect>/<path>   stats and content, as the published service had them
    <prefix>/fs/<op>[/<path>]           attr, dir, data, create, mkdir, file, rename, setattr,
                                        statfs (see ``FS_OPERATIONS``)

The handlers only read the request and shape the answer; who may do what is decided in
:mod:`snakepit.data.domains`, every path is resolved by :mod:`snakepit.data.resolver`, and all
disk work runs in :class:`snakepit.data.DataFiles`' worker threads.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from quart import Response, request

from snakepit.api.auth import Access
from snakepit.api.requests import Field, read_json
from snakepit.api.routing import Handler, Routes, id_param, user_param
from snakepit.data import (
    DataFiles,
    Domain,
    Kind,
    Right,
    file_error,
    fileops,
    simplefs,
    split_encoded,
    split_path,
)
from snakepit.data.service import Download
from snakepit.errors import BadRequest, MethodNotAllowed, NotFound
from snakepit.ids import GROUP_ID, JOB_ID, is_number
from snakepit.models import User
from snakepit.services import Services

#: Each domain's URL prefix and who may call its routes at all.
PREFIXES = (
    (Kind.SHARED, "/shared", Access.OPTIONAL),
    (Kind.HOME, "/users/<user>", Access.USER),
    (Kind.GROUP, "/groups/<group>", Access.USER),
    (Kind.JOB, "/jobs/<job>", Access.USER),
)
#: A file-system route names the domain root with no path, an empty path, or a path.
FS_TAILS = ("", "/", "/<path:rest>")
#: simplefs names the root with an empty path (the published client sends ``stats/``).
SIMPLEFS_TAILS = ("/", "/<path:rest>")
#: Largest value of a size or a time in nanoseconds (a signed 64-bit number).
MAX_INT64 = 2**63 - 1

Operation = Callable[["FileRoutes", Domain, tuple[str, ...]], Awaitable[Any]]


async def read_fields(fields: dict[str, Field]) -> dict[str, Any]:
    """The JSON body, as :func:`read_json` reads it; a refusal carries ``errno`` EINVAL like
    every other answer of the file API."""
    try:
        return await read_json(fields)
    except BadRequest as error:
        raise BadRequest(error.message, extra={"errno": "EINVAL", **error.extra}) from None


class FileRoutes:
    """The request-level half of each file operation."""

    def __init__(self, files: DataFiles, max_body_size: int) -> None:
        self.files = files
        self.max_body_size = max_body_size

    def domain(self, caller: User | None, kind: Kind, entity: dict[str, str]) -> Domain:
        """The domain named by the route's entity parameter, as ``caller`` sees it."""
        try:
            if kind is Kind.HOME:
                name = user_param(entity["user"], caller)
            elif kind is Kind.GROUP:
                name = id_param(entity["group"], GROUP_ID, "group id")
            elif kind is Kind.JOB:
                name = id_param(entity["job"], JOB_ID, "job id")
            else:
                name = ""
        except BadRequest as error:
            raise BadRequest(error.message, extra={"errno": "EINVAL"}) from None
        return self.files.domain(caller, kind, name)

    def check_length(self, parts: tuple[str, ...]) -> None:
        """Refuse an upload whose declared length is over ``maxBodySize`` before any write.

        A chunked upload without a length is counted as it arrives instead (the file-system
        API's writes) or not limited at all (simplefs, as the published client sends a whole
        file in one request).
        """
        if (request.content_length or 0) > self.max_body_size:
            raise file_error(
                "EFBIG", "/".join(parts), f"Write larger than {self.max_body_size} bytes"
            )

    # -- the file-system API ------------------------------------------------------------

    async def attr(self, domain: Domain, parts: tuple[str, ...]) -> Any:
        return await self.files.run(fileops.get_attr, domain, parts)

    async def list_dir(self, domain: Domain, parts: tuple[str, ...]) -> Any:
        return await self.files.run(fileops.list_dir, domain, parts)

    async def read(self, domain: Domain, parts: tuple[str, ...]) -> Response:
        return send(await self.files.download(domain, parts, request.headers.get("Range")))

    async def write(self, domain: Domain, parts: tuple[str, ...]) -> Any:
        offset = whole_number(request.args.get("offset", "0"), "Query parameter offset")
        self.check_length(parts)
        size = await self.files.write(domain, parts, offset, request.body, self.max_body_size)
        return {"size": size}

    async def create(self, domain: Domain, parts: tuple[str, ...]) -> Any:
        body = await read_fields({"mode": Field(int), "exclusive": Field(bool)})
        mode = permission_bits(body)
        exclusive = body.get("exclusive", True)
        return await self.files.run(fileops.create, domain, parts, mode, exclusive)

    async def mkdir(self, domain: Domain, parts: tuple[str, ...]) -> Any:
        mode = permission_bits(await read_fields({"mode": Field(int)}))
        return await self.files.run(fileops.mkdir, domain, parts, mode)

    async def unlink(self, domain: Domain, parts: tuple[str, ...]) -> Any:
        await read_fields({})
        await self.files.run(fileops.unlink, domain, parts)
        return {}

    async def rmdir(self, domain: Domain, parts: tuple[str, ...]) -> Any:
        await read_fields({})
        await self.files.run(fileops.rmdir, domain, parts)
        return {}

    async def rename(self, domain: Domain, parts: tuple[str, ...]) -> Any:
        body = await read_fields(
            {"to": Field(str, required=True, max_length=4096), "noReplace": Field(bool)}
        )
        to = split_path(body["to"])
        no_replace = body.get("noReplace", False)
        return await self.files.run(fileops.rename, domain, parts, to, no_replace)

    async def set_attr(self, domain: Domain, parts: tuple[str, ...]) -> Any:
        fields = ("size", "mode", "atimeNs", "mtimeNs")
        body = await read_fields({name: Field(int) for name in fields})
        changes = {name: int(value) for name, value in body.items()}
        for name, value in changes.items():
            if value > MAX_INT64:
                raise file_error("EINVAL", "/".join(parts), f"Field {name!r} is too large")
        permission_bits(changes)
        return await self.files.run(fileops.set_attr, domain, parts, changes)

    async def statfs(self, domain: Domain, parts: tuple[str, ...]) -> Any:
        if parts:
            raise file_error("EINVAL", "/".join(parts), "statfs takes no path")
        return await self.files.run(fileops.statfs, domain)

    # -- simplefs -----------------------------------------------------------------------

    async def simple_get(self, domain: Domain, parts: tuple[str, ...], aspect: str) -> Any:
        if aspect == "stats":
            return await self.files.run(simplefs.stats, domain, parts)
        if aspect != "content":
            raise BadRequest(f"Unknown simplefs aspect {aspect!r}: use stats or content")
        if await self.files.run(simplefs.is_directory, domain, parts):
            return await self.files.run(simplefs.listing, domain, parts)
        return send(await self.files.download(domain, parts, request.headers.get("Range")))

    async def simple_put(self, domain: Domain, parts: tuple[str, ...], aspect: str) -> Any:
        domain.check(Right.WRITE, "/".join(parts))
        if aspect == "stats":
            body = await read_fields({"type": Field(str, required=True), "size": Field(int)})
            if body["type"] == "file":
                size = int(body.get("size", 0))
                await self.files.run(simplefs.put_file, domain, parts, size)
            elif body["type"] == "directory":
                await self.files.run(simplefs.make_directories, domain, parts)
            else:
                raise BadRequest(f"Unknown type {body['type'][:40]!r}: use file or directory")
            return "", 200
        if aspect == "content":
            offset = whole_number(request.headers.get("Content-Offset", "0"), "Content-Offset")
            self.check_length(parts)  # before the file is truncated to the offset
            await self.files.append(domain, parts, offset, request.body)
            return "", 200
        raise BadRequest(f"Unknown simplefs aspect {aspect!r}: use stats or content")

    async def simple_delete(self, domain: Domain, parts: tuple[str, ...], aspect: str) -> Any:
        domain.check(Right.WRITE, "/".join(parts))
        if aspect != "stats":
            raise BadRequest(f"Deleting works on the stats aspect, not {aspect!r}")
        await read_fields({})
        await self.files.run(simplefs.delete, domain, parts)
        return "", 200


#: The file-system operations by HTTP method and name.
FS_OPERATIONS: dict[tuple[str, str], Operation] = {
    ("GET", "attr"): FileRoutes.attr,
    ("GET", "dir"): FileRoutes.list_dir,
    ("GET", "data"): FileRoutes.read,
    ("GET", "statfs"): FileRoutes.statfs,
    ("PUT", "data"): FileRoutes.write,
    ("POST", "create"): FileRoutes.create,
    ("POST", "mkdir"): FileRoutes.mkdir,
    ("POST", "rename"): FileRoutes.rename,
    ("POST", "setattr"): FileRoutes.set_attr,
    ("DELETE", "file"): FileRoutes.unlink,
    ("DELETE", "dir"): FileRoutes.rmdir,
}
SIMPLEFS_METHODS = {
    "GET": FileRoutes.simple_get,
    "PUT": FileRoutes.simple_put,
    "DELETE": FileRoutes.simple_delete,
}


def create_routes(services: Services) -> Routes:
    routes = Routes("files", services)
    api = FileRoutes(
        DataFiles(services.database, services.data_root), services.config.max_body_size
    )
    for kind, prefix, access in PREFIXES:
        for method in ("GET", "PUT", "POST", "DELETE"):
            for index, tail in enumerate(FS_TAILS):
                handler = fs_handler(api, kind, method, f"fs_{kind.name.lower()}_{index}")
                routes(method, f"{prefix}/fs/<op>{tail}", access, query=("offset",))(handler)
        for method in SIMPLEFS_METHODS:
            for index, tail in enumerate(SIMPLEFS_TAILS):
                handler = simplefs_handler(
                    api, kind, method, f"simplefs_{kind.name.lower()}_{index}"
                )
                routes(method, f"{prefix}/simplefs/<aspect>{tail}", access)(handler)
    return routes


def fs_handler(api: FileRoutes, kind: Kind, method: str, name: str) -> Handler:
    """The handler of ``<prefix>/fs/<op>...`` for one method: finds the operation, the
    domain and the path, in that order."""

    async def handler(caller: User | None, op: str, rest: str = "", **entity: str) -> Any:
        operation = FS_OPERATIONS.get((method, op))
        if operation is None:
            if any(known == op for _, known in FS_OPERATIONS):
                raise MethodNotAllowed(f"Method {method} not allowed for fs/{op}")
            raise NotFound(f"No such file-system operation: {op[:40]!r}")
        domain = api.domain(caller, kind, entity)
        return await operation(api, domain, path_parts(kind, rest))

    handler.__name__ = handler.__qualname__ = name
    return handler


def simplefs_handler(api: FileRoutes, kind: Kind, method: str, name: str) -> Handler:
    """The handler of ``<prefix>/simplefs/<aspect>/...`` for one method."""

    async def handler(caller: User | None, aspect: str, rest: str = "", **entity: str) -> Any:
        domain = api.domain(caller, kind, entity)
        return await SIMPLEFS_METHODS[method](api, domain, path_parts(kind, rest), aspect)

    handler.__name__ = handler.__qualname__ = name
    return handler


def path_parts(kind: Kind, rest: str) -> tuple[str, ...]:
    """The path inside the domain, taken from the raw request path so that a name that is not
    UTF-8 arrives byte for byte (``rest``, decoded by the server as UTF-8, would not)."""
    raw = request.scope.get("raw_path")
    if not raw:
        return split_path(rest)
    fixed = 1 if kind is Kind.SHARED else 2  # the prefix, then fs/<op> or simplefs/<aspect>
    return split_encoded(raw.split(b"/")[1 + fixed + 2 :])


def send(download: Download) -> Response:
    """The answer carrying a file: 200 with all of it, or 206 with the range asked for."""
    headers = {"Accept-Ranges": "bytes"}
    if download.wanted is None:
        status = 200
        headers["Content-Length"] = str(download.size)
    else:
        status = 206
        headers["Content-Length"] = str(download.wanted.length)
        headers["Content-Range"] = download.wanted.content_range(download.size)
    response = Response(
        download.chunks, status=status, headers=headers, content_type="application/octet-stream"
    )
    response.timeout = None  # a large file takes as long as it takes
    return response


def whole_number(text: str, what: str) -> int:
    """A non-negative decimal integer from a header or query parameter; 400 EINVAL otherwise."""
    if not is_number(text):
        raise BadRequest(
            f"{what} must be a whole number, not {text[:40]!r}", extra={"errno": "EINVAL"}
        )
    return int(text)


def permission_bits(body: dict[str, Any]) -> int | None:
    """The ``mode`` field, if any: permission bits up to 0o7777."""
    if "mode" not in body:
        return None
    mode = int(body["mode"])
    if mode > 0o7777:
        raise BadRequest(
            f"Field 'mode' holds more than permission bits: {mode}", extra={"errno": "EINVAL"}
        )
    return mode
