"""What the role tables share: the roles, the case record and the usual expectations.

Each route family keeps its rows in a ``tests/roles_<family>.py`` module with a ``CASES`` list;
``tests/test_roles.py`` runs them all and checks that together they cover every declared route.
"""

import dataclasses
from typing import Any

ROLES = ("anon", "forged", "other", "self", "admin")


@dataclasses.dataclass(frozen=True)
class Case:
    method: str
    rule: str
    path: str  # {user} is the target user, {new} a name not yet taken
    expected: dict[str, int]
    body: Any = None  # sent as JSON; strings in it are filled like the path
    content: bytes | None = None  # sent raw instead of a JSON body
    headers: dict[str, str] | None = None


def everyone(status: int) -> dict[str, int]:
    return dict.fromkeys(ROLES, status)


SIGNED_IN = {"anon": 401, "forged": 401, "other": 200, "self": 200, "admin": 200}
SELF_OR_ADMIN = {"anon": 401, "forged": 401, "other": 403, "self": 200, "admin": 200}
ADMIN_ONLY = {"anon": 401, "forged": 401, "other": 403, "self": 403, "admin": 200}
