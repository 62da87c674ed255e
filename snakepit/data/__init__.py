"""Data domains (shared, groups, home, pits), the one path resolver, and file operations.

Nothing here imports Quart: the routes in :mod:`snakepit.api.files` stay thin and call
:class:`DataFiles` with a :class:`Domain` and the checked components of a path.
"""

from snakepit.data.domains import Domain, Kind, Right, find_domain
from snakepit.data.errors import file_error, from_os_error
from snakepit.data.paths import split_encoded, split_path
from snakepit.data.ranges import ByteRange, parse_range
from snakepit.data.resolver import Target, resolve
from snakepit.data.service import CHUNK, DataFiles

__all__ = [
    "CHUNK",
    "ByteRange",
    "DataFiles",
    "Domain",
    "Kind",
    "Right",
    "Target",
    "file_error",
    "find_domain",
    "from_os_error",
    "parse_range",
    "resolve",
    "split_encoded",
    "split_path",
]
