"""The job archive of ``pit run -a``: the current directory as a ``.tar.gz``.

Excluded: ``.git``, ``.pituser.txt``, the upload's own files, and what ``.gitignore`` and
``.pitignore`` name. Their patterns are matched with a subset of gitignore rules: ``#``
comments, ``!`` negation, a trailing ``/`` for directories only, a leading or inner ``/``
anchoring the pattern at the top, ``*``/``?``/``[...]`` within a name and ``**`` across names.
"""

import fnmatch
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

ALWAYS_IGNORED = (
    ".git",
    ".pituser.txt",
    ".job-upload.tar.gz",
    ".job-upload.tar.gz.part",
    ".job-upload.json",
)
ARCHIVE_NAME = ".job-upload.tar.gz"
META_NAME = ".job-upload.json"


def _compile(pattern: str) -> tuple[re.Pattern[str], bool, bool, bool]:
    negate = pattern.startswith("!")
    if negate:
        pattern = pattern[1:]
    directory_only = pattern.endswith("/")
    pattern = pattern.rstrip("/")
    anchored = "/" in pattern
    pattern = pattern.lstrip("/")
    parts = []
    for piece in pattern.split("**"):
        parts.append(fnmatch.translate(piece)[4:-3].replace(".*", "[^/]*"))
    regex = ".*".join(parts)
    return re.compile(regex + r"\Z"), negate, directory_only, anchored


def ignore_rules(root: Path) -> Callable[[str, bool], bool]:
    """A predicate ``ignored(relative_path, is_dir)`` from the ignore files in ``root``."""
    rules = []
    for name in (".gitignore", ".pitignore"):
        path = root / name
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                line = line.rstrip()
                if line and not line.startswith("#"):
                    rules.append(_compile(line))

    def ignored(relative: str, is_dir: bool) -> bool:
        if relative.split("/")[0] in ALWAYS_IGNORED and "/" not in relative:
            return True
        result = False
        basename = relative.rsplit("/", 1)[-1]
        for regex, negate, directory_only, anchored in rules:
            if directory_only and not is_dir:
                continue
            if regex.match(relative if anchored else basename):
                result = not negate
        return result

    return ignored


def write_archive(root: Path, target: Path, report: Callable[[str], None]) -> None:
    """Pack ``root`` into ``target`` (gzip), skipping ignored entries; blocking."""
    ignored = ignore_rules(root)
    with tarfile.open(target, "w:gz") as archive:

        def add(folder: Path, prefix: str) -> None:
            for entry in sorted(folder.iterdir()):
                relative = prefix + entry.name
                is_dir = entry.is_dir() and not entry.is_symlink()
                if ignored(relative, is_dir):
                    report(f"Ignoring {relative}")
                    continue
                report(f"Archiving {relative}...")
                archive.add(entry, arcname=relative, recursive=False)
                if is_dir:
                    add(entry, relative + "/")

        add(root, "")
