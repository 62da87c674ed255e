"""Users: existence, registration, sign-in and profile changes."""

from typing import Any

from snakepit.client.connection import route
from snakepit.client.errors import ClientError
from snakepit.client.session import Session


def user_exists(session: Session, user: str) -> bool:
    """Whether ``user`` is registered (asked without a token)."""
    try:
        session.request("GET", route("users", user, "exists"))
    except ClientError as error:
        if error.status == 404:
            return False
        raise
    return True


def register(session: Session, user: str, fields: dict[str, Any]) -> None:
    """Create ``user`` with ``fields`` (``fullname``, ``email``, ``password``)."""
    session.request("PUT", route("users", user), fields)


def authenticate(session: Session, user: str, password: str) -> str:
    """Sign ``user`` in; returns the token.

    Raises:
        ClientError: wrong password (400) or unknown user (404), as the service says.
    """
    answer = session.json("POST", route("users", user, "authenticate"), {"password": password})
    if not isinstance(answer, dict) or not isinstance(answer.get("token"), str):
        raise ClientError("Problem parsing pit response.")
    return str(answer["token"])


def update_user(session: Session, user: str, fields: dict[str, Any]) -> None:
    """Change ``user`` (``~`` for oneself); ``fields`` include the caller's ``verification``."""
    session.request("POST", route("users", user), fields)
