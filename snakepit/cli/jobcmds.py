"""``status``, ``log`` and ``stop``."""

import argparse
import json
import os
import sys

from snakepit.cli.context import Context, say
from snakepit.cli.tables import job_row, job_table_header, resource_width
from snakepit.client import jobs
from snakepit.client.session import Session


def status(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        board = jobs.status(session)
    if args.json:
        json.dump(board.raw, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    width = resource_width()
    sys.stdout.write(job_table_header(width))
    for caption, group in (
        ("Running:", board.running),
        ("Waiting:", board.waiting),
        ("Done:", board.done),
    ):
        if group:
            sys.stdout.flush()
            say(caption)
            sys.stdout.write("".join(job_row(job, width) for job in group))
    return 0


def write_log(session: Session, job: int) -> None:
    """Copy the job's log to stdout as it grows, until the job is done."""
    sys.stdout.flush()
    descriptor = sys.stdout.fileno()
    for chunk in jobs.follow_log(session, job):
        view = memoryview(chunk)
        while view:
            written = os.write(descriptor, view)
            view = view[written:]


def log(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        write_log(session, args.job)
    return 0


def stop(ctx: Context, args: argparse.Namespace) -> int:
    with ctx.session() as session:
        jobs.stop(session, args.job)
    return 0
