"""The one place where failures become errno values for the kernel.

pyfuse3 only understands :class:`pyfuse3.FUSEError`: anything else raised by an operation ends
``pyfuse3.main()`` and drops the mount. Every operation therefore runs inside
:func:`fuse_errors`, which maps the file-system API's errno names and ``OSError`` to
``FUSEError`` and anything unexpected to EIO, with the traceback logged.
"""

import contextlib
import errno
import logging
from collections.abc import Iterator

import pyfuse3

from snakepit.client.filesystem import FsError

log = logging.getLogger(__name__)


def errno_of(name: str) -> int:
    """The errno value of an errno name such as ``"ENOENT"``; EIO for names this system lacks."""
    value = getattr(errno, name, None) if name.startswith("E") else None
    return value if isinstance(value, int) else errno.EIO


@contextlib.contextmanager
def fuse_errors(op: str, inode: int | None) -> Iterator[None]:
    """Run one FUSE operation's body, turning every failure into a ``FUSEError``.

    Args:
        op: The operation's name, for the log.
        inode: The inode (or file handle) it works on, for the log.

    Raises:
        pyfuse3.FUSEError: always, in place of any exception of the body.
    """
    try:
        yield
    except pyfuse3.FUSEError:
        raise
    except FsError as error:
        if error.errno_name == "EIO":  # info, not warning: a service that is down fails every op
            log.info("%s(%s): %s", op, inode, error.message)
        raise pyfuse3.FUSEError(errno_of(error.errno_name)) from None
    except OSError as error:
        raise pyfuse3.FUSEError(error.errno or errno.EIO) from None
    except Exception:
        log.exception("%s(%s) failed unexpectedly", op, inode)
        raise pyfuse3.FUSEError(errno.EIO) from None
