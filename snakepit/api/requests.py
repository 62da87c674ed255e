"""Reading request input: the JSON body, field by field, and the query string.

Every check ends in a :class:`~snakepit.errors.BadRequest` (or 413/415) whose message names the
field or parameter at fault.
"""

import dataclasses
import json
from collections.abc import Collection, Mapping
from typing import Any

from quart import request
from werkzeug.exceptions import RequestEntityTooLarge, RequestTimeout

from snakepit.errors import BadRequest, PayloadTooLarge
from snakepit.ids import is_number

#: Largest whole number a JSON field may hold (it must fit SQLite and the file system).
MAX_INT = 2**63 - 1

#: Longest accepted text field unless a field says otherwise.
MAX_FIELD_LENGTH = 255


@dataclasses.dataclass(frozen=True)
class Field:
    """One accepted key of a JSON body."""

    kind: type  # str, bool, int (or a string of digits) or list (of strings)
    required: bool = False
    max_length: int = MAX_FIELD_LENGTH
    #: For ``list``: the longest list and the longest item.
    max_items: int = 100
    #: For ``str``: bytes that are not UTF-8 may come escaped as U+DC80..U+DCFF (Python's
    #: ``surrogateescape``, as a client sends a diff of Latin-1 files); other fields refuse
    #: every surrogate, which no storage could encode.
    escaped_bytes: bool = False


async def read_body() -> bytes:
    """The whole request body, within the configured limit."""
    try:
        data = await request.get_data(cache=True, as_text=False)
    except RequestEntityTooLarge:
        limit = request.max_content_length
        raise PayloadTooLarge(f"Request body larger than {limit} bytes") from None
    except RequestTimeout:
        raise BadRequest("Request body not received in time") from None
    assert isinstance(data, bytes)
    return data


async def read_json(fields: Mapping[str, Field]) -> dict[str, Any]:
    """Parse the body as a JSON object holding only ``fields``, each of the right type.

    An empty body counts as ``{}``.

    Raises:
        BadRequest: malformed JSON, not an object, an unknown or missing field, a wrong type,
            a value too long.
        PayloadTooLarge: the body exceeds ``maxBodySize``.
    """
    raw = await read_body()
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except UnicodeDecodeError:
            raise BadRequest("Malformed JSON body: not UTF-8") from None
        except ValueError as error:
            raise BadRequest(f"Malformed JSON body: {error}") from None
    if not isinstance(data, dict):
        raise BadRequest("JSON body must be an object")
    for key in data:
        if key not in fields:
            raise BadRequest(f"Unknown field {key!r}")
    for key, field in fields.items():
        if key not in data or data[key] is None:
            if field.required:
                raise BadRequest(f"Missing field {key!r}")
            data.pop(key, None)
            continue
        _check_field(key, data[key], field)
    return data


def _check_field(key: str, value: Any, field: Field) -> None:
    if field.kind is bool:
        if not isinstance(value, bool):
            raise BadRequest(f"Field {key!r} must be true or false")
    elif field.kind is str:
        if not isinstance(value, str):
            raise BadRequest(f"Field {key!r} must be a string")
        _check_text(key, value, field.max_length, field.escaped_bytes)
    elif field.kind is int:
        if isinstance(value, str) and is_number(value, 12):
            return
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise BadRequest(f"Field {key!r} must be a whole number")
        if value > MAX_INT:
            raise BadRequest(f"Field {key!r} is too large (at most {MAX_INT})")
    elif field.kind is list:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise BadRequest(f"Field {key!r} must be a list of strings")
        if len(value) > field.max_items:
            raise BadRequest(f"Field {key!r} has more than {field.max_items} items")
        for item in value:
            _check_text(key, item, field.max_length)


def _check_text(key: str, value: str, max_length: int, escaped_bytes: bool = False) -> None:
    if len(value) > max_length:
        raise BadRequest(f"Field {key!r} is longer than {max_length} characters")
    if "\0" in value:
        raise BadRequest(f"Field {key!r} contains a NUL character")
    try:
        value.encode("utf-8", "surrogateescape" if escaped_bytes else "strict")
    except UnicodeEncodeError:
        raise BadRequest(f"Field {key!r} is not valid text (a lone surrogate)") from None


def check_query(allowed: Collection[str]) -> None:
    """Refuse query parameters the route does not know."""
    for name in request.args:
        if name not in allowed:
            raise BadRequest(f"Unknown query parameter {name}")
