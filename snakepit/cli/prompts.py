"""Questions to the user: lines, hidden passwords and yes/no, on the terminal or from stdin.

Prompts go to stderr so that stdout carries only a command's data. Passwords are read with
``getpass`` from the terminal; when stdin is not a terminal (scripts, the tests) every answer is
one line of stdin. These functions block: async code calls them through ``trio.to_thread``.
"""

import getpass
import string
import sys

from snakepit.client.errors import ClientError

#: Characters allowed in a new password (printable ASCII; unlike the published client, spaces
#: too, for passphrases), and the published client's length limits.
PASSWORD_CHARS = (frozenset(string.printable) - frozenset(string.whitespace)) | {" "}
PASSWORD_MIN, PASSWORD_MAX = 12, 24


def _read_line(prompt: str) -> str:
    sys.stderr.write(prompt)
    sys.stderr.flush()
    line = sys.stdin.readline()
    if not sys.stdin.isatty():
        sys.stderr.write("\n")  # the answer was not echoed: end the prompt's line
    if not line:
        raise ClientError("Aborted (no more input)")
    return line.rstrip("\r\n")


def ask(prompt: str) -> str:
    """One line of input after ``prompt``."""
    return _read_line(prompt)


def ask_secret(prompt: str) -> str:
    """A password: hidden on a terminal, else one line of stdin."""
    if sys.stdin.isatty():
        try:
            return getpass.getpass(prompt, stream=sys.stderr)
        except EOFError:
            raise ClientError("Aborted (no more input)") from None
    return _read_line(prompt)


def confirm(prompt: str) -> bool:
    """A ``(yN)`` question: only ``y`` or ``yes`` (any case) is a yes."""
    return ask(prompt).strip().lower() in ("y", "yes")


def password_problem(password: str) -> str | None:
    """Why ``password`` is refused as a new password (12-24 printable characters), or None."""
    if not all(char in PASSWORD_CHARS for char in password):
        return "It can include printable ASCII characters and spaces only"
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        return f"And the length must be: {PASSWORD_MIN}...{PASSWORD_MAX}"
    return None


def ask_new_password(prompt: str = "New password: ") -> str:
    """A new password, asked twice; re-asked while it breaks the rules or the two differ."""
    for _ in range(5):
        first = ask_secret(prompt)
        problem = password_problem(first)
        if problem is not None:
            print(problem, file=sys.stderr)
            continue
        if ask_secret("Reinput a same one to confirm it: ") == first:
            return first
        print("It differs from first one. Try again.", file=sys.stderr)
    raise ClientError("No valid new password given")


def ask_email(prompt: str = "E-Mail address: ") -> str:
    for _ in range(5):
        answer = ask(prompt).strip()
        local, _, domain = answer.partition("@")
        if local and "." in domain and " " not in answer:
            return answer
        print("Input valid e-mail address, please.", file=sys.stderr)
    raise ClientError("No valid e-mail address given")
