"""Role rows of the websocket routes into a job's workers. The role table sends plain GETs: after
the access checks (the job's owner and administrators) they answer 404 ``Only web-socket
upgrades``."""

from tests.roles_common import Case

#: Owner and administrators pass the access check and meet the plain-GET refusal.
PLAIN_GET = {"anon": 401, "forged": 401, "other": 403, "self": 404, "admin": 404}

CASES = [
    Case(
        "GET",
        "/jobs/<job>/instances/<instance>/exec",
        "/jobs/{job}/instances/0/exec",
        PLAIN_GET,
    ),
    Case(
        "GET",
        "/jobs/<job>/instances/<instance>/forward",
        "/jobs/{job}/instances/0/forward",
        PLAIN_GET,
    ),
]
