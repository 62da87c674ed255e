"""Helpers of the pit tests (no tests here): running ``pit`` as a user would, a subprocess in a
project folder with HOME in a temp folder."""

import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

import trio

#: Environment variables that could change what pit or git do; the tests set their own.
_DROPPED = ("HOME", "GIT_DIR", "GIT_WORK_TREE", "XDG_CONFIG_HOME")


@dataclasses.dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str
    raw: bytes


@dataclasses.dataclass
class Pit:
    """``await pit("status")`` runs ``python -m snakepit.cli status`` in ``cwd``."""

    cwd: Path
    home: Path

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if key not in _DROPPED}
        env.update(
            HOME=str(self.home),
            GIT_CONFIG_NOSYSTEM="1",
            GIT_AUTHOR_NAME="T",
            GIT_AUTHOR_EMAIL="t@example.org",
            GIT_COMMITTER_NAME="T",
            GIT_COMMITTER_EMAIL="t@example.org",
        )
        return env

    async def __call__(
        self, *args: str, stdin: bytes = b"", cwd: Path | None = None, timeout_s: float = 60
    ) -> Result:
        with trio.fail_after(timeout_s):
            done = await trio.run_process(
                [sys.executable, "-m", "snakepit.cli", *args],
                cwd=cwd or self.cwd,
                env=self.env(),
                stdin=stdin,
                capture_stdout=True,
                capture_stderr=True,
                check=False,
            )
        err = done.stderr.decode(errors="replace")
        assert "Traceback" not in err, err
        return Result(done.returncode, done.stdout.decode(errors="replace"), err, done.stdout)

    async def ok(self, *args: str, stdin: bytes = b"", cwd: Path | None = None) -> Result:
        result = await self(*args, stdin=stdin, cwd=cwd)
        assert result.code == 0, (args, result.out, result.err)
        return result

    async def fails(self, *args: str, stdin: bytes = b"", cwd: Path | None = None) -> str:
        """Run a command that must fail; returns the message after ``Command failed: ``."""
        result = await self(*args, stdin=stdin, cwd=cwd)
        assert result.code == 1, (args, result.out, result.err)
        assert "\nCommand failed: " in "\n" + result.err, result.err
        return ("\n" + result.err).split("\nCommand failed: ", 1)[1].strip()

    def sign_in_as(self, user: str, token: str) -> None:
        """Put ``.pituser.txt`` into HOME, as after an earlier sign-in."""
        path = self.home / ".pituser.txt"
        path.write_text(f"{user}\n{token}")
        path.chmod(0o600)

    def git(self, *args: str, cwd: Path | None = None) -> str:
        import subprocess

        done = subprocess.run(
            ["git", *args],
            cwd=cwd or self.cwd,
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout


@dataclasses.dataclass
class Lab:
    """A running service, its administrator ``root`` (signed in for pit), a project folder."""

    service: Any
    pit: Pit
    root_token: str

    def client(self, token: str | None = None) -> Any:
        return self.service.client(token)


async def start_lab(nursery: trio.Nursery, make_config: Any, tmp_path: Path) -> Lab:
    """A service accepting local git origins, ``root`` registered and signed in for ``pit``."""
    from tests.conftest import PASSWORD, register, start_service

    service = await start_service(
        nursery,
        make_config(originSchemes=["file"], pollInterval="100ms", maxPrepDuration="1m"),
    )
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    (project / ".pitconnect.txt").write_text(service.url + "\n")
    async with service.client() as anon:
        token = await register(anon, "root", PASSWORD, fullname="Root")
    pit = Pit(project, home)
    pit.sign_in_as("root", token)
    return Lab(service, pit, token)
