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
JOB_ID = re.compile(r"[0-9]+")


def matches(pattern: re.Pattern[str], value: str, max_length: int = MAX_ID_LENGTH) -> bool:
    return len(value) <= max_length and pattern.fullmatch(value) is not None
