"""How a file's status is reported: the file-system API's Attr and simplefs's stats."""

import os
import stat
from datetime import UTC, datetime
from typing import Any


def file_type(mode: int) -> str:
    """``file``, ``dir``, ``link`` or ``other``."""
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    return "other"


def attr(name: str, status: os.stat_result) -> dict[str, Any]:
    """An Attr object of the file-system API (``lstat`` values; a link is not followed)."""
    return {
        "name": name,
        "type": file_type(status.st_mode),
        "inode": status.st_ino,
        "size": status.st_size,
        "mode": stat.S_IMODE(status.st_mode),
        "nlink": status.st_nlink,
        "mtimeNs": status.st_mtime_ns,
        "ctimeNs": status.st_ctime_ns,
        "atimeNs": status.st_atime_ns,
    }


def iso_time(ns: int) -> str:
    """A time as JavaScript's ``toISOString`` writes it: ``2026-11-28T22:41:14.123Z``."""
    moment = datetime.fromtimestamp(ns // 1_000_000 / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def simple_stats(status: os.stat_result) -> dict[str, Any]:
    """The published simplefs ``stats`` object."""
    return {
        "isFile": stat.S_ISREG(status.st_mode),
        "size": status.st_size,
        "mtime": iso_time(status.st_mtime_ns),
        "atime": iso_time(status.st_atime_ns),
        "ctime": iso_time(status.st_ctime_ns),
    }
