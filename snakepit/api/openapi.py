"""The OpenAPI 3.1 document of the whole API, built from the declared routes.

:func:`build_document` walks the routes the application declared (``route_specs``) and looks
each one up in :func:`route_docs`, a table keyed by ``(method, rule)`` that says what the route
takes and answers. The JSON bodies are described from the same :class:`Field` tables the
handlers read them with, so a field renamed in a handler is renamed here too. The file routes
(:mod:`snakepit.api.files`) are generated from their own tables: each ``<op>`` or ``<aspect>``
becomes a fixed path segment, so every file operation gets its own body and answer.

A test checks that the table and the declared routes agree both ways; a route missing from the
table is still listed, as "Undocumented", so the served document never fails.
"""

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from snakepit.api import aliases, files, groups, jobs, nodes, users
from snakepit.api.auth import Access
from snakepit.api.requests import Field
from snakepit.api.routing import RouteSpec
from snakepit.ids import MAX_ID_LENGTH

Schema = dict[str, Any]

#: OpenAPI version of the document.
OPENAPI_VERSION = "3.1.0"
_PARAMETER = re.compile(r"<(?:\w+:)?(\w+)>")


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _id(pattern: str, max_length: int = MAX_ID_LENGTH) -> Schema:
    return {"type": "string", "pattern": pattern, "minLength": 1, "maxLength": max_length}


#: Path parameters by name.
PATH_PARAMETERS: dict[str, Schema] = {
    "user": {**_id("^(~|[a-z][a-z0-9]*)$"), "description": "A user id, or ~ for the caller"},
    "group": _id("^[a-z]+$"),
    "alias": _id("^[a-z][a-z0-9]*$"),
    "node": _id("^[a-z][a-z0-9]*$"),
    "job": _id("^[0-9]+$"),
    "instance": _id("^[0-9]+$"),
    "resource": _id("^[0-9]+$", 6),
    "rest": {"type": "string", "minLength": 1, "description": "A path inside the domain"},
}

_DIGITS = {"type": "string", "pattern": "^[0-9]+$"}
_TEXT = {"type": "string"}
_OBJECT = {"type": "object"}

COMPONENTS: dict[str, Schema] = {
    "Message": {
        "type": "object",
        "properties": {"message": _TEXT, "errno": _TEXT},
        "required": ["message"],
    },
    "Ids": {"type": "array", "items": _TEXT},
    "Token": {"type": "object", "properties": {"token": _TEXT}, "required": ["token"]},
    "User": {
        "type": "object",
        "properties": {
            "id": _TEXT,
            "fullname": {"type": ["string", "null"]},
            "email": {"type": ["string", "null"]},
            "groups": {"type": "array", "items": _TEXT},
            "autoshare": {"type": "array", "items": _TEXT},
            "admin": {"type": "boolean"},
            "token": _TEXT,
        },
        "required": ["id", "admin"],
    },
    "Group": {"type": "object", "properties": {"id": _TEXT, "title": _TEXT}},
    "Alias": {"type": "object", "properties": {"id": _TEXT, "name": _TEXT}},
    "Node": {
        "type": "object",
        "properties": {"id": _TEXT, "endpoint": _TEXT, "online": {"type": "boolean"}},
        "required": ["id", "endpoint"],
    },
    "Job": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "user": _TEXT, "state": {"type": "integer"}},
        "required": ["id", "user", "state"],
    },
    "Jobs": {"type": "array", "items": _ref("Job")},
    "Deleted": {"type": "object", "properties": {"message": _TEXT}, "required": ["message"]},
}


@dataclasses.dataclass(frozen=True)
class Doc:
    """What one operation takes and answers."""

    summary: str
    #: The JSON body's fields; ``{}`` is an empty object (or no body); None: no JSON body.
    body: Mapping[str, Field] | None = None
    #: The body is raw bytes (an upload).
    raw_body: bool = False
    query: tuple[tuple[str, Schema], ...] = ()
    headers: tuple[tuple[str, Schema], ...] = ()
    #: The 200 answer's JSON schema; None for an empty or text answer.
    answer: Schema | None = None
    #: Media type of a non-JSON answer.
    answer_type: str = "text/plain"
    #: The route upgrades to a websocket (a plain GET is refused with 404).
    websocket: bool = False
    #: Server-side statuses the route may answer: 503 (a node or worker out of reach), 507
    #: (the data root's disk is full).
    unavailable: tuple[int, ...] = ()


#: One way of calling a route: fixed values of some path parameters, and its description.
Variant = tuple[Mapping[str, str], Doc]

NO_BODY: Mapping[str, Field] = {}
JOB_QUERY = (
    ("since", {"type": "string", "description": "ISO date"}),
    ("till", {"type": "string", "description": "ISO date"}),
    ("user", _id("^[a-z][a-z0-9]*$")),
    ("title", {"type": "string", "minLength": 1, "maxLength": 255}),
    ("asc", {"enum": ["date", "user", "title", "state"]}),
    ("desc", {"enum": ["date", "user", "title", "state"]}),
    ("limit", {**_DIGITS, "maxLength": 9}),
    ("offset", {**_DIGITS, "maxLength": 9}),
)
_PLAIN_GET = "A websocket; a plain GET is answered 404 after the access checks"

CORE_DOCS: dict[tuple[str, str], Doc] = {
    ("GET", "/hello"): Doc("Liveness probe", answer_type="text/plain"),
    ("GET", "/openapi.json"): Doc("This document", answer=_OBJECT),
    ("GET", "/users/<user>/exists"): Doc("Whether the user exists (200 or 404)"),
    ("PUT", "/users/<user>"): Doc(
        "Register a user", users.REGISTRATION_FIELDS, answer=_ref("User")
    ),
    ("POST", "/users/<user>/authenticate"): Doc(
        "Sign in", {"password": Field(str, required=True, max_length=1024)}, answer=_ref("Token")
    ),
    ("GET", "/users"): Doc("User ids", answer=_ref("Ids")),
    ("GET", "/users/<user>"): Doc("A user", answer=_ref("User")),
    ("POST", "/users/<user>"): Doc("Change a user", users.UPDATE_FIELDS, answer=_ref("User")),
    ("DELETE", "/users/<user>"): Doc("Delete a user", NO_BODY, answer=_ref("Deleted")),
    ("PUT", "/users/<user>/groups/<group>"): Doc("Add a user to a group", NO_BODY),
    ("DELETE", "/users/<user>/groups/<group>"): Doc("Remove a user from a group", NO_BODY),
    ("GET", "/groups"): Doc("Group ids", answer=_ref("Ids")),
    ("GET", "/groups/<group>"): Doc("A group", answer=_ref("Group")),
    ("PUT", "/groups/<group>"): Doc("Create a group", groups.TITLE, answer=_ref("Group")),
    ("POST", "/groups/<group>"): Doc("Retitle a group", groups.TITLE, answer=_ref("Group")),
    ("DELETE", "/groups/<group>"): Doc("Delete a group", NO_BODY, answer=_ref("Deleted")),
    ("GET", "/aliases"): Doc("Alias ids", answer=_ref("Ids")),
    ("GET", "/aliases/<alias>"): Doc("An alias", answer=_ref("Alias")),
    ("PUT", "/aliases/<alias>"): Doc("Create an alias", aliases.NAME, answer=_ref("Alias")),
    ("POST", "/aliases/<alias>"): Doc("Rename an alias", aliases.NAME, answer=_ref("Alias")),
    ("DELETE", "/aliases/<alias>"): Doc("Delete an alias", NO_BODY),
    ("GET", "/nodes"): Doc("Node ids", answer=_ref("Ids")),
    ("GET", "/nodes/<node>"): Doc("A node", answer=_ref("Node")),
    ("PUT", "/nodes/<node>"): Doc(
        "Register a node", nodes.NODE_FIELDS, answer=_ref("Node"), unavailable=(503,)
    ),
    ("DELETE", "/nodes/<node>"): Doc("Remove a node", NO_BODY, answer=_ref("Deleted")),
    ("PUT", "/nodes/<node>/groups/<group>"): Doc("Restrict a node to a group", NO_BODY),
    ("DELETE", "/nodes/<node>/groups/<group>"): Doc("Lift a node's restriction", NO_BODY),
    ("PUT", "/nodes/<node>/resources/<resource>/groups/<group>"): Doc(
        "Restrict a resource to a group", NO_BODY
    ),
    ("DELETE", "/nodes/<node>/resources/<resource>/groups/<group>"): Doc(
        "Lift a resource's restriction", NO_BODY
    ),
    ("POST", "/jobs"): Doc(
        "Submit a job",
        jobs.SUBMISSION_FIELDS,
        answer={"type": "object", "properties": {"id": {"type": "integer"}}},
    ),
    ("POST", "/jobs/<job>/stop"): Doc("Stop a job", NO_BODY),
    ("GET", "/jobs"): Doc("Jobs matching a query", query=JOB_QUERY, answer=_ref("Jobs")),
    ("GET", "/jobs/status"): Doc(
        "Running, waiting and recent jobs",
        answer={"type": "object", "additionalProperties": _ref("Jobs")},
    ),
    ("GET", "/jobs/<job>"): Doc("A job", answer=_ref("Job")),
    ("PUT", "/jobs/<job>/groups/<group>"): Doc("Share a job with a group", NO_BODY),
    ("DELETE", "/jobs/<job>/groups/<group>"): Doc("Stop sharing a job", NO_BODY),
    ("DELETE", "/jobs/<job>"): Doc("Delete a stopped job", NO_BODY, answer=_ref("Deleted")),
    ("GET", "/jobs/<job>/log"): Doc("The job's log, followed until the job ends"),
    ("GET", "/jobs/<job>/instances/<instance>/exec"): Doc(
        f"Run a command in a worker. {_PLAIN_GET}",
        query=(("context", {"type": "string", "description": "JSON: command, environment"}),),
        websocket=True,
        unavailable=(503,),
    ),
    ("GET", "/jobs/<job>/instances/<instance>/forward"): Doc(
        f"Forward ports into a worker. {_PLAIN_GET}", websocket=True, unavailable=(503,)
    ),
}

_INT = Field(int)
_RANGE = (("Range", {"type": "string", "description": "bytes=START-END"}),)
#: Each file-system operation by method and name.
FS_DOCS: dict[tuple[str, str], Doc] = {
    ("GET", "attr"): Doc("A file's attributes", answer=_OBJECT),
    ("GET", "dir"): Doc("A directory's entries", answer=_OBJECT),
    ("GET", "data"): Doc("A file's bytes", headers=_RANGE, answer_type="application/octet-stream"),
    ("GET", "statfs"): Doc("The domain's file-system figures", answer=_OBJECT),
    ("PUT", "data"): Doc(
        "Write bytes at an offset",
        raw_body=True,
        unavailable=(507,),
        query=(("offset", {**_DIGITS, "maxLength": 18}),),
        answer=_OBJECT,
    ),
    ("POST", "create"): Doc(
        "Create a file", {"mode": _INT, "exclusive": Field(bool)}, answer=_OBJECT
    ),
    ("POST", "mkdir"): Doc("Make a directory", {"mode": _INT}, answer=_OBJECT),
    ("POST", "rename"): Doc(
        "Rename",
        {"to": Field(str, required=True, max_length=4096), "noReplace": Field(bool)},
        answer=_OBJECT,
    ),
    ("POST", "setattr"): Doc(
        "Change attributes",
        {name: _INT for name in ("size", "mode", "atimeNs", "mtimeNs")},
        answer=_OBJECT,
    ),
    ("DELETE", "file"): Doc("Remove a file", NO_BODY, answer=_OBJECT),
    ("DELETE", "dir"): Doc("Remove an empty directory", NO_BODY, answer=_OBJECT),
}
#: Each simplefs request by method and aspect.
SIMPLEFS_DOCS: dict[tuple[str, str], Doc] = {
    ("GET", "stats"): Doc("A file's or directory's stats", answer=_OBJECT),
    ("GET", "content"): Doc(
        "A file's bytes or a directory's listing",
        headers=_RANGE,
        answer_type="application/octet-stream",
    ),
    ("PUT", "stats"): Doc(
        "Make a file of a size or a directory",
        {"type": Field(str, required=True), "size": _INT},
    ),
    ("PUT", "content"): Doc(
        "Write the body at Content-Offset",
        raw_body=True,
        unavailable=(507,),
        headers=(("Content-Offset", {**_DIGITS, "maxLength": 18}),),
    ),
    ("DELETE", "stats"): Doc("Delete a file or directory", NO_BODY),
}


def file_docs() -> dict[tuple[str, str], list[Variant]]:
    """The file routes' entries, generated from the tables of :mod:`snakepit.api.files`."""
    table: dict[tuple[str, str], list[Variant]] = {}
    for _, prefix, _ in files.PREFIXES:
        for tail in files.FS_TAILS:
            for method in ("GET", "PUT", "POST", "DELETE"):
                variants = table.setdefault((method, f"{prefix}/fs/<op>{tail}"), [])
                for (op_method, op), doc in FS_DOCS.items():
                    if op_method == method:
                        variants.append(({"op": op}, doc))
        for tail in files.SIMPLEFS_TAILS:
            for method in files.SIMPLEFS_METHODS:
                variants = table.setdefault((method, f"{prefix}/simplefs/<aspect>{tail}"), [])
                for (aspect_method, aspect), doc in SIMPLEFS_DOCS.items():
                    if aspect_method == method:
                        variants.append(({"aspect": aspect}, doc))
    return table


def route_docs() -> dict[tuple[str, str], list[Variant]]:
    """Every documented route by ``(method, rule)``, with the ways of calling it."""
    table: dict[tuple[str, str], list[Variant]] = {
        key: [({}, doc)] for key, doc in CORE_DOCS.items()
    }
    table.update(file_docs())
    return table


def field_schema(field: Field) -> Schema:
    """The JSON schema of one body field, as :func:`snakepit.api.requests.read_json` checks it."""
    if field.kind is bool:
        return {"type": "boolean"}
    if field.kind is int:
        return {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": "^[0-9]{1,12}$"},
            ]
        }
    if field.kind is list:
        item = {"type": "string", "maxLength": field.max_length}
        return {"type": "array", "items": item, "maxItems": field.max_items}
    return {"type": "string", "maxLength": field.max_length}


def body_schema(fields: Mapping[str, Field]) -> Schema:
    """The JSON schema of a body holding only ``fields``."""
    schema: Schema = {
        "type": "object",
        "properties": {name: field_schema(field) for name, field in fields.items()},
        "additionalProperties": False,
    }
    required = [name for name, field in fields.items() if field.required]
    if required:
        schema["required"] = required
    return schema


def openapi_path(rule: str, fixed: Mapping[str, str]) -> str:
    """``/users/<user>/fs/<op>/<path:rest>`` with ``op=attr`` → ``/users/{user}/fs/attr/{rest}``."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return fixed.get(name, "{" + name + "}")

    return _PARAMETER.sub(replace, rule)


def _security(access: Access) -> list[dict[str, list[str]]]:
    if access is Access.ANON:
        return []
    if access is Access.OPTIONAL:
        return [{}, {"token": []}]
    return [{"token": []}]


def _operation(spec: RouteSpec, fixed: Mapping[str, str], doc: Doc) -> Schema:
    names = [name for name in _PARAMETER.findall(spec.rule) if name not in fixed]
    parameters: list[Schema] = [
        {"name": name, "in": "path", "required": True, "schema": PATH_PARAMETERS[name]}
        for name in names
    ]
    parameters += [{"name": n, "in": "query", "schema": s} for n, s in doc.query]
    parameters += [{"name": n, "in": "header", "schema": s} for n, s in doc.headers]
    if doc.answer is not None:
        ok: Schema = {
            "description": "Done",
            "content": {"application/json": {"schema": doc.answer}},
        }
    else:
        ok = {"description": "Done", "content": {doc.answer_type: {"schema": _TEXT}}}
    failed = {
        "description": "Refused",
        "content": {"application/json": {"schema": _ref("Message")}},
    }
    operation: Schema = {
        "summary": doc.summary,
        "operationId": f"{spec.method.lower()} {openapi_path(spec.rule, fixed)}",
        "security": _security(spec.access),
        "parameters": parameters,
        "responses": {
            "200": ok,
            "4XX": failed,
            **{str(status): failed for status in doc.unavailable},
        },
        "x-access": spec.access.value,
    }
    if doc.websocket:
        operation["x-websocket"] = True
    if doc.body is not None:
        content = {"application/json": {"schema": body_schema(doc.body)}}
        operation["requestBody"] = {"required": bool(doc.body), "content": content}
    elif doc.raw_body:
        content = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
        operation["requestBody"] = {"required": False, "content": content}
    return operation


def build_document(specs: Iterable[RouteSpec]) -> Schema:
    """The OpenAPI document of the routes in ``specs``."""
    table = route_docs()
    paths: dict[str, Schema] = {}
    for spec in specs:
        variants = table.get((spec.method, spec.rule)) or [({}, Doc("Undocumented"))]
        for fixed, doc in variants:
            entry = paths.setdefault(openapi_path(spec.rule, fixed), {})
            entry[spec.method.lower()] = _operation(spec, fixed, doc)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "Snakepit",
            "version": "1",
            "description": "The Snakepit service: users, groups, nodes, jobs and their data.",
        },
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"}
            },
        },
    }
