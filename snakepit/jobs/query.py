"""The job list's query language (``GET /jobs?...``), read into a checked value.

All parameters combine with AND. Unlike the published service, ``since`` and ``till`` combine
(``till`` no longer overwrites ``since``), ``user`` orders by the owner, and a date that cannot
be read is a 400 naming the parameter instead of a database error.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from snakepit.errors import BadRequest
from snakepit.ids import USER_ID, is_number, matches

#: Sort fields of the query language → columns of ``jobs``.
SORT_FIELDS = {"date": "since", "user": "user_id", "title": "description", "state": "state"}
PARAMETERS = frozenset({"since", "till", "user", "title", "asc", "desc", "limit", "offset"})


@dataclasses.dataclass(frozen=True)
class JobQuery:
    since: str | None = None  #: ISO time, inclusive
    till: str | None = None  #: ISO time, inclusive
    user: str | None = None
    title: str | None = None  #: SQL LIKE pattern
    order: tuple[tuple[str, bool], ...] = ()  #: (column, ascending)
    limit: int = 100
    offset: int = 0


def parse_query(args: Mapping[str, Sequence[str]], query_limit: int) -> JobQuery:
    """Check the parameters of ``GET /jobs``.

    Args:
        args: each parameter name with all its values, in the order given.
        query_limit: the most jobs one answer may hold (``queryLimit``).

    Raises:
        BadRequest: ``Unknown query parameter <p>`` or ``Cannot parse query parameter <p>``.
    """
    for name in args:
        if name not in PARAMETERS:
            raise BadRequest(f"Unknown query parameter {name}")
    fields: dict[str, object] = {"limit": query_limit}
    order: list[tuple[str, bool]] = []
    for name, values in args.items():
        for value in values:
            if name in ("since", "till"):
                fields[name] = _date(name, value)
            elif name == "user":
                if not matches(USER_ID, value):
                    raise BadRequest("Cannot parse query parameter user")
                fields["user"] = value
            elif name == "title":
                if not value or len(value) > 255:
                    raise BadRequest("Cannot parse query parameter title")
                fields["title"] = value
            elif name in ("asc", "desc"):
                if value not in SORT_FIELDS:
                    raise BadRequest(
                        f"Cannot parse query parameter {name}: sort by one of "
                        + ", ".join(SORT_FIELDS)
                    )
                order.append((SORT_FIELDS[value], name == "asc"))
            elif name == "limit":
                fields["limit"] = min(_number(name, value, low=1), query_limit)
            elif name == "offset":
                fields["offset"] = _number(name, value, low=0)
    return JobQuery(order=tuple(order), **fields)  # type: ignore[arg-type]


def _number(name: str, value: str, *, low: int) -> int:
    if not is_number(value, 9) or int(value) < low:
        raise BadRequest(f"Cannot parse query parameter {name}")
    return int(value)


def _date(name: str, value: str) -> str:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Cannot parse query parameter {name}: use an ISO date") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")
