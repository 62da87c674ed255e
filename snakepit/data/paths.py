"""Relative paths from the client, checked part by part before anything touches the disk.

A path is the text after a domain's prefix, ``/``-separated and already URL-decoded. It is
split into components; an empty, ``.``, ``..`` or NUL-holding component is refused (so are an
absolute path, which starts with an empty component, and ``a//b``). One trailing ``/`` is
allowed (``dir/`` is ``dir``). A backslash is an ordinary character on Linux and stays one.
"""

import os
from urllib.parse import unquote_to_bytes

from snakepit.data.errors import file_error

#: Longest file name the kernel accepts, in bytes.
NAME_MAX = 255
#: Longest relative path accepted, in bytes.
PATH_MAX = 4095


def split_path(text: str) -> tuple[str, ...]:
    """The components of ``text``; ``()`` for the domain root, which is the empty text only
    (``"/"`` is an absolute path and refused).

    Raises:
        ApiError: 400 EINVAL for an empty, ``.``, ``..`` or NUL component or an absolute path;
            400 ENAMETOOLONG for a component over 255 bytes or a path over 4095.
    """
    if text == "":
        return ()
    if len(text) > PATH_MAX:
        raise file_error("ENAMETOOLONG", text[:64] + "...", "Path too long")
    parts = text.split("/")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()
    for part in parts:
        check_name(part, text)
    if len(os.fsencode(text)) > PATH_MAX:  # every part encodes: checked just above
        raise file_error("ENAMETOOLONG", text[:64] + "...", "Path too long")
    return tuple(parts)


def split_encoded(segments: list[bytes]) -> tuple[str, ...]:
    """The components of a URL path's raw, still percent-encoded ``segments``.

    Each segment is decoded to bytes, so a file name need not be UTF-8 (it comes back as
    Python's surrogate-escaped ``str``, as ``os.listdir`` gives it). An encoded ``/`` inside a
    segment is refused; ``[]`` and ``[b""]`` are the root.

    Raises:
        ApiError: as :func:`split_path`.
    """
    names = [os.fsdecode(unquote_to_bytes(segment)) for segment in segments]
    if names in ([], [""]):
        return ()
    text = "/".join(names)
    for name in names:
        if "/" in name:
            raise file_error("EINVAL", text, "Encoded '/' in a file name")
    return split_path(text)


def check_name(part: str, text: str) -> None:
    """Refuse a component that is not a plain file name.

    Raises:
        ApiError: 400 EINVAL or ENAMETOOLONG, naming ``text``.
    """
    if part == "":
        problem = "Absolute path" if text.startswith("/") else "Empty path component"
        raise file_error("EINVAL", text, problem)
    if part in (".", ".."):
        raise file_error("EINVAL", text, f"Path component {part!r} not allowed")
    if "\0" in part:
        raise file_error("EINVAL", text.replace("\0", "\\0"), "NUL character in path")
    try:
        encoded = os.fsencode(part)
    except UnicodeEncodeError:
        raise file_error("EINVAL", text, "Path is not valid text") from None
    if len(encoded) > NAME_MAX:
        raise file_error("ENAMETOOLONG", text[:64] + "...", "File name too long")


def join_parts(parts: tuple[str, ...]) -> str:
    """The relative path of ``parts`` as it appears in messages."""
    return "/".join(parts)
