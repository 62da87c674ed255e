"""The cluster request grammar (spec 4.1): ``2:[],4:[gtx1070,2:gtx1060]`` and friends.

A request is a comma-separated list of process groups; each group is an optional count and a
bracketed, comma-separated list of resource names, each with an optional count::

    cluster       := processGroup ("," processGroup)*
    processGroup  := integer ":" process | process     # count defaults to 1
    process       := "[" resourceList "]" | "[" "]"
    resourceList  := resourceGroup ("," resourceGroup)*
    resourceGroup := integer ":" resource | resource   # count defaults to 1
    resource      := [a-zA-Z][a-zA-Z0-9]*              # alias id or model name without spaces
    integer       := [0-9]+

No whitespace is allowed anywhere and counts of 0 parse. Two fixes over the published parser:
a name repeated within one process is merged (``[1:a,1:a]`` is ``[2:a]``; the published service
could hand out the same GPU twice for it), and requests that are too large are refused.

Exceptions::

    ValueError
    └── RequestError            not an acceptable request; .request, .position, .pointer
        ├── RequestSyntaxError  does not follow the grammar
        └── RequestLimitError   follows the grammar but asks for too much
"""

import dataclasses
import functools
import re
import types
from collections.abc import Mapping
from typing import NoReturn

#: Longest request text accepted, in characters.
MAX_REQUEST_LENGTH = 1000
#: Most processes one request may ask for, over all its process groups.
MAX_PROCESSES = 1000
#: Most resources of one name one process may ask for.
MAX_PER_NAME = 64
#: Characters of the request shown around the error position in messages.
_EXCERPT = 60

_NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9]*")
_COUNT = re.compile(r"[0-9]+")


class RequestError(ValueError):
    """A cluster request that cannot be accepted.

    Attributes:
        request: the request text as given.
        position: 0-based index of the character where the problem starts.
        pointer: two lines, the request (or an excerpt) and a caret under ``position``.
    """

    def __init__(self, message: str, request: str, position: int) -> None:
        super().__init__(message)
        self.message = message
        self.request = request
        self.position = position

    @property
    def pointer(self) -> str:
        excerpt, offset = _excerpt(self.request, self.position)
        return f"{excerpt}\n{' ' * offset}^"


class RequestSyntaxError(RequestError):
    """The request does not follow the grammar."""


class RequestLimitError(RequestError):
    """The request follows the grammar but asks for more than one job may."""


@dataclasses.dataclass(frozen=True)
class ResourceRequest:
    """``count`` resources called ``name`` (an alias id or an exact model name)."""

    count: int
    name: str

    def __str__(self) -> str:
        return self.name if self.count == 1 else f"{self.count}:{self.name}"


@dataclasses.dataclass(frozen=True)
class ProcessGroupRequest:
    """``count`` processes that each need all of ``resources`` on one node."""

    count: int
    resources: tuple[ResourceRequest, ...]

    def __str__(self) -> str:
        process = "[" + ",".join(map(str, self.resources)) + "]"
        return process if self.count == 1 else f"{self.count}:{process}"


@dataclasses.dataclass(frozen=True)
class ClusterRequest:
    """A parsed cluster request; ``str()`` gives its canonical text."""

    groups: tuple[ProcessGroupRequest, ...]

    def __str__(self) -> str:
        return ",".join(map(str, self.groups))

    @property
    def process_count(self) -> int:
        """Processes over all groups."""
        return sum(group.count for group in self.groups)

    @functools.cached_property
    def demand(self) -> Mapping[str, int]:
        """Resources needed in total per name, over all processes; names needed 0 times left out."""
        totals: dict[str, int] = {}
        for group in self.groups:
            for resource in group.resources:
                if group.count and resource.count:
                    totals[resource.name] = (
                        totals.get(resource.name, 0) + group.count * resource.count
                    )
        return types.MappingProxyType(totals)

    @functools.cached_property
    def names(self) -> frozenset[str]:
        """Names the job actually needs (the queue's FIFO is per name); empty for ``[]`` jobs."""
        return frozenset(self.demand)


def parse_request(text: str) -> ClusterRequest:
    """Parse a cluster request.

    Args:
        text: the request, e.g. ``2:[4:gtx1070]``.

    Returns:
        The request, with names repeated within one process merged.

    Raises:
        RequestSyntaxError: the text does not follow the grammar; the message names the position
            and what was expected there.
        RequestLimitError: the text is longer than ``MAX_REQUEST_LENGTH``, asks for more than
            ``MAX_PROCESSES`` processes or more than ``MAX_PER_NAME`` resources of one name in
            one process.
    """
    if len(text) > MAX_REQUEST_LENGTH:
        raise RequestLimitError(
            f"request is {len(text)} characters long; at most {MAX_REQUEST_LENGTH} are allowed",
            text,
            MAX_REQUEST_LENGTH,
        )
    return _Parser(text).cluster()


class _Parser:
    """Recursive descent over the text; one method per rule, ``pos`` is the next character."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.processes = 0

    def cluster(self) -> ClusterRequest:
        groups = [self.process_group()]
        while not self.at_end():
            self.expect(",", '"," or the end of the request')
            groups.append(self.process_group())
        return ClusterRequest(tuple(groups))

    def process_group(self) -> ProcessGroupRequest:
        start = self.pos
        count = self.count()
        if count is None:
            self.expect("[", 'a count or "["')
            count = 1
        else:
            self.expect(":", '":"')
            self.expect("[", '"["')
        self.processes += count
        if self.processes > MAX_PROCESSES:
            self.limit(
                f"{self.processes} processes",
                f"at most {MAX_PROCESSES} are allowed in total",
                start,
            )
        return ProcessGroupRequest(count, self.resource_list())

    def resource_list(self) -> tuple[ResourceRequest, ...]:
        if self.accept("]"):
            return ()
        merged: dict[str, int] = {}
        expected = 'a resource name, a count or "]"'
        while True:
            start = self.pos
            resource = self.resource_group(expected)
            total = merged.get(resource.name, 0) + resource.count
            if total > MAX_PER_NAME:
                self.limit(
                    f'{total} of "{resource.name}" in one process',
                    f"at most {MAX_PER_NAME} of one name are allowed per process",
                    start,
                )
            merged[resource.name] = total
            if self.accept("]"):
                return tuple(ResourceRequest(count, name) for name, count in merged.items())
            self.expect(",", '"," or "]"')
            expected = "a resource name or a count"

    def resource_group(self, expected: str) -> ResourceRequest:
        count = self.count()
        if count is None:
            return ResourceRequest(1, self.name(expected))
        self.expect(":", '":"')
        return ResourceRequest(count, self.name("a resource name"))

    def count(self) -> int | None:
        match = _COUNT.match(self.text, self.pos)
        if match is None:
            return None
        self.pos = match.end()
        return int(match.group())

    def name(self, expected: str) -> str:
        match = _NAME.match(self.text, self.pos)
        if match is None:
            self.fail(expected)
        self.pos = match.end()
        return match.group()

    def at_end(self) -> bool:
        return self.pos == len(self.text)

    def accept(self, char: str) -> bool:
        if self.text.startswith(char, self.pos):
            self.pos += 1
            return True
        return False

    def expect(self, char: str, expected: str) -> None:
        if not self.accept(char):
            self.fail(expected)

    def fail(self, expected: str) -> NoReturn:
        found = "the end of the request"
        if self.pos < len(self.text):
            found = _describe(self.text[self.pos])
        raise RequestSyntaxError(
            f"expected {expected} at position {self.pos} in {self.quoted(self.pos)}, found {found}",
            self.text,
            self.pos,
        )

    def limit(self, asked: str, allowed: str, position: int) -> NoReturn:
        raise RequestLimitError(
            f"asked for {asked} at position {position} in {self.quoted(position)}; {allowed}",
            self.text,
            position,
        )

    def quoted(self, position: int) -> str:
        return '"' + _excerpt(self.text, position)[0] + '"'


def _describe(char: str) -> str:
    if char.isspace():
        return "whitespace (none is allowed)"
    if char == '"':
        return "'\"'"
    return f'"{char}"' if char.isprintable() else f"U+{ord(char):04X}"


def _excerpt(text: str, position: int) -> tuple[str, int]:
    """A printable excerpt of ``text`` around ``position`` and the position within it."""
    start = 0
    if len(text) > _EXCERPT:
        start = max(0, min(position - _EXCERPT // 2, len(text) - _EXCERPT))
    excerpt = "".join(c if c.isprintable() else "?" for c in text[start : start + _EXCERPT])
    offset = position - start
    if start > 0:
        excerpt, offset = "..." + excerpt, offset + 3
    if start + _EXCERPT < len(text):
        excerpt += "..."
    return excerpt, offset
