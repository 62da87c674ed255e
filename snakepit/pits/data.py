"""The pit's data on the host: directories, their ownership, worker files.

Ownership (platform.md, measured on LXD 5.0.2 here): a plain ``disk`` device shows host files
as they are owned on the host, shifted by the container's idmap, and ``shift=true`` is not
available. The daemon container's SFTP user ``worker`` (uid 2525) must read and write the pit,
the owner's home and the owner's group folders, and only read ``shared``. Two ways were measured:

- ``raw.idmap`` mapping a data owner U to 2525 needs ``root:U:1`` in ``/etc/subuid`` and
  ``/etc/subgid`` and an LXD restart to take effect; a host id inside root's delegated range is
  refused ("Host id is in the range of subids"). Restarting LXD from the service is not an
  option, so this is only used when the deployment has done it and passes ``mount_uid`` (and
  ``mount_gid``).
- Otherwise (the default, and what the tests use): the runner reads the daemon's
  ``volatile.idmap.next`` after creating it, computes the host ids its uid and gid 2525 map to
  (100000 + 2525 with the default map here), and hands the pit, home and group directories to
  them (``lchown``, recursively, only entries not owned yet). The service runs as root and is
  not hindered by it. ``shared`` is not handed over: it is mounted ``readonly`` and must be
  world-readable (``o+rX``) for jobs to read it.
"""

import json
import os
from collections.abc import Iterable
from pathlib import Path

#: The SFTP user of the daemon image (uid and gid).
WORKER_ID = 2525


def mapped_ids(idmap_json: str, container_id: int = WORKER_ID) -> tuple[int, int]:
    """The host uid and gid that ``container_id`` maps to in an LXD ``volatile.idmap`` value.

    Raises:
        ValueError: the map does not cover ``container_id`` for uids or for gids.
    """
    uid = gid = None
    for entry in json.loads(idmap_json or "[]"):
        start, size, host = int(entry["Nsid"]), int(entry["Maprange"]), int(entry["Hostid"])
        if start <= container_id < start + size:
            if entry.get("Isuid") and uid is None:
                uid = host + container_id - start
            if entry.get("Isgid") and gid is None:
                gid = host + container_id - start
    if uid is None or gid is None:
        raise ValueError(f"the container's idmap does not map id {container_id}: {idmap_json}")
    return uid, gid


def pit_dir(data_root: Path, pit_id: int) -> Path:
    return data_root / "pits" / str(pit_id)


def make_directories(
    data_root: Path, pit_id: int, owner: str, groups: Iterable[str], workers: Iterable[int]
) -> None:
    """Create ``workers/<i>/`` in the pit and any missing home, group or shared directory."""
    pit = pit_dir(data_root, pit_id)
    for index in workers:
        (pit / "workers" / str(index)).mkdir(parents=True, exist_ok=True)
    (data_root / "home" / owner).mkdir(parents=True, exist_ok=True)
    for group in groups:
        (data_root / "groups" / group).mkdir(parents=True, exist_ok=True)
    shared = data_root / "shared"
    if not shared.exists():
        shared.mkdir(parents=True)
        shared.chmod(0o755)


def hand_over(directories: Iterable[Path], uid: int, gid: int) -> None:
    """Give every entry below the directories (and themselves) to ``uid:gid``; never follows
    symbolic links. Blocking: run it in a thread."""
    for top in directories:
        _own(top, uid, gid)
        for folder, subfolders, files in os.walk(top):
            for name in (*subfolders, *files):
                _own(Path(folder) / name, uid, gid)


def _own(path: Path, uid: int, gid: int) -> None:
    status = path.lstat()
    if status.st_uid != uid or status.st_gid != gid:
        os.lchown(path, uid, gid)


def read_worker_files(data_root: Path, pit_id: int, index: int) -> tuple[int | None, str | None]:
    """A worker's exit code (None without a readable ``status``) and ``result`` text (None
    without one). Blocking: small files."""
    folder = pit_dir(data_root, pit_id) / "workers" / str(index)
    try:
        code: int | None = int((folder / "status").read_text().strip())
    except (OSError, ValueError):
        code = None
    try:
        result: str | None = (folder / "result").read_text(errors="replace")
    except OSError:
        result = None
    return code, result
