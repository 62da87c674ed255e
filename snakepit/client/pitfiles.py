"""The files ``pit`` keeps next to a project: ``.pitconnect.txt`` and ``.pituser.txt``.

Both are looked up in the current directory first, then in the home directory, as the published
client does (no walk up through parent directories). ``.pituser.txt`` holds ``<user>\\n<token>``
and is written with mode 0600.
"""

import dataclasses
import os
from pathlib import Path

from snakepit.client.connection import Connection
from snakepit.client.errors import ClientError

CONNECT_FILE = ".pitconnect.txt"
USER_FILE = ".pituser.txt"
REQUEST_FILE = ".pitrequest.txt"

#: What the published client says when no connection file is found.
NO_CONNECTION = (
    "Unable to find connectivity info about your pit.\n"
    'If your pit admin provided a ".pitconnect.txt" file, place it either in your home directory'
    " (as default pit) or the (overruling) project root."
)


@dataclasses.dataclass(frozen=True)
class Places:
    """The two directories looked in: the working directory, then home."""

    cwd: Path
    home: Path

    @classmethod
    def current(cls) -> "Places":
        return cls(Path.cwd(), Path.home())

    def find(self, name: str) -> Path | None:
        for folder in (self.cwd, self.home):
            path = folder / name
            if path.is_file():
                return path
        return None


@dataclasses.dataclass(frozen=True)
class Identity:
    """A user name and the token signed for it, with the file they came from or go to."""

    user: str
    token: str | None
    path: Path


def load_connection(places: Places) -> tuple[Connection, Path]:
    """The connection from the first ``.pitconnect.txt`` found, and that file's path.

    Raises:
        ClientError: no file found (the published three-line hint), or a malformed file.
    """
    path = places.find(CONNECT_FILE)
    if path is None:
        raise ClientError(NO_CONNECTION)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ClientError(f"Unable to read {path}: {error}") from None
    return Connection.from_text(text), path


def load_identity(places: Places) -> Identity | None:
    """The user and token of the first ``.pituser.txt`` found; None when there is none."""
    path = places.find(USER_FILE)
    if path is None:
        return None
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise ClientError(f"Unable to read {path}: {error}") from None
    user = lines[0].strip() if lines else ""
    token = lines[1].strip() if len(lines) > 1 else ""
    if not user:
        return None
    return Identity(user, token or None, path)


def store_identity(identity: Identity) -> None:
    """Write ``identity`` to its file, readable by its owner only (mode 0600).

    Raises:
        ClientError: ``Unable to store user info: <error>``.
    """
    text = identity.user + "\n" + (identity.token or "")
    temporary = identity.path.with_name(identity.path.name + ".tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as stream:
            stream.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, identity.path)
    except OSError as error:
        raise ClientError(f"Unable to store user info: {error}") from None


def read_request_file(cwd: Path) -> str | None:
    """The trimmed content of ``./.pitrequest.txt``, or None."""
    path = cwd / REQUEST_FILE
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise ClientError(f"Unable to read {path}: {error}") from None
