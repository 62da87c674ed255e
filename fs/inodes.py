"""The inode table: which FUSE inode is which file of the domain, and how often the kernel knows it.

The file-system API names files by path and reports the real file's ``st_ino``, which is stable
while the file exists. The table gives each server inode one FUSE inode (the domain root is always
:data:`ROOT_INODE`), remembers the path it was last seen under, and counts the kernel's lookups:
an entry goes when :meth:`InodeTable.forget` brings its count to zero. Renames rewrite the paths of
everything below the renamed entry.
"""

import dataclasses
import itertools

from snakepit.client.filesystem import FsError

#: pyfuse3.ROOT_INODE, repeated here so that the table does not need pyfuse3.
ROOT_INODE = 1


@dataclasses.dataclass
class Node:
    """One inode the kernel knows: where the file is now and how many lookups it holds."""

    inode: int
    server_inode: int | None
    path: str
    lookups: int = 0


def join(parent: str, name: str) -> str:
    """The path of ``name`` inside ``parent`` (``""`` is the domain root)."""
    return f"{parent}/{name}" if parent else name


def parent_of(path: str) -> str:
    return path.rpartition("/")[0]


class InodeTable:
    """FUSE inodes for the files of one domain."""

    def __init__(self) -> None:
        self._nodes: dict[int, Node] = {ROOT_INODE: Node(ROOT_INODE, None, "", 1)}
        self._by_server: dict[int, int] = {}
        self._next = itertools.count(ROOT_INODE + 1)

    def __len__(self) -> int:
        return len(self._nodes)

    def path(self, inode: int) -> str:
        """The path of ``inode``.

        Raises:
            FsError: ESTALE, the kernel asked about an inode it was told to forget.
        """
        node = self._nodes.get(inode)
        if node is None:
            raise FsError("ESTALE", f"inode {inode} is not known")
        return node.path

    def lookups(self, inode: int) -> int:
        node = self._nodes.get(inode)
        return node.lookups if node else 0

    def set_root(self, server_inode: int) -> None:
        """Record the server inode of the domain root."""
        root = self._nodes[ROOT_INODE]
        if root.server_inode is not None:
            self._by_server.pop(root.server_inode, None)
        root.server_inode = server_inode
        self._by_server[server_inode] = ROOT_INODE

    def inode_for(self, path: str, server_inode: int) -> int:
        """The FUSE inode of the file at ``path`` (made if new), without counting a lookup."""
        if not path:
            return ROOT_INODE
        inode = self._by_server.get(server_inode)
        if inode is not None:
            self._nodes[inode].path = path  # the latest name of a moved or hard-linked file
            return inode
        inode = next(self._next)
        self._nodes[inode] = Node(inode, server_inode, path)
        self._by_server[server_inode] = inode
        return inode

    def remember(self, path: str, server_inode: int) -> int:
        """The FUSE inode of ``path`` with one more lookup counted (lookup, create, mkdir)."""
        inode = self.inode_for(path, server_inode)
        self._nodes[inode].lookups += 1
        return inode

    def count_lookup(self, inode: int) -> None:
        self._nodes[inode].lookups += 1

    def drop_if_unknown(self, inode: int) -> None:
        """Forget ``inode`` again if the kernel holds no lookup of it (an entry readdir made but
        could not hand over)."""
        node = self._nodes.get(inode)
        if node is not None and node.lookups == 0 and inode != ROOT_INODE:
            self._drop(node)

    def forget(self, inode: int, count: int) -> None:
        """The kernel gives back ``count`` lookups; the entry goes at zero."""
        node = self._nodes.get(inode)
        if node is None or inode == ROOT_INODE:
            return
        node.lookups -= count
        if node.lookups <= 0:
            self._drop(node)

    def removed(self, path: str) -> None:
        """The file at ``path`` was deleted: its server inode may be reused by a new file."""
        for node in self._nodes.values():
            if node.path == path and node.inode != ROOT_INODE:
                if node.server_inode is not None:
                    self._by_server.pop(node.server_inode, None)
                node.server_inode = None

    def moved(self, old: str, new: str) -> None:
        """``old`` was renamed to ``new``: rewrite its path and the paths of all below it."""
        below = old + "/"
        for node in self._nodes.values():
            if node.path == old:
                node.path = new
            elif node.path.startswith(below):
                node.path = new + node.path[len(old) :]

    def _drop(self, node: Node) -> None:
        del self._nodes[node.inode]
        if node.server_inode is not None and self._by_server.get(node.server_inode) == node.inode:
            del self._by_server[node.server_inode]
