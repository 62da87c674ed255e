"""Formats of the ids in URLs, as the published service checked them.

Each id is limited in length too, so that an over-long id is a clear 400, never a database
error or a file name the kernel refuses.
"""

import re

#: Longest id accepted for users, groups, nodes and aliases.
MAX_ID_LENGTH = 64

USER_ID = re.compile(r"[a-z][a-z0-9]*")
GROUP_ID = re.compile(r"[a-z]+")
NODE_ID = re.compile(r"[a-z][a-z0-9]*")
ALIAS_ID = re.compile(r"[a-z][a-z0-9]*")
#: At most 18 digits: every job number fits SQLite's 64-bit integers.
JOB_ID = re.compile(r"[0-9]{1,18}")


def is_number(text: str, max_digits: int = 18) -> bool:
    """Whether ``text`` is 1 to ``max_digits`` ASCII digits (``str.isdigit`` also takes "²",
    which ``int`` refuses; 18 digits always fit a 64-bit integer)."""
    return 0 < len(text) <= max_digits and text.isascii() and text.isdigit()


def matches(pattern: re.Pattern[str], value: str, max_length: int = MAX_ID_LENGTH) -> bool:
    return len(value) <= max_length and pattern.fullmatch(value) is not None
