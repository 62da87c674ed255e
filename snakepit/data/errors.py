"""File errors as the API reports them: an HTTP status plus the errno NAME.

Every failure below the data root becomes one :class:`~snakepit.errors.ApiError` whose body
carries ``"errno"`` (``ENOENT``, ``EACCES``, ...), so that the FUSE client maps it back to an
errno in one place. The statuses are part of the file-system API contract:

    404 ENOENT; 403 EACCES, EROFS; 409 EEXIST, ENOTEMPTY;
    400 EISDIR, ENOTDIR, EINVAL, ENAMETOOLONG; 507 ENOSPC; 413 EFBIG.
"""

import errno
import logging

from snakepit.errors import (
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    InsufficientStorage,
    NotFound,
    PayloadTooLarge,
)

log = logging.getLogger("snakepit.data")

#: The error class for each errno name the contract knows.
CLASSES: dict[str, type[ApiError]] = {
    "ENOENT": NotFound,
    "EACCES": Forbidden,
    "EROFS": Forbidden,
    "EEXIST": Conflict,
    "ENOTEMPTY": Conflict,
    "EISDIR": BadRequest,
    "ENOTDIR": BadRequest,
    "EINVAL": BadRequest,
    "ENAMETOOLONG": BadRequest,
    "ENOSPC": InsufficientStorage,
    "EFBIG": PayloadTooLarge,
}

#: What each errno means, for messages.
MEANINGS = {
    "ENOENT": "No such file or directory",
    "EACCES": "Permission denied",
    "EROFS": "Read-only for you",
    "EEXIST": "Already exists",
    "ENOTEMPTY": "Directory not empty",
    "EISDIR": "Is a directory",
    "ENOTDIR": "Not a directory",
    "EINVAL": "Invalid argument",
    "ENAMETOOLONG": "Name too long",
    "ENOSPC": "No space left on the device",
    "EFBIG": "Too large",
}

#: Errnos reported under another contract name: a symlink refused by O_NOFOLLOW is EACCES,
#: a full quota is a full disk.
ALIASES = {
    errno.ELOOP: "EACCES",
    errno.EPERM: "EACCES",
    errno.EDQUOT: "ENOSPC",
    errno.EXDEV: "EINVAL",
    errno.EMLINK: "ENOSPC",
    errno.ENXIO: "EINVAL",
}


def file_error(name: str, what: str, detail: str | None = None) -> ApiError:
    """The error for errno ``name`` about ``what`` (a path as the client gave it).

    Args:
        name: An errno name from :data:`CLASSES`.
        what: The path concerned, relative to its domain (``""`` is the domain root).
        detail: A message replacing the errno's plain meaning.
    """
    text = detail or MEANINGS[name]
    return CLASSES[name](f"{text}: /{what}", extra={"errno": name})


def from_os_error(error: OSError, what: str) -> ApiError:
    """Translate an ``OSError`` from a file operation on ``what``.

    An errno outside the contract is a fault of the service or its disk: logged, and answered
    500 with the errno name still attached.
    """
    code = error.errno or 0
    name = ALIASES.get(code) or errno.errorcode.get(code, "EIO")
    if name in CLASSES:
        detail = "Symbolic links are not followed" if code == errno.ELOOP else None
        return file_error(name, what, detail)
    log.error("File operation on /%s failed", what, exc_info=error)
    return ApiError(f"Disk error ({name}) on /{what}", extra={"errno": name})
