"""What every command gets: where to look for the ``.pit*.txt`` files, the debug switch, and
an authenticated :class:`Session` opened on demand (with the first-use dialogue and re-login).
"""

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from pathlib import Path

from snakepit.cli import prompts
from snakepit.client import accounts
from snakepit.client.errors import ClientError
from snakepit.client.pitfiles import (
    USER_FILE,
    Identity,
    Places,
    load_connection,
    load_identity,
    store_identity,
)
from snakepit.client.session import Session


class Quit(Exception):
    """Leave quietly with ``code`` (the user declined registration, for instance)."""

    def __init__(self, code: int = 0) -> None:
        super().__init__(code)
        self.code = code


def say(*lines: str) -> None:
    """Status chatter, on stderr."""
    for line in lines:
        print(line, file=sys.stderr, flush=True)


@dataclasses.dataclass
class Context:
    places: Places
    debug: bool = False
    identity: Identity | None = None
    _password: str | None = None
    _session: Session | None = None

    def password(self, prompt: str = "Please enter password: ") -> str:
        """The user's password, asked at most once per run."""
        if self._password is None:
            self._password = prompts.ask_secret(prompt)
        return self._password

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A signed-in session; asks who the user is on first use, re-signs in on 401."""
        connection, connect_path = load_connection(self.places)
        with Session(connection, self._relogin, debug=self.debug) as session:
            self._session = session
            self.identity = load_identity(self.places)
            if self.identity is None:
                self.identity = self._first_use(session, connect_path.parent / USER_FILE)
            if self.identity.token is None:
                self._sign_in(session)
            else:
                session.set_token(self.identity.token)
            yield session

    def _relogin(self) -> str:
        assert self._session is not None
        return self._sign_in(self._session)

    def _sign_in(self, session: Session) -> str:
        identity = self.identity
        assert identity is not None
        password = self.password()
        session.set_token(None)
        try:
            token = accounts.authenticate(session, identity.user, password)
        except ClientError as error:
            if error.status is None:
                raise
            raise ClientError(
                f'Unable to authenticate. If user "{identity.user}" is not valid anymore, remove'
                f' "{USER_FILE}" from this directory or your home folder and start over.'
            ) from None
        self.identity = dataclasses.replace(identity, token=token)
        store_identity(self.identity)
        session.set_token(token)
        return token

    def _first_use(self, session: Session, path: Path) -> Identity:
        say("No user info found. Seems like a new user or first time login from this machine.")
        user = prompts.ask("Please enter an existing or new username: ").strip()
        if not user:
            raise ClientError("No username given")
        if not accounts.user_exists(session, user):
            say("Found no user of that name.")
            if not prompts.confirm("Do you want to register a new user with this name (yN)? "):
                raise Quit(0)
            fullname = prompts.ask("Full name: ")
            email = prompts.ask_email()
            password = prompts.ask_new_password()
            accounts.register(
                session, user, {"fullname": fullname, "email": email, "password": password}
            )
            self._password = password
        self.identity = Identity(user, None, path)
        self._sign_in(session)
        return self.identity
