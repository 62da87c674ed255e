"""Role rows for the data routes (``snakepit/api/files.py``): simplefs and the file-system API
under each of the four domain prefixes.

Rights are checked before the path is looked at, so a reader asking for a missing file gets
404 where anybody else gets 403. What each role may do per domain (``self`` is carol, a member
of group lab and owner of ``{job}``; ``other`` is bob):

    shared      everyone reads (anonymous too), nobody writes (403 EROFS)
    home        carol and admins read and write
    groups/lab  members (carol) and admins read and write
    jobs/{job}  the owner and admins read; nobody writes (403 EROFS)
"""

from typing import Any

from tests.roles_common import ROLES, Case

#: prefix rule, the prefix as requested, who reads, who writes
DOMAINS = (
    ("/shared", "/shared", {"anon", "other", "self", "admin"}, set()),
    ("/users/<user>", "/users/{user}", {"self", "admin"}, {"self", "admin"}),
    ("/groups/<group>", "/groups/lab", {"self", "admin"}, {"self", "admin"}),
    ("/jobs/<job>", "/jobs/{job}", {"self", "admin"}, set()),
)


def expect(rule: str, granted: set[str], status: int) -> dict[str, int]:
    """``status`` for the roles in ``granted``, 401 without a valid token where one is needed,
    403 for everybody else."""
    anonymous_allowed = rule == "/shared"
    expected = {}
    for role in ROLES:
        if role == "forged" or (role == "anon" and not anonymous_allowed):
            expected[role] = 401
        else:
            expected[role] = status if role in granted else 403
    return expected


def domain_cases(rule: str, path: str, readers: set[str], writers: set[str]) -> list[Case]:
    # A file every domain of the role test has: the job's log; elsewhere a missing name.
    existing = "pit.log" if rule == "/jobs/<job>" else None
    found = 200 if existing else 404
    name = existing or "missing.txt"

    def case(method: str, rule_tail: str, path_tail: str, who: set[str], status: int,
             body: Any = None) -> Case:  # fmt: skip
        return Case(method, rule + rule_tail, path + path_tail, expect(rule, who, status), body)

    return [
        # The file-system API: the root without and with a slash, then a path.
        case("GET", "/fs/<op>", "/fs/attr", readers, 200),
        case("GET", "/fs/<op>/", "/fs/dir/", readers, 200),
        case("GET", "/fs/<op>/<path:rest>", f"/fs/data/{name}", readers, found),
        case("PUT", "/fs/<op>", "/fs/data", writers, 400),  # the root is a directory: EISDIR
        case("PUT", "/fs/<op>/", "/fs/data/", writers, 400),
        case("PUT", "/fs/<op>/<path:rest>", "/fs/data/missing.txt", writers, 404),
        case("POST", "/fs/<op>", "/fs/setattr", writers, 200, {}),
        case("POST", "/fs/<op>/", "/fs/mkdir/", writers, 409),  # the root exists: EEXIST
        case("POST", "/fs/<op>/<path:rest>", "/fs/create/{new}.txt", writers, 200, {}),
        case("DELETE", "/fs/<op>", "/fs/dir", set(), 403),  # the root is never removed
        case("DELETE", "/fs/<op>/", "/fs/file/", set(), 403),
        case("DELETE", "/fs/<op>/<path:rest>", "/fs/file/missing.txt", writers, 404),
        # simplefs.
        case("GET", "/simplefs/<aspect>/", "/simplefs/content/", readers, 200),
        case("GET", "/simplefs/<aspect>/<path:rest>", f"/simplefs/stats/{name}", readers, found),
        case("PUT", "/simplefs/<aspect>/", "/simplefs/content/", writers, 400),  # not a file
        case(
            "PUT",
            "/simplefs/<aspect>/<path:rest>",
            "/simplefs/stats/{new}",
            writers,
            200,
            {"type": "directory"},
        ),
        case("DELETE", "/simplefs/<aspect>/", "/simplefs/stats/", set(), 403),
        case("DELETE", "/simplefs/<aspect>/<path:rest>", "/simplefs/stats/missing", writers, 404),
    ]


CASES = [case for domain in DOMAINS for case in domain_cases(*domain)]
