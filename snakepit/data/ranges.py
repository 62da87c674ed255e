"""The ``Range`` request header: one byte range, or none.

    bytes=a-b   bytes a to b inclusive (b past the end is cut to the end)
    bytes=a-    from a to the end
    bytes=-n    the last n bytes

Several ranges, or a range starting at or past the end (so any range of an empty file), are
416; a header of any other shape is 400. Both carry errno EINVAL.
"""

import dataclasses
import re

from snakepit.errors import BadRequest, RangeNotSatisfiable

RANGE = re.compile(r"bytes=(\d{0,19})-(\d{0,19})")


@dataclasses.dataclass(frozen=True)
class ByteRange:
    start: int
    #: One past the last byte.
    stop: int

    @property
    def length(self) -> int:
        return self.stop - self.start

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.stop - 1}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range asked for by ``header`` in a file of ``size`` bytes; None for the whole file.

    Raises:
        BadRequest: a malformed header.
        RangeNotSatisfiable: several ranges, or none inside the file.
    """
    if header is None:
        return None
    text = header.strip()
    if "," in text and text.startswith("bytes="):
        raise _unsatisfiable("Only a single range is supported", size)
    match = RANGE.fullmatch(text)
    if match is None or match.group(1) == match.group(2) == "":
        raise BadRequest(f"Malformed Range header: {header[:100]!r}", extra={"errno": "EINVAL"})
    first, last = match.group(1), match.group(2)
    if first == "":
        start, stop = max(0, size - int(last)), size
        if int(last) == 0:
            raise _unsatisfiable("Empty suffix range", size)
    else:
        start = int(first)
        stop = size if last == "" else min(size, int(last) + 1)
        if last != "" and int(last) < start:
            raise BadRequest(f"Malformed Range header: {header[:100]!r}", extra={"errno": "EINVAL"})
    if start >= size:
        raise _unsatisfiable(f"Range starts at or past the end of the file ({size} bytes)", size)
    return ByteRange(start, stop)


def _unsatisfiable(message: str, size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(message, extra={"errno": "EINVAL", "size": size})
