"""The kernel's view of a file: :class:`pyfuse3.EntryAttributes` from the service's attributes."""

import stat

import pyfuse3

from fs.caches import TTL_S
from snakepit.client.filesystem import Attr

#: File type bits by the API's ``type``; anything else shows as a regular file.
TYPE_BITS = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "link": stat.S_IFLNK}

#: Preferred I/O size reported to programs (``cp`` and friends read this much at a time).
BLOCK_SIZE = 1024 * 1024


def entry_attributes(inode: int, attr: Attr, uid: int, gid: int) -> pyfuse3.EntryAttributes:
    """The attributes of ``attr`` as FUSE inode ``inode``, owned by the mounting user.

    The files belong to the service's data owner on the server; on this side they show as the
    user who mounted them, with the server's permission bits.
    """
    entry = pyfuse3.EntryAttributes()
    entry.st_ino = inode
    entry.generation = 0
    entry.entry_timeout = TTL_S
    entry.attr_timeout = TTL_S
    entry.st_mode = TYPE_BITS.get(attr.type, stat.S_IFREG) | (attr.mode & 0o7777)
    entry.st_nlink = max(attr.nlink, 1)
    entry.st_uid = uid
    entry.st_gid = gid
    entry.st_rdev = 0
    entry.st_size = attr.size
    entry.st_blksize = BLOCK_SIZE
    entry.st_blocks = (attr.size + 511) // 512
    entry.st_atime_ns = attr.atime_ns
    entry.st_mtime_ns = attr.mtime_ns
    entry.st_ctime_ns = attr.ctime_ns
    return entry
