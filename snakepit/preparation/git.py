"""Running git safely: argv lists, a scrubbed environment, hardening config, killable groups.

Every git process gets:

* ``-c protocol.allow=never`` plus ``protocol.<scheme>.allow=always`` for the schemes the caller
  allows for this step only, so ``ext::`` (and anything unlisted) is refused, also for
  submodules whose URLs come from the job's own ``.gitmodules``;
* no hooks, no fsmonitor, no background ``gc``/maintenance (nothing outlives the step);
* ``GIT_TERMINAL_PROMPT=0``, ``GIT_ASKPASS``/``SSH_ASKPASS`` set to ``/bin/true`` and a new
  session without a controlling terminal, so nothing ever waits for a password;
* an environment without inherited ``GIT_*`` variables that could redirect it (``GIT_DIR``,
  ``GIT_CONFIG_PARAMETERS``, ``GIT_ALLOW_PROTOCOL`` ...), except the few that configure
  transports;
* its own process group: when the caller cancels, the whole group gets SIGTERM (git removes its
  lock files and half-written directories), then SIGKILL after :data:`TERM_GRACE_S`.
  ``trio.run_process``'s default only signals git itself, and the ``upload-pack`` and
  ``pack-objects`` children of a clone then go on running as orphans.

Each command line is logged as ``+ git ...`` (like the published ``set -x``), and git's output
lines go to ``pit.log`` as they come.
"""

import collections
import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import trio

from snakepit.preparation.errors import PreparationFailed
from snakepit.preparation.pitlog import PitLog

#: The git executable, found on PATH.
GIT = "git"

#: Seconds git gets after SIGTERM to remove its lock files before its group is killed.
TERM_GRACE_S = 5.0

#: Output lines kept to explain a failure.
TAIL_LINES = 50

#: Most stdout bytes kept from a command whose output is captured.
MAX_CAPTURE_BYTES = 1024 * 1024

#: Config given to every git process (see the module docstring).
HARDENING = (
    "protocol.allow=never",
    "protocol.ext.allow=never",
    "core.hooksPath=/dev/null",
    "core.fsmonitor=false",
    "gc.autoDetach=false",
    "maintenance.autoDetach=false",
    "advice.detachedHead=false",
    "init.defaultBranch=main",
)

#: Inherited ``GIT_*`` variables kept: they configure transports, not where git works.
KEPT_GIT_VARIABLES = frozenset(
    {
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_SSL_CAINFO",
        "GIT_SSL_CAPATH",
        "GIT_CONFIG_GLOBAL",
        "GIT_CONFIG_SYSTEM",
        "GIT_CONFIG_NOSYSTEM",
        "GIT_EXEC_PATH",
    }
)


@dataclass(frozen=True)
class GitResult:
    """How a git command ended: its exit status, captured stdout and its last output lines."""

    returncode: int
    stdout: str
    tail: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def reason(self) -> str:
        """git's last ``fatal:``/``error:`` line, else its last line, else the exit status."""
        for line in reversed(self.tail):
            if line.startswith(("fatal:", "error:")):
                return line
        return self.tail[-1] if self.tail else f"exit status {self.returncode}"

    def failure(self, what: str) -> PreparationFailed:
        """The error to raise: ``<what> failed: <reason>``."""
        return PreparationFailed(f"{what} failed: {self.reason()}")


def git_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for git: inherited, minus redirecting ``GIT_*``, plus no prompts."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("GIT_") or key in KEPT_GIT_VARIABLES
    }
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="/bin/true",
        SSH_ASKPASS="/bin/true",
        LC_ALL="C",
    )
    env.update(extra or {})
    return env


def git_argv(args: Iterable[str], protocols: Iterable[str] = ()) -> list[str]:
    """``git`` with the hardening config, the allowed ``protocols``, then ``args``."""
    config = [*HARDENING, *(f"protocol.{name}.allow=always" for name in sorted(protocols))]
    return [GIT, *(part for item in config for part in ("-c", item)), *args]


async def run_git(
    log: PitLog,
    args: list[str],
    *,
    cwd: Path | None = None,
    protocols: Iterable[str] = (),
    env: Mapping[str, str] | None = None,
    capture: bool = False,
    what: str | None = None,
    echo: bool = True,
) -> GitResult:
    """Run ``git <args>``, logging the command and its output lines to ``log``.

    Args:
        log: where the command line and output go.
        args: git's arguments; positional URLs and paths must follow ``--``.
        cwd: working directory.
        protocols: transports allowed for this command (``https``, ``file``, ...).
        env: extra environment variables.
        capture: keep stdout (returned, not logged) instead of logging it.
        what: if given, a non-zero exit raises ``PreparationFailed("<what> failed: ...")``.
        echo: log the command line (not for internal checks users need not see).

    Returns:
        The exit status, stdout if captured, and the last output lines.

    Raises:
        PreparationFailed: git failed and ``what`` was given.
    """
    if echo:
        await log.write("+ " + shlex.join([GIT, *args]))
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
    stdout = bytearray()
    process: trio.Process | None = None
    try:
        async with trio.open_nursery() as nursery:
            process = await nursery.start(
                partial(
                    trio.run_process,
                    git_argv(args, protocols),
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    cwd=cwd,
                    env=git_env(env),
                    check=False,
                    start_new_session=True,
                    deliver_cancel=_stop_group,
                )
            )
            assert process.stdout is not None
            assert process.stderr is not None
            nursery.start_soon(_pump_lines, process.stderr, log, tail)
            if capture:
                nursery.start_soon(_collect, process.stdout, stdout)
            else:
                nursery.start_soon(_pump_lines, process.stdout, log, tail)
    except BaseException as error:
        # run_process has reaped git; anything of its group that ignored SIGTERM goes now.
        if process is not None:
            _signal_group(process.pid, signal.SIGKILL)
        # git missing, a missing cwd, or pit.log unwritable: a failure of the step, not a bug.
        problem = _only_os_error(error)
        if problem is not None:
            summary = f"{what} failed" if what else "git could not be run"
            raise PreparationFailed(f"{summary}: {problem.strerror}") from error
        raise
    assert process is not None
    assert process.returncode is not None
    result = GitResult(process.returncode, stdout.decode("utf-8", "replace"), tuple(tail))
    if what is not None and not result.ok:
        raise result.failure(what)
    return result


def _only_os_error(error: BaseException) -> OSError | None:
    """The OSError that ``error`` is, or that a nursery's group holds alone."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error if isinstance(error, OSError) else None


async def _pump_lines(
    stream: trio.abc.ReceiveStream, log: PitLog, tail: collections.deque[str]
) -> None:
    async with stream:
        pending = b""
        async for chunk in stream:
            pending += chunk
            *lines, pending = pending.replace(b"\r", b"\n").split(b"\n")
            await _log_lines(lines, log, tail)
        await _log_lines([pending], log, tail)


async def _log_lines(raw: list[bytes], log: PitLog, tail: collections.deque[str]) -> None:
    lines = [line.decode("utf-8", "replace").rstrip() for line in raw]
    lines = [line for line in lines if line.strip()]
    if lines:
        tail.extend(lines)
        await log.write(*lines)


async def _collect(stream: trio.abc.ReceiveStream, into: bytearray) -> None:
    async with stream:
        async for chunk in stream:
            into += chunk[: max(0, MAX_CAPTURE_BYTES - len(into))]


async def _stop_group(process: trio.Process) -> None:
    """``deliver_cancel`` for git: SIGTERM its group, SIGKILL it after a grace period."""
    _signal_group(process.pid, signal.SIGTERM)
    await trio.sleep(TERM_GRACE_S)
    _signal_group(process.pid, signal.SIGKILL)


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)
