"""Preparing a job's directory for its pit, and cleaning it afterwards.

:meth:`Preparer.prepare` does what the published ``prepare.sh`` did, logging to ``pit.log``:

1. ``tmp/``; ``keep/`` copied from the continued job or empty;
2. ``src/``: a clone from the clone cache checked out at the commit (git jobs), the unpacked
   archive (archive jobs), or an empty folder (script jobs);
3. the client's diff written to ``git.patch`` and applied with ``git apply``;
4. ``Preparation done.``

The caller owns the deadline (``with trio.fail_after(max_prep_duration_s)``) and stops a job by
cancelling; git processes are then killed and the clone cache stays usable. ``src/`` may be left
half-made; :func:`clean` removes it with ``tmp/``.
"""

import shutil
from pathlib import Path

import trio

from snakepit.preparation.cache import CloneCache
from snakepit.preparation.errors import CleaningFailed, PreparationFailed
from snakepit.preparation.files import make_work_dirs, remove_work_dirs, unpack_archive
from snakepit.preparation.git import run_git
from snakepit.preparation.patch import apply_diff
from snakepit.preparation.pitlog import PitLog
from snakepit.preparation.source import DEFAULT_SCHEMES, JobSource, validate_source


class Preparer:
    """Prepares job directories, at most ``max_parallel`` at a time.

    Args:
        cache_root: the data root's ``cache/`` folder.
        max_parallel: how many preparations may run at once (``maxParallelPrep``).
        schemes: URL schemes allowed for origins and submodules; ``file`` (which also admits
            local paths) only for tests and trusted set-ups.
    """

    def __init__(
        self,
        cache_root: Path,
        *,
        max_parallel: int = 2,
        schemes: frozenset[str] = DEFAULT_SCHEMES,
        protected: tuple[Path, ...] = (),
    ) -> None:
        self.schemes = frozenset(schemes)
        #: Folders no local origin may lie in (see :func:`validate_source`).
        self.protected = protected
        self.limiter = trio.CapacityLimiter(max_parallel)
        self.cache = CloneCache(cache_root)

    async def validate(self, source: JobSource) -> None:
        """Refuse a source this preparer would not run (for the API, at submission).

        Raises:
            PreparationRefused: with a message naming the problem.
        """
        await validate_source(source, self.schemes, self.protected)

    async def prepare(self, job_dir: Path, source: JobSource) -> None:
        """Make ``tmp/``, ``keep/`` and ``src/`` in ``job_dir`` and apply the diff.

        Raises:
            PreparationRefused: the source is not acceptable; nothing was run or written.
            PreparationFailed: a step failed; its details are in ``pit.log``.
        """
        await self.validate(source)
        async with self.limiter:
            await _require_job_dir(job_dir)
            log = PitLog(job_dir / "pit.log", "prepare")
            try:
                await self._prepare(job_dir, source, log)
            except PreparationFailed as error:
                await log.write(f"Preparation failed: {error.message}")
                raise
            except OSError as error:
                failure = PreparationFailed(f"preparation failed: {error.strerror or error}")
                await log.write(f"Preparation failed: {error}")
                raise failure from error
            except BaseException as error:
                # Written right here: an await would be cancelled too.
                log.write_now(_interrupted(error))
                raise
            await log.write("Preparation done.")

    async def _prepare(self, job_dir: Path, source: JobSource, log: PitLog) -> None:
        if source.continue_from is not None:
            await log.write("Copying keep/ of the continued job.")
        skipped = await trio.to_thread.run_sync(make_work_dirs, job_dir, source.continue_from)
        for name in skipped:
            await log.write(f"Not copied (not a regular file): keep/{name}")
        src = job_dir / "src"
        if await trio.to_thread.run_sync(_lexists, src):
            raise PreparationFailed("src/ already exists")
        if source.origin is not None:
            await self._clone(job_dir, source.origin, source.commit, log)
        elif source.archive is not None:
            await log.write("Unpacking the archive.")
            await trio.to_thread.run_sync(unpack_archive, source.archive, src)
        else:
            await trio.to_thread.run_sync(src.mkdir)
        if source.diff and source.diff.strip():
            await log.write("Applying the diff.")
            await apply_diff(log, job_dir, source.diff, in_clone=source.origin is not None)

    async def _clone(self, job_dir: Path, origin: str, commit: str | None, log: PitLog) -> None:
        src = job_dir / "src"
        # A copy, not hardlinks or alternates: the job may write to src/.git, and must not be
        # able to change the cache other jobs clone from.
        checkout = ["--no-checkout"] if commit else []
        async with self.cache.open_mirror(origin, log, self.schemes) as mirror:
            clone = ["clone", "--no-hardlinks", *checkout, "--", str(mirror), str(src)]
            await run_git(log, clone, protocols={"file"}, what="git clone")
        # Stop git from looking above src/, should src/.git be missing.
        env = {"GIT_CEILING_DIRECTORIES": str(job_dir)}
        # The real origin: for relative submodule URLs, LFS and the job's own fetches.
        set_url = ["remote", "set-url", "origin", "--", origin]
        await run_git(log, set_url, cwd=src, env=env, what="git remote set-url")
        if commit:
            resolve = [
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                f"{commit}^{{commit}}",
            ]
            found = await run_git(log, resolve, cwd=src, env=env, capture=True)
            if not found.ok:
                raise PreparationFailed(f"commit {commit} not found in the origin")
            checkout = ["checkout", "--quiet", "--detach", found.stdout.strip(), "--"]
            await run_git(log, checkout, cwd=src, env=env, what="git checkout")
        if await trio.to_thread.run_sync((src / ".gitmodules").is_file):
            update = ["submodule", "update", "--init", "--recursive"]
            await run_git(
                log,
                update,
                cwd=src,
                env=env,
                protocols=self.schemes,
                what="git submodule update",
            )
        await self._fetch_lfs(src, env, log)

    async def _fetch_lfs(self, src: Path, env: dict[str, str], log: PitLog) -> None:
        uses_lfs, installed = await trio.to_thread.run_sync(_lfs_state, src)
        if not uses_lfs:
            return
        if not installed:
            await log.write("git-lfs is not installed: LFS files stay pointer files.")
            return
        for step in ("fetch", "checkout"):
            await run_git(
                log,
                ["lfs", step],
                cwd=src,
                env=env,
                protocols=self.schemes,
                what=f"git lfs {step}",
            )


async def clean(job_dir: Path) -> None:
    """Remove ``tmp/`` and ``src/`` of ``job_dir``; ``keep/``, logs and ``workers/`` stay.

    Raises:
        CleaningFailed: the job directory is missing or a folder could not be removed.
    """
    if not await trio.to_thread.run_sync(job_dir.is_dir):
        raise CleaningFailed("job directory is missing")
    log = PitLog(job_dir / "pit.log", "clean")
    await log.write("Removing tmp/ and src/.")
    try:
        await trio.to_thread.run_sync(remove_work_dirs, job_dir)
    except CleaningFailed as error:
        await log.write(f"Cleaning failed: {error.message}")
        raise
    await log.write("Cleaning done.")


async def _require_job_dir(job_dir: Path) -> None:
    if not await trio.to_thread.run_sync(job_dir.is_dir):
        raise PreparationFailed("job directory is missing")


def _interrupted(error: BaseException) -> str:
    if isinstance(error, BaseExceptionGroup):
        _, rest = error.split(trio.Cancelled)
        cancelled = rest is None
    else:
        cancelled = isinstance(error, trio.Cancelled)
    return "Preparation interrupted." if cancelled else f"Preparation failed: {error!r}"


def _lexists(path: Path) -> bool:
    return path.exists() or path.is_symlink()


def _lfs_state(src: Path) -> tuple[bool, bool]:
    """Whether ``src/.gitattributes`` mentions LFS, and whether git-lfs is installed."""
    try:
        attributes = (src / ".gitattributes").read_text(errors="replace")
    except OSError:
        return False, False
    return "filter=lfs" in attributes, shutil.which("git-lfs") is not None
