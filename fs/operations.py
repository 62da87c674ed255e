"""The pyfuse3 operations of a mounted domain: each one a thin call of the file-system client.

Every operation runs inside :func:`fs.errors.fuse_errors`, the one place where failures become
errno values. Attributes and listings come from :class:`fs.caches.MetadataCache` while fresh;
reads go through :class:`fs.reading.ReadAhead` and writes through :class:`fs.writing.WriteBehind`
of the open file.
"""

import os
from collections.abc import AsyncGenerator, Sequence

import pyfuse3
import trio

from fs.caches import MetadataCache
from fs.entries import entry_attributes
from fs.errors import fuse_errors
from fs.handles import Handles, OpenDir, OpenFile
from fs.inodes import ROOT_INODE, InodeTable, join, parent_of
from fs.reading import ReadAhead
from fs.writing import WriteBehind
from snakepit.client.filesystem import Attr, FileSystem, FsError

#: A lookup that misses in a directory this large refreshes the whole listing (one round trip)
#: instead of asking for the one file: ``stat`` over many files costs one request per second.
WHOLE_LISTING_MIN = 64
#: So does a burst of this many misses within one cache lifetime in a directory not listed yet.
MISS_BURST = 16
#: Seconds an unmount may spend uploading buffered writes.
FINAL_FLUSH_S = 30.0


class Operations(pyfuse3.Operations):
    """The operations of one mounted domain.

    Args:
        client: The domain's file-system client.
        nursery: Where read-ahead runs.
        root: The attributes of the domain's root.
    """

    def __init__(self, client: FileSystem, nursery: trio.Nursery, root: Attr) -> None:
        super().__init__()
        self.client = client
        self.nursery = nursery
        self.inodes = InodeTable()
        self.inodes.set_root(root.inode)
        self.cache = MetadataCache()
        self.cache.attrs.put(ROOT_INODE, root)
        self.handles = Handles()
        self.uid, self.gid = os.getuid(), os.getgid()
        self._listing_done: dict[int, trio.Event] = {}

    # -- names and attributes ------------------------------------------------------------

    async def lookup(
        self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        with fuse_errors("lookup", parent_inode):
            if name in (b".", b".."):
                path = self.inodes.path(parent_inode)
                path = parent_of(path) if name == b".." else path
                attr = await self.client.attr(path)
            else:
                path = self._child(parent_inode, name)
                attr = await self._child_attr(parent_inode, path)
            inode = self.inodes.remember(path, attr.inode)
            self.cache.attrs.put(inode, attr)
            return self._entry(inode, attr)

    async def forget(self, inode_list: Sequence[tuple[int, int]]) -> None:
        for inode, count in inode_list:
            self.inodes.forget(inode, count)
            if not self.inodes.lookups(inode):
                self.cache.attrs.drop(inode)
                self.cache.listings.drop(inode)
                self.cache.sizes.pop(inode, None)

    async def getattr(self, inode: int, ctx: pyfuse3.RequestContext) -> pyfuse3.EntryAttributes:
        with fuse_errors("getattr", inode):
            return self._entry(inode, await self._attr(inode))

    async def setattr(
        self,
        inode: int,
        attr: pyfuse3.EntryAttributes,
        fields: pyfuse3.SetattrFields,
        fh: int | None,
        ctx: pyfuse3.RequestContext,
    ) -> pyfuse3.EntryAttributes:
        with fuse_errors("setattr", inode):
            await self._flush_inode(inode)
            changed = await self.client.setattr(
                self.inodes.path(inode),
                size=attr.st_size if fields.update_size else None,
                mode=attr.st_mode & 0o7777 if fields.update_mode else None,
                atime_ns=attr.st_atime_ns if fields.update_atime else None,
                mtime_ns=attr.st_mtime_ns if fields.update_mtime else None,
            )
            self._file_changed(inode, changed)
            return self._entry(inode, changed)

    async def readlink(self, inode: int, ctx: pyfuse3.RequestContext) -> bytes:
        with fuse_errors("readlink", inode):
            raise FsError("EACCES", "symbolic links are not followed through the mount")

    async def symlink(
        self, parent_inode: int, name: bytes, target: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        with fuse_errors("symlink", parent_inode):
            raise FsError("EPERM", "the file API makes no symbolic links")

    async def link(
        self, inode: int, new_parent_inode: int, new_name: bytes, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        with fuse_errors("link", inode):
            raise FsError("EPERM", "the file API makes no hard links")

    async def mknod(
        self, parent_inode: int, name: bytes, mode: int, rdev: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        with fuse_errors("mknod", parent_inode):
            raise FsError("EPERM", "the file API makes only files and directories")

    async def statfs(self, ctx: pyfuse3.RequestContext) -> pyfuse3.StatvfsData:
        with fuse_errors("statfs", None):
            figures = await self.client.statfs()
            data = pyfuse3.StatvfsData()
            data.f_bsize = data.f_frsize = figures.block_size
            data.f_blocks, data.f_bfree = figures.blocks, figures.blocks_free
            data.f_bavail = figures.blocks_avail
            data.f_files, data.f_ffree = figures.files, figures.files_free
            data.f_favail = figures.files_free
            data.f_namemax = figures.name_max
            return data

    # -- directories ---------------------------------------------------------------------

    async def opendir(self, inode: int, ctx: pyfuse3.RequestContext) -> int:
        with fuse_errors("opendir", inode):
            path = self.inodes.path(inode)
            entries = await self._listing(inode, fresh=True)
            return self.handles.add_dir(OpenDir(inode, path, entries))

    async def readdir(self, fh: int, start_id: int, token: pyfuse3.ReaddirToken) -> None:
        with fuse_errors("readdir", fh):
            folder = self.handles.dir(fh)
            for index in range(start_id, len(folder.entries)):
                attr = folder.entries[index]
                inode = self.inodes.inode_for(join(folder.path, attr.name), attr.inode)
                self.cache.attrs.put(inode, attr)
                entry = self._entry(inode, attr)
                if not pyfuse3.readdir_reply(token, os.fsencode(attr.name), entry, index + 1):
                    self.inodes.drop_if_unknown(inode)
                    return
                self.inodes.count_lookup(inode)

    async def releasedir(self, fh: int) -> None:
        with fuse_errors("releasedir", fh):
            self.handles.dirs.pop(fh, None)

    async def mkdir(
        self, parent_inode: int, name: bytes, mode: int, ctx: pyfuse3.RequestContext
    ) -> pyfuse3.EntryAttributes:
        with fuse_errors("mkdir", parent_inode):
            path = self._child(parent_inode, name)
            attr = await self.client.mkdir(path, mode & 0o7777 & ~ctx.umask)
            self.cache.changed(parent_inode)
            return self._entry(self.inodes.remember(path, attr.inode), attr)

    async def rmdir(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        with fuse_errors("rmdir", parent_inode):
            path = self._child(parent_inode, name)
            await self.client.rmdir(path)
            self._removed(parent_inode, path)

    async def unlink(self, parent_inode: int, name: bytes, ctx: pyfuse3.RequestContext) -> None:
        with fuse_errors("unlink", parent_inode):
            path = self._child(parent_inode, name)
            await self.client.unlink(path)
            self._removed(parent_inode, path)

    async def rename(
        self,
        parent_inode_old: int,
        name_old: bytes,
        parent_inode_new: int,
        name_new: bytes,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> None:
        with fuse_errors("rename", parent_inode_old):
            if flags & pyfuse3.RENAME_EXCHANGE:
                raise FsError("EINVAL", "exchanging two entries is not supported")
            old = self._child(parent_inode_old, name_old)
            new = self._child(parent_inode_new, name_new)
            no_replace = bool(flags & pyfuse3.RENAME_NOREPLACE)
            await self.client.rename(old, new, no_replace=no_replace)
            self._removed(parent_inode_new, new)
            self.inodes.moved(old, new)
            self.cache.changed(parent_inode_old)

    # -- files ---------------------------------------------------------------------------

    async def create(
        self,
        parent_inode: int,
        name: bytes,
        mode: int,
        flags: int,
        ctx: pyfuse3.RequestContext,
    ) -> tuple[pyfuse3.FileInfo, pyfuse3.EntryAttributes]:
        with fuse_errors("create", parent_inode):
            path = self._child(parent_inode, name)
            attr = await self._create(path, mode & 0o7777 & ~ctx.umask, flags)
            self.cache.changed(parent_inode)
            inode = self.inodes.remember(path, attr.inode)
            self.cache.attrs.put(inode, attr)
            return self._open(inode), self._entry(inode, attr)

    async def open(self, inode: int, flags: int, ctx: pyfuse3.RequestContext) -> pyfuse3.FileInfo:
        with fuse_errors("open", inode):
            self.inodes.path(inode)  # ESTALE for a forgotten inode
            return self._open(inode)

    async def read(self, fh: int, off: int, size: int) -> bytes:
        with fuse_errors("read", fh):
            file = self.handles.file(fh)
            await self._flush_inode(file.inode)
            return await file.reader.read(off, size)

    async def write(self, fh: int, off: int, buf: bytes) -> int:
        with fuse_errors("write", fh):
            file = self.handles.file(fh)
            await file.writer.write(off, buf)
            return len(buf)

    async def flush(self, fh: int) -> None:
        with fuse_errors("flush", fh):
            await self._flush_file(self.handles.file(fh))

    async def fsync(self, fh: int, datasync: bool) -> None:
        with fuse_errors("fsync", fh):
            await self._flush_file(self.handles.file(fh))

    async def release(self, fh: int) -> None:
        with fuse_errors("release", fh):
            file = self.handles.files.pop(fh, None)
            if file is not None:
                file.reader.close()
                await self._flush_file(file)

    async def flush_all(self) -> None:
        """Upload every buffered write (at unmount), within :data:`FINAL_FLUSH_S`."""
        with trio.CancelScope(shield=True), trio.move_on_after(FINAL_FLUSH_S):
            for fh, file in list(self.handles.files.items()):
                with fuse_errors("flush", fh):
                    await file.writer.flush()

    # -- helpers -------------------------------------------------------------------------

    def _child(self, parent_inode: int, name: bytes) -> str:
        if b"/" in name or b"\0" in name:
            raise FsError("EINVAL", "a name holds '/' or NUL")
        return join(self.inodes.path(parent_inode), os.fsdecode(name))

    def _entry(self, inode: int, attr: Attr) -> pyfuse3.EntryAttributes:
        end = self.handles.pending_end(inode)
        if end > attr.size:  # written here, not uploaded yet: the kernel must not shrink it
            attr = attr.with_size(end)
        return entry_attributes(inode, attr, self.uid, self.gid)

    async def _attr(self, inode: int) -> Attr:
        attr = self.cache.attrs.get(inode)
        if attr is None:
            attr = await self.client.attr(self.inodes.path(inode))
            self.cache.attrs.put(inode, attr)
        return attr

    async def _child_attr(self, parent_inode: int, path: str) -> Attr:
        """The attributes of ``path`` in ``parent_inode``, from its listing when fresh."""
        name = path.rpartition("/")[2]
        known, attr = self.cache.entry(parent_inode, name)
        if not known and (
            self.cache.sizes.get(parent_inode, 0) >= WHOLE_LISTING_MIN
            or self.cache.note_miss(parent_inode) >= MISS_BURST
        ):
            await self._listing(parent_inode, fresh=False)
            known, attr = self.cache.entry(parent_inode, name)
        if known:
            if attr is None:
                raise FsError("ENOENT", f"no {path!r}")
            return attr
        return await self.client.attr(path)

    async def _listing(self, inode: int, *, fresh: bool) -> list[Attr]:
        """The entries of directory ``inode``; one request at a time per directory."""
        pending = self._listing_done.get(inode)
        if pending is not None:  # someone is fetching it right now: that is fresh enough
            await pending.wait()
            fresh = False
        if not fresh and (listing := self.cache.listings.get(inode)) is not None:
            return listing.entries
        self._listing_done[inode] = done = trio.Event()
        try:
            entries = await self.client.listdir(self.inodes.path(inode))
            self.cache.put_listing(inode, entries)
        finally:
            if self._listing_done.get(inode) is done:
                del self._listing_done[inode]
            done.set()
        return entries

    async def _create(self, path: str, mode: int, flags: int) -> Attr:
        exclusive = bool(flags & os.O_EXCL) or not flags & os.O_TRUNC
        try:
            return await self.client.create(path, mode, exclusive=exclusive)
        except FsError as error:
            if error.errno_name != "EEXIST" or flags & os.O_EXCL:
                raise
            return await self.client.attr(path)  # made by someone else meanwhile: open it

    def _open(self, inode: int) -> pyfuse3.FileInfo:
        def stream(offset: int, size: int) -> AsyncGenerator[bytes, None]:
            return self.client.read_stream(self.inodes.path(inode), offset, size)

        async def store(offset: int, data: bytes) -> int:
            return await self.client.write(self.inodes.path(inode), offset, data)

        attr = self.cache.attrs.get(inode)
        reader = ReadAhead(stream, self.nursery, size_hint=attr.size if attr else None)
        file = OpenFile(inode, reader, WriteBehind(store))
        return pyfuse3.FileInfo(fh=self.handles.add_file(file), keep_cache=False)

    async def _flush_file(self, file: OpenFile) -> None:
        if file.writer:
            try:
                await file.writer.flush()
            finally:
                self._file_changed(file.inode, None)

    async def _flush_inode(self, inode: int) -> None:
        for file in list(self.handles.of_inode(inode)):
            await self._flush_file(file)

    def _file_changed(self, inode: int, attr: Attr | None) -> None:
        """``inode``'s content changed through this mount: drop what was read of it."""
        for file in self.handles.of_inode(inode):
            file.reader.invalidate()
        if attr is None:
            self.cache.attrs.drop(inode)
        else:
            self.cache.attrs.put(inode, attr)

    def _removed(self, parent_inode: int, path: str) -> None:
        self.inodes.removed(path)
        self.cache.changed(parent_inode)
