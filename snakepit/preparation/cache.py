"""The clone cache: one bare mirror per origin in ``<data root>/cache/<md5 hex of origin>``.

The first job from an origin clones a mirror into ``cache/.tmp-<key>-<random>`` and renames it
into place, so a cancelled or failed clone never leaves a half-written mirror under the real name.
Later jobs fetch into it (``fetch --prune``). If the mirror is not a repository of that origin,
or the fetch fails (an interrupted fetch can leave stale lock files), a fresh mirror is cloned
aside and swapped in; the old one stays in use until the new one is complete.

One :class:`trio.Lock` per origin serializes everything done to its mirror, including the copy
into a job's ``src/``, so a fetch or a swap never runs under a copy. The locks live in this
process: one service owns a data root.
"""

import hashlib
import secrets
import shutil
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from snakepit.preparation.git import run_git
from snakepit.preparation.pitlog import PitLog


def cache_key(origin: str) -> str:
    """The mirror's folder name: the md5 hex digest of ``origin`` (as the published cache)."""
    return hashlib.md5(origin.encode("utf-8"), usedforsecurity=False).hexdigest()


class CloneCache:
    """Bare mirrors of origins below one ``cache/`` folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._locks: dict[str, trio.Lock] = {}

    def path_for(self, origin: str) -> Path:
        return self.root / cache_key(origin)

    @asynccontextmanager
    async def open_mirror(
        self, origin: str, log: PitLog, protocols: Iterable[str]
    ) -> AsyncIterator[Path]:
        """Bring the mirror of ``origin`` up to date and hold it while the caller reads it.

        Yields:
            The mirror's path; no other job touches it until the block ends.

        Raises:
            PreparationFailed: ``git clone failed: ...`` when no mirror could be made.
        """
        key = cache_key(origin)
        lock = self._locks.setdefault(key, trio.Lock())
        async with lock:
            path = self.root / key
            await self._refresh(origin, path, log, frozenset(protocols))
            yield path

    async def _refresh(
        self, origin: str, path: Path, log: PitLog, protocols: frozenset[str]
    ) -> None:
        await trio.to_thread.run_sync(_remove_leftovers, self.root, path.name)
        if await trio.to_thread.run_sync(_lexists, path):
            if await self._is_mirror_of(path, origin, log):
                await log.write("Updating the clone cache.")
                fetch = ["--git-dir", str(path), "fetch", "--prune", "origin"]
                if (await run_git(log, fetch, protocols=protocols)).ok:
                    return
                await log.write("Fetching into the clone cache failed; cloning it again.")
            else:
                await log.write("The clone cache is not usable; cloning it again.")
        else:
            await log.write("Cloning into the clone cache.")
        await self._clone(origin, path, log, protocols)

    async def _is_mirror_of(self, path: Path, origin: str, log: PitLog) -> bool:
        args = ["--git-dir", str(path), "config", "--get", "remote.origin.url"]
        result = await run_git(log, args, capture=True, echo=False)
        return result.ok and result.stdout.strip() == origin

    async def _clone(self, origin: str, path: Path, log: PitLog, protocols: frozenset[str]) -> None:
        temporary = self.root / f".tmp-{path.name}-{secrets.token_hex(4)}"
        clone = ["clone", "--mirror", "--no-hardlinks", "--", origin, str(temporary)]
        result = await run_git(log, clone, protocols=protocols)
        if not result.ok:
            await trio.to_thread.run_sync(_remove, temporary)
            raise result.failure("git clone")
        await trio.to_thread.run_sync(_swap_in, temporary, path)


def _lexists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def _remove_leftovers(root: Path, key: str) -> None:
    """Remove the temporary and replaced mirrors of ``key`` that a cancelled job left behind."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for pattern in (f".tmp-{key}-*", f".old-{key}-*"):
        for leftover in root.glob(pattern):
            _remove(leftover)


def _swap_in(new: Path, path: Path) -> None:
    old = path.with_name(f".old-{path.name}-{secrets.token_hex(4)}")
    if _lexists(path):
        path.rename(old)
    new.rename(path)
    _remove(old)
