"""The data root on disk: its layout, and moving a deleted entity's data aside.

    <root>/shared/          public, read-only data
    <root>/groups/<group>/  one folder per group
    <root>/home/<user>/     one folder per user
    <root>/pits/<job>/      one folder per job
    <root>/cache/           git clone cache
    <root>/trash/           data of deleted users, groups and jobs, never removed silently

Callers pass ids that the API has already validated (``[a-z][a-z0-9]*`` and the like), so a
name here can never hold a separator or ``..``; the asserts state that contract.
"""

import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import trio

#: Top-level folders created in every data root.
LAYOUT = ("shared", "groups", "home", "pits", "cache", "trash")


class DataRoot:
    """Paths and folder operations below one data root."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure_layout(self) -> None:
        """Create the root and its top-level folders (mode 0700) if missing. Blocking."""
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in LAYOUT:
            (self.root / name).mkdir(mode=0o700, exist_ok=True)

    def home(self, user_id: str) -> Path:
        return self._child("home", user_id)

    def pit(self, job_id: int) -> Path:
        """The folder of job ``job_id``."""
        return self.root / "pits" / str(int(job_id))

    def group(self, group_id: str) -> Path:
        return self._child("groups", group_id)

    def _child(self, area: str, name: str) -> Path:
        if not name or "/" in name or "\0" in name or name in (".", ".."):
            raise ValueError(f"not a valid folder name: {name!r}")
        return self.root / area / name

    async def create_folder(self, path: Path) -> None:
        """Create an entity's folder (mode 0700) if it does not exist."""
        await trio.to_thread.run_sync(lambda: path.mkdir(mode=0o700, exist_ok=True))

    async def move_to_trash(self, path: Path, label: str) -> str | None:
        """Move ``path`` below ``trash/`` under a new, unique name.

        Returns:
            The new location relative to the data root (``trash/<label>-<stamp>-<random>``), or
            None if there was nothing to move.
        """
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.root / "trash" / f"{label}-{stamp}-{secrets.token_hex(3)}"

        def move() -> bool:
            if not path.exists() and not path.is_symlink():
                return False
            target.parent.mkdir(mode=0o700, exist_ok=True)
            os.rename(path, target)
            return True

        moved = await trio.to_thread.run_sync(move)
        return str(target.relative_to(self.root)) if moved else None
