"""Short-lived caches of attributes and directory listings.

A running job's log and results grow on the server; the caches keep them visible within about
:data:`TTL_S` (the same lifetime the kernel gets for its own attribute and entry caches), while
``ls -l`` and bursts of ``stat`` cost one round trip per directory instead of one per file.
"""

import time
from collections.abc import Callable
from typing import Generic, TypeVar

from snakepit.client.filesystem import Attr

K = TypeVar("K")
V = TypeVar("V")

#: Seconds an attribute, a directory listing or a kernel entry stays valid.
TTL_S = 1.0
#: Entries kept before expired ones are swept out.
MAX_ENTRIES = 100_000


class TtlCache(Generic[K, V]):
    """Values that expire ``ttl_s`` seconds after they were put."""

    def __init__(
        self,
        ttl_s: float = TTL_S,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.max_entries = max_entries
        self._items: dict[K, tuple[float, V]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: K) -> V | None:
        """The value of ``key`` if it is still fresh."""
        item = self._items.get(key)
        if item is None:
            return None
        if self.clock() >= item[0]:
            del self._items[key]
            return None
        return item[1]

    def put(self, key: K, value: V) -> None:
        if len(self._items) >= self.max_entries:
            self.sweep()
        self._items[key] = (self.clock() + self.ttl_s, value)

    def replace(self, key: K, value: V) -> None:
        """Change the value of a fresh ``key`` without extending its lifetime."""
        item = self._items.get(key)
        if item is not None:
            self._items[key] = (item[0], value)

    def drop(self, key: K) -> None:
        self._items.pop(key, None)

    def clear(self) -> None:
        self._items.clear()

    def sweep(self) -> None:
        """Remove the expired values (and the oldest ones if all are fresh and too many)."""
        now = self.clock()
        self._items = {key: item for key, item in self._items.items() if item[0] > now}
        while len(self._items) >= self.max_entries:
            del self._items[next(iter(self._items))]


class Listing:
    """One directory's entries by name, in the server's order."""

    def __init__(self, entries: list[Attr]) -> None:
        self.entries = entries
        self.by_name = {entry.name: entry for entry in entries}


class MetadataCache:
    """Attributes by FUSE inode and listings by directory inode, with one lifetime."""

    def __init__(self, ttl_s: float = TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.attrs: TtlCache[int, Attr] = TtlCache(ttl_s, clock)
        self.listings: TtlCache[int, Listing] = TtlCache(ttl_s, clock)
        #: How many entries each directory had when last listed (never expires): large
        #: directories are refreshed whole when a lookup misses, instead of file by file.
        self.sizes: dict[int, int] = {}
        #: Lookups that missed per directory in the current lifetime window.
        self.misses: TtlCache[int, int] = TtlCache(ttl_s, clock)

    def entry(self, parent: int, name: str) -> tuple[bool, Attr | None]:
        """(known, attr): whether a fresh listing of ``parent`` answers for ``name``, and the
        entry (None: there is no such name)."""
        listing = self.listings.get(parent)
        if listing is None:
            return False, None
        return True, listing.by_name.get(name)

    def note_miss(self, parent: int) -> int:
        """Count a lookup in ``parent`` that no fresh listing answered; return the count of the
        current window (a burst of them means someone walks the directory)."""
        count = (self.misses.get(parent) or 0) + 1
        if count == 1:
            self.misses.put(parent, count)
        else:
            self.misses.replace(parent, count)
        return count

    def put_listing(self, parent: int, entries: list[Attr]) -> Listing:
        listing = Listing(entries)
        self.listings.put(parent, listing)
        self.sizes[parent] = len(entries)
        return listing

    def changed(self, parent: int, inode: int | None = None) -> None:
        """Something in ``parent`` changed (created, removed, renamed): forget what we knew."""
        self.listings.drop(parent)
        if inode is not None:
            self.attrs.drop(inode)
