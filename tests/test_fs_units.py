"""The pure parts of fs/: inode table, caches, read-ahead, write-behind, errno mapping."""

import errno
import itertools
import os
from collections.abc import AsyncGenerator
from pathlib import Path

import pyfuse3
import pytest
import trio

import fs
import fs.mount
from fs.caches import MetadataCache, TtlCache
from fs.domains import MountError, domain_prefix
from fs.errors import fuse_errors
from fs.inodes import ROOT_INODE, InodeTable
from fs.reading import BLOCK_SIZE, MAX_RUN_BLOCKS, Block, ReadAhead
from fs.writing import FLUSH_SIZE, WriteBehind
from snakepit.client.connection import Connection
from snakepit.client.filesystem import Attr, FsError, FsUnavailable, encode_path


def attr(name: str, inode: int, size: int = 0) -> Attr:
    return Attr(name, "file", inode, size, 0o644, 1, 0, 0, 0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_inode_table_gives_each_server_inode_one_fuse_inode():
    table = InodeTable()
    table.set_root(500)
    first = table.remember("a.txt", 501)
    assert first != ROOT_INODE
    assert table.remember("a.txt", 501) == first
    assert table.lookups(first) == 2
    assert table.path(first) == "a.txt"
    assert table.remember("", 500) == ROOT_INODE
    assert table.remember("b.txt", 502) not in (first, ROOT_INODE)


def test_inode_table_forgets_at_zero_lookups_and_never_the_root():
    table = InodeTable()
    inode = table.remember("a", 7)
    table.count_lookup(inode)
    table.forget(inode, 1)
    assert table.path(inode) == "a"
    table.forget(inode, 1)
    with pytest.raises(FsError) as caught:
        table.path(inode)
    assert caught.value.errno_name == "ESTALE"
    table.forget(ROOT_INODE, 5)
    assert table.path(ROOT_INODE) == ""
    assert table.remember("a", 7) != inode  # a new entry after the old one went


def test_inode_table_drops_entries_readdir_could_not_hand_over():
    table = InodeTable()
    inode = table.inode_for("x", 9)
    table.drop_if_unknown(inode)
    assert len(table) == 1
    kept = table.remember("y", 10)
    table.drop_if_unknown(kept)
    assert table.path(kept) == "y"


def test_inode_table_rename_moves_everything_below():
    table = InodeTable()
    folder = table.remember("data", 10)
    inner = table.remember("data/train/x.wav", 11)
    other = table.remember("database", 12)
    table.moved("data", "old/data")
    assert table.path(folder) == "old/data"
    assert table.path(inner) == "old/data/train/x.wav"
    assert table.path(other) == "database"


def test_inode_table_forgets_the_server_inode_of_a_removed_file():
    table = InodeTable()
    old = table.remember("a", 20)
    table.removed("a")
    new = table.remember("b", 20)  # the disk reused the number for another file
    assert new != old
    assert table.path(old) == "a"


def test_ttl_cache_expires_values():
    clock = Clock()
    cache: TtlCache[int, str] = TtlCache(1.0, clock)
    cache.put(1, "one")
    clock.now += 0.9
    assert cache.get(1) == "one"
    clock.now += 0.2
    assert cache.get(1) is None
    assert len(cache) == 0


def test_ttl_cache_sweeps_when_full():
    clock = Clock()
    cache: TtlCache[int, int] = TtlCache(1.0, clock, max_entries=3)
    for key in range(3):
        cache.put(key, key)
    clock.now += 2
    cache.put(9, 9)
    assert len(cache) == 1
    for key in range(5):
        cache.put(key, key)
    assert len(cache) <= 3
    assert cache.get(4) == 4


def test_metadata_cache_answers_names_from_fresh_listings():
    clock = Clock()
    cache = MetadataCache(1.0, clock)
    assert cache.entry(1, "a") == (False, None)
    cache.put_listing(1, [attr("a", 5), attr("b", 6)])
    assert cache.entry(1, "a") == (True, attr("a", 5))
    assert cache.entry(1, "zzz") == (True, None)
    assert cache.sizes[1] == 2
    clock.now += 1.5
    assert cache.entry(1, "a") == (False, None)
    assert cache.sizes[1] == 2
    cache.put_listing(1, [attr("a", 5)])
    cache.attrs.put(5, attr("a", 5))
    cache.changed(1, 5)
    assert cache.entry(1, "a") == (False, None)
    assert cache.attrs.get(5) is None


class FakeFile:
    """A file in memory behind the fetch/store callables (the unit under test is the cache)."""

    def __init__(self, data: bytes) -> None:
        self.data = bytearray(data)
        self.requests: list[tuple[int, int]] = []
        self.fail = False

    async def stream(self, offset: int, size: int) -> AsyncGenerator[bytes, None]:
        """The bytes in uneven pieces, as a network delivers them."""
        self.requests.append((offset, size))
        await trio.lowlevel.checkpoint()
        if self.fail:
            raise FsUnavailable("down")
        data = bytes(self.data[offset : offset + size])
        cuts = [0, *range(1000, len(data), 65536), len(data)]
        for start, end in itertools.pairwise(cuts):
            await trio.lowlevel.checkpoint()
            yield data[start:end]

    async def store(self, offset: int, data: bytes) -> int:
        self.requests.append((offset, len(data)))
        self.data[offset : offset + len(data)] = data
        return len(self.data)


async def test_read_ahead_fetches_growing_runs_for_a_sequential_reader(nursery):
    content = os.urandom(20 * BLOCK_SIZE + 12345)
    file = FakeFile(content)
    reader = ReadAhead(file.stream, nursery)
    got = bytearray()
    while piece := await reader.read(len(got), 128 * 1024):
        got += piece
    assert got == content
    fetched = sorted(file.requests)
    assert all(
        end <= start
        for (_, end), (start, _) in itertools.pairwise(
            (offset, offset + size) for offset, size in fetched
        )
    )  # no byte asked for twice
    assert fetched[0] == (0, BLOCK_SIZE)
    assert max(size for _, size in fetched) == MAX_RUN_BLOCKS * BLOCK_SIZE
    assert len(fetched) <= 7


async def test_read_ahead_stops_at_the_size_known_at_open(nursery):
    file = FakeFile(b"small file\n" * 100)
    reader = ReadAhead(file.stream, nursery, size_hint=1100)
    assert await reader.read(0, 128 * 1024) == b"small file\n" * 100
    assert file.requests == [(0, BLOCK_SIZE)]
    file.data += b"z" * (3 * BLOCK_SIZE)  # it grew: reading past the hint reads ahead again
    reader = ReadAhead(file.stream, nursery, size_hint=1100)
    assert len(await reader.read(0, BLOCK_SIZE)) == BLOCK_SIZE
    assert len(await reader.read(BLOCK_SIZE, BLOCK_SIZE)) == BLOCK_SIZE
    assert 2 * BLOCK_SIZE in [offset for offset, _ in file.requests]  # read ahead


async def test_read_ahead_fetches_one_block_for_a_random_read(nursery):
    content = os.urandom(20 * BLOCK_SIZE)
    file = FakeFile(content)
    reader = ReadAhead(file.stream, nursery)
    offset = 10 * BLOCK_SIZE + 4096
    assert await reader.read(offset, 4096) == content[offset : offset + 4096]
    assert file.requests == [(10 * BLOCK_SIZE, BLOCK_SIZE)]
    offset = 3 * BLOCK_SIZE - 100  # across two blocks: one request for both
    assert await reader.read(offset, 200) == content[offset : offset + 200]
    assert file.requests[1:] == [(2 * BLOCK_SIZE, 2 * BLOCK_SIZE)]


async def test_read_ahead_sees_a_growing_file_after_the_short_block_expires(nursery):
    clock = Clock()
    file = FakeFile(b"line 1\n")
    reader = ReadAhead(file.stream, nursery, clock=clock)
    assert await reader.read(0, 4096) == b"line 1\n"
    file.data += b"line 2\n"
    assert await reader.read(0, 4096) == b"line 1\n"
    clock.now += 2
    assert await reader.read(0, 4096) == b"line 1\nline 2\n"


async def test_read_ahead_reports_errors_and_recovers(nursery):
    file = FakeFile(b"x" * 100)
    reader = ReadAhead(file.stream, nursery)
    file.fail = True
    with pytest.raises(FsUnavailable):
        await reader.read(0, 10)
    file.fail = False
    assert await reader.read(0, 10) == b"x" * 10


async def test_read_ahead_invalidate_cancels_prefetches(nursery):
    file = FakeFile(b"y" * (3 * BLOCK_SIZE))
    reader = ReadAhead(file.stream, nursery)
    assert await reader.read(0, 10) == b"y" * 10
    reader.invalidate()
    file.data[BLOCK_SIZE : BLOCK_SIZE + 1] = b"z"
    assert await reader.read(BLOCK_SIZE, 2) == b"zy"


async def test_write_behind_gathers_contiguous_writes():
    file = FakeFile(b"")
    writer = WriteBehind(file.store)
    chunk = b"a" * (128 * 1024)
    for index in range(FLUSH_SIZE // len(chunk) + 1):
        await writer.write(index * len(chunk), chunk)
    assert file.requests == [(0, FLUSH_SIZE)]
    assert writer.pending_end == FLUSH_SIZE + len(chunk)
    await writer.write(0, b"b")  # not contiguous: what was buffered goes first
    assert file.requests[-1] == (FLUSH_SIZE, len(chunk))
    await writer.flush()
    assert file.requests[-1] == (0, 1)
    assert not writer
    assert writer.pending_end == 0
    assert file.data[:2] == b"ba"
    await writer.flush()
    assert len(file.requests) == 3


def test_fuse_errors_maps_api_errno_names_and_os_errors():
    cases = [
        (FsError("ENOENT", "gone", 404), errno.ENOENT),
        (FsError("EROFS", "read-only", 403), errno.EROFS),
        (FsError("ENOTEMPTY", "full", 409), errno.ENOTEMPTY),
        (FsError("EWHATEVER", "unknown name"), errno.EIO),
        (FsUnavailable("service down"), errno.EIO),
        (PermissionError(errno.EACCES, "no"), errno.EACCES),
    ]
    for error, expected in cases:
        with pytest.raises(pyfuse3.FUSEError) as caught, fuse_errors("test", 1):
            raise error
        assert caught.value.errno == expected


def test_fuse_errors_turns_the_unexpected_into_eio_with_a_traceback(caplog):
    with pytest.raises(pyfuse3.FUSEError) as caught, fuse_errors("getattr", 42):
        raise KeyError("bug")
    assert caught.value.errno == errno.EIO
    assert "getattr(42) failed unexpectedly" in caplog.text
    assert "KeyError" in caplog.text


def test_domain_names():
    assert domain_prefix("home") == "/users/~"
    assert domain_prefix("shared") == "/shared"
    assert domain_prefix("group:lab") == "/groups/lab"
    assert domain_prefix("job:12") == "/jobs/12"
    assert domain_prefix("12") == "/jobs/12"
    assert domain_prefix("user:alice") == "/users/alice"
    for bad in ("", "homes", "job:x", "job:0", "group:", "group:../x", "user:a/b", "node:nx"):
        with pytest.raises(MountError, match="Unknown data domain"):
            domain_prefix(bad)


def test_paths_are_encoded_per_component():
    assert encode_path("") == ""
    assert encode_path("a b/c%d/ü.txt") == "a%20b/c%25d/%C3%BC.txt"
    assert encode_path("x/?#") == "x/%3F%23"


def test_a_block_serves_pieces_across_chunks():
    block = Block(0)
    for chunk in (b"abc", b"", b"defg", b"h"):
        block.append(chunk)
    assert block.size == 8
    assert block.piece(0, 3) == b"abc"
    assert block.piece(1, 5) == b"bcdef"
    assert block.piece(3, 100) == b"defgh"
    assert block.piece(8, 10) == b""
    assert block.piece(7, 1) == b"h"


def test_mount_refuses_before_touching_anything_without_dev_fuse(monkeypatch, tmp_path):
    monkeypatch.setattr(fs.mount, "FUSE_DEVICE", Path("/dev/no-such-fuse"))
    with pytest.raises(MountError, match="/dev/no-such-fuse is missing"):
        fs.run_mount(Connection("http://127.0.0.1:9"), "home", tmp_path)
    with pytest.raises(MountError, match="Unknown data domain"):
        fs.run_mount(Connection("http://127.0.0.1:9"), "nowhere", tmp_path)


def test_unmount_of_a_plain_directory_says_nothing_is_mounted(tmp_path):
    with pytest.raises(MountError, match="Nothing is mounted at"):
        fs.unmount(tmp_path)
