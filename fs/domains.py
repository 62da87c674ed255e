"""Which data domain a mount shows: the user's words (``home``, ``group:lab``) to a route prefix."""

import re

#: Names of users and groups as the service accepts them (it answers 404 for anything else).
NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]*$", re.IGNORECASE)


class MountError(Exception):
    """A mount that cannot be made or undone; the message is meant for the user."""


def domain_prefix(domain: str) -> str:
    """The route prefix of ``domain``.

    Args:
        domain: ``home``, ``shared``, ``group:NAME``, ``job:N`` or a bare ``N``, ``user:NAME``.

    Returns:
        ``/users/~``, ``/shared``, ``/groups/NAME``, ``/jobs/N`` or ``/users/NAME``.

    Raises:
        MountError: the domain is none of these.
    """
    if domain == "home":
        return "/users/~"
    if domain == "shared":
        return "/shared"
    kind, _, value = domain.partition(":")
    if not value and kind.isdigit():
        kind, value = "job", kind
    if kind == "job" and value.isdigit() and int(value) > 0:
        return f"/jobs/{int(value)}"
    if kind in ("group", "user") and NAME.match(value):
        return f"/{kind}s/{value}"
    raise MountError(
        f"Unknown data domain {domain!r}: use home, shared, group:NAME, job:NUMBER (or NUMBER)"
        " or user:NAME"
    )
