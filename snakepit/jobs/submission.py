"""What a submitted job writes into its folder, and how it describes its provisioning.

The pit folder is the ground truth of a job's source (as in the published service): the
preparation reads ``origin``, ``hash``, ``git.patch`` and ``archive.tar.gz`` back from it, so a
job caught by a restart is prepared from the same files.
"""

import dataclasses
import os
import shutil
from pathlib import Path

from snakepit.preparation.source import JobSource

#: The job script when the user gives none: run ``.compute`` from the source, if there is one.
DEFAULT_SCRIPT = "if [ -f .compute ]; then bash .compute; fi\n"


@dataclasses.dataclass(frozen=True)
class Submission:
    origin: str | None
    commit: str | None
    diff: str | None
    archive: Path | None  #: resolved below the owner's home
    script: str | None

    def provisioning(self) -> str:
        """The published description: ``Git commit <hash> from <origin>`` and the like."""
        if self.origin and self.commit:
            text = f"Git commit {self.commit} from {self.origin}"
        elif self.origin:
            text = f"Git clone of {self.origin}"
        elif self.archive is not None:
            # The archive's own size (the published service reported the home folder's).
            text = f"Archive ({self.archive.stat().st_size} bytes)"
        else:
            text = "Script"
        if self.diff:
            text += f" with {len(self.diff.splitlines())} LoC diff"
        return text


def write_job_files(folder: Path, submission: Submission) -> None:
    """Create the job's folder with its script and source files. Blocking."""
    folder.mkdir(mode=0o700, parents=True)
    script = submission.script if submission.script else DEFAULT_SCRIPT
    (folder / "script.sh").write_text(script if script.endswith("\n") else script + "\n")
    if submission.origin:
        (folder / "origin").write_text(submission.origin)
    if submission.commit:
        (folder / "hash").write_text(submission.commit)
    if submission.diff:
        diff = submission.diff if submission.diff.endswith("\n") else submission.diff + "\n"
        (folder / "git.patch").write_bytes(diff.encode("utf-8", "surrogateescape"))
    if submission.archive is not None:
        shutil.copyfile(submission.archive, folder / "archive.tar.gz", follow_symlinks=False)


def read_job_source(folder: Path, continue_from: Path | None) -> JobSource:
    """The source of a job as written at submission. Blocking."""

    def text(name: str) -> str | None:
        path = folder / name
        if not path.is_file() or path.is_symlink():
            return None
        return path.read_bytes().decode("utf-8", "surrogateescape")

    archive = folder / "archive.tar.gz"
    return JobSource(
        origin=text("origin"),
        commit=text("hash"),
        diff=text("git.patch"),
        archive=archive if archive.is_file() and not archive.is_symlink() else None,
        continue_from=continue_from,
    )


def resolve_archive(home: Path, relative: str) -> Path | None:
    """The archive's real path if it lies inside ``home``; None if it does not exist.

    Raises:
        PermissionError: the path leaves the home folder (``..``, absolute, or a symlink out).
    """
    if not relative or relative.startswith("/") or "\0" in relative:
        raise PermissionError("Archive outside user home")
    if any(part in ("", ".", "..") for part in relative.split("/")):
        raise PermissionError("Archive outside user home")
    real_home = os.path.realpath(home)
    candidate = os.path.realpath(os.path.join(real_home, relative))
    if os.path.commonpath([real_home, candidate]) != real_home:
        raise PermissionError("Archive outside user home")
    path = Path(candidate)
    return path if path.is_file() else None
