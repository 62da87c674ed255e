"""``pit run "title" [request]``: package the code (git or archive), submit, print the summary."""

import argparse
import json
import secrets
import string
import sys
from pathlib import Path
from typing import Any

from snakepit.cli import prompts
from snakepit.cli.archive import ARCHIVE_NAME, META_NAME, write_archive
from snakepit.cli.context import Context, say
from snakepit.cli.filecmds import upload_file
from snakepit.cli.gitsource import read_git_source
from snakepit.cli.jobcmds import write_log
from snakepit.client import jobs, transfer
from snakepit.client.domains import parse_domain
from snakepit.client.errors import ClientError
from snakepit.client.pitfiles import read_request_file
from snakepit.client.session import Session

MAX_TITLE = 40


def _job_object(args: argparse.Namespace, request: str) -> dict[str, Any]:
    job: dict[str, Any] = {"clusterRequest": request, "description": args.title}
    if args.private:
        job["private"] = True
    if args.continue_job is not None:
        job["continueJob"] = args.continue_job
    if args.execute is not None:
        job["script"] = args.execute
    return job


def _summary(number: int, job: dict[str, Any], extra: list[tuple[str, str]]) -> str:
    rows = [("Job number", str(number)), *extra, ("Resources", f'"{job["clusterRequest"]}"')]
    if job.get("private"):
        rows.append(("Private", "yes"))
    if "continueJob" in job:
        rows.append(("Continues", str(job["continueJob"])))
    if "script" in job:
        rows.append(("Command", job["script"]))
    return "".join(f"{label + ':':<12}{value}\n" for label, value in rows)


def run(ctx: Context, args: argparse.Namespace) -> int:
    cwd = ctx.places.cwd
    request = args.request or read_request_file(cwd)
    if not request:
        raise ClientError(
            "No resources requested from cluster. Please provide them either through command"
            ' line or through a ".pitrequest.txt" file in your project root.'
        )
    if len(args.title) > MAX_TITLE:
        raise ClientError(f"Job title too long ({MAX_TITLE} characters max)")
    job = _job_object(args, request)
    if not args.archive and (cwd / ".git").exists():
        say("Scheduling job through tracked git branch of current checkout")
        source = read_git_source(cwd)
        job.update(origin=source.origin, hash=source.hash, diff=source.diff)
        extra = [("Remote", f"{source.remote} <{source.shown_origin}>"), ("Hash", source.hash)]
        extra.append(("Diff LoC", str(source.diff_lines)))
        with ctx.session() as session:
            number = jobs.submit(session, job)
            sys.stdout.write(_summary(number, job, extra))
            _follow(session, number, args.log)
        return 0
    say("Scheduling job through archive of current directory")
    with ctx.session() as session:
        job = _upload_archive(session, cwd, job)
        number = jobs.submit(session, job)
        transfer.delete(session, parse_domain("home"), job["archive"])
        for name in (ARCHIVE_NAME, META_NAME):
            (cwd / name).unlink(missing_ok=True)
        sys.stdout.write(_summary(number, job, [("Archive", job["archive"])]))
        _follow(session, number, args.log)
    return 0


def _follow(session: Session, number: int, follow: bool) -> None:
    if follow:
        sys.stdout.write("\n")
        write_log(session, number)


def _upload_archive(session: Session, cwd: Path, job: dict[str, Any]) -> dict[str, Any]:
    archive, meta = cwd / ARCHIVE_NAME, cwd / META_NAME
    if archive.exists():
        if not meta.exists():
            raise ClientError(
                f"Found job upload archive {ARCHIVE_NAME} without meta data. Please delete or"
                " move before continuing."
            )
        stored = json.loads(meta.read_text())
        say(f"Found incomplete job upload in current directory (.job-upload*): {stored}")
        question = "Continue incomplete upload (y) or delete it and schedule a new job (N)? "
        if prompts.confirm(question):
            say("Continuing interrupted job upload...")
            job = stored
        else:
            say("Removing archive of interrupted job upload...")
            archive.unlink()
    if not archive.exists():
        say("Compressing current directory as job archive...")
        alphabet = string.ascii_letters + string.digits
        job["archive"] = ".upload-" + "".join(secrets.choice(alphabet) for _ in range(32))
        job["archive"] += ".tar.gz"
        meta.write_text(json.dumps(job))
        partial = cwd / (ARCHIVE_NAME + ".part")
        write_archive(cwd, partial, say)
        partial.replace(archive)
    say("", "Uploading job archive to user home...")
    upload_file(session, parse_domain("home"), job["archive"], archive, resume=True)
    return job
