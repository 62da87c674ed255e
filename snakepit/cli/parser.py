"""The command-line grammar: commands, aliases and options of the published client, plus
``--json``, ``mount``/``umount`` and ``completion``.

Each command names its handler as ``module:function`` (``handler`` default), imported only when
that command runs, so that ``pit status`` does not load what ``pit run`` needs.
"""

import argparse
from typing import Any

from snakepit.client.errors import ClientError

FILE_ENTITIES = "home, user:NAME, group:NAME, job:N or N, shared"

#: Examples shown by ``pit <command> --help``.
EXAMPLES = {
    "add": [
        'pit add group:lab title="Students of ML"',
        'pit add alias:gtx1070 name="GeForce GTX 1070"',
        "pit add node:n0 endpoint=https://10.0.0.2:8443",
        "pit add user:alice fullname=Alice email=alice@example.org",
    ],
    "show": [
        "pit show me",
        "pit show job:12",
        "pit show jobs user=alice limit=5",
        "pit show nodes",
    ],
    "run": [
        'pit run "first light" "[2:gtx1070]"',
        'pit run -p -e \'python3 train.py --epochs 3\' "quick try" "[]"',
        'pit run -a -c 12 "go on" "2:[gtx1070]"',
    ],
    "pull": ["pit pull 12 keep/model.pt .", "pit pull -c home data/big.bin big.bin"],
    "push": ["pit push home data/train.csv train.csv", "cat notes | pit push group:lab notes.txt"],
    "exec": ["pit exec 12 -- bash", "pit exec -w 1 12 -- nvidia-smi"],
    "forward": ["pit forward 12 6006", "pit forward 12 8080:80 7022:22"],
    "ls": ["pit ls home", "pit ls 12 keep", "pit ls shared --json"],
    "mount": ["pit mount home ~/pit-home", "pit mount job:12 /tmp/job12"],
}


class Parser(argparse.ArgumentParser):
    """argparse with errors raised as :class:`ClientError` (exit 1, one message)."""

    #: Every command name and alias, also those whose parser was not built.
    all_commands: list[str]

    def error(self, message: str) -> None:  # type: ignore[override]
        raise ClientError(message)


class _Skipped:
    """Stands in for the parser of a command that is not run (building all costs start-up)."""

    def add_argument(self, *args: object, **kwargs: object) -> None:
        pass

    def set_defaults(self, **kwargs: object) -> None:
        pass


def job_number(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"not a job number: {text!r}")
    return int(text)


def build_parser(only: str | None = None) -> Parser:
    """The parser of ``pit``; with ``only``, the sub-parser of that command alone is built."""
    common = Parser(add_help=False)
    common.add_argument(
        "-d",
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print HTTP requests and answer codes on stderr",
    )
    listing = Parser(add_help=False)
    listing.add_argument("--json", action="store_true", help="print the service's JSON answer")

    parser = Parser(prog="pit", description="Command line client of a Snakepit service.")
    parser.add_argument("-V", "--version", action="store_true", help="print the version")
    parser.add_argument("-d", "--debug", action="store_true", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    parser.all_commands = []

    def command(
        name: str, handler: str, help_: str, *, aliases: tuple[str, ...] = (), json: bool = False
    ) -> Any:
        parser.all_commands.extend((name, *aliases))
        if only is not None and only not in (name, *aliases):
            return _Skipped()
        parents = [common, listing] if json else [common]
        examples = EXAMPLES.get(name)
        sub = commands.add_parser(
            name,
            aliases=list(aliases),
            help=help_,
            parents=parents,
            epilog="examples:\n" + "\n".join(f"  $ {line}" for line in examples)
            if examples
            else None,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        sub.set_defaults(handler=handler)
        return sub

    sub = command("add", "entities:add", "add a user, node, alias or group")
    sub.add_argument("entity", help="user:NAME, node:NAME, alias:NAME or group:NAME")
    sub.add_argument("properties", nargs="*", help="key=value assignments")
    sub = command("remove", "entities:remove", "remove an entity", aliases=("rm",))
    sub.add_argument("entity", help="user:, node:, job:, alias: or group:")
    sub = command("set", "entities:set_", "change properties of a user, alias or group")
    sub.add_argument("entity")
    sub.add_argument("assignments", nargs="+", help="key=value assignments")
    sub = command("passwd", "entities:passwd", "change a password (your own by default)")
    sub.add_argument("username", nargs="?")
    sub = command("get", "entities:get", "print one property of an entity")
    sub.add_argument("entity")
    sub.add_argument("property")
    sub = command("show", "entities:show", "show an entity or a list", json=True)
    sub.add_argument(
        "entity",
        help="me, users, groups, nodes, aliases, jobs, or TYPE:ID (user, node, job, alias, group)",
    )
    sub.add_argument("params", nargs="*", help="for jobs: filters such as user=NAME limit=N")
    for name, handler, what in (
        ("add-group", "entities:add_group", "add an entity to a group"),
        ("remove-group", "entities:remove_group", "remove an entity from a group"),
    ):
        sub = command(name, handler, what)
        sub.add_argument("entity", help="user:NAME, node:NAME[:INDEX] or job:N")
        sub.add_argument("group")
    sub = command("stop", "jobcmds:stop", "stop a job")
    sub.add_argument("job", type=job_number)
    sub = command("run", "run:run", "schedule a job", aliases=("put",))
    sub.add_argument("-p", "--private", action="store_true", help="do not share with groups")
    sub.add_argument("-a", "--archive", action="store_true", help="send the directory archived")
    sub.add_argument(
        "-c",
        "--continue",
        dest="continue_job",
        type=job_number,
        metavar="JOB",
        help="continue a job (copies its keep/ folder)",
    )
    sub.add_argument("-e", "--execute", metavar="COMMAND", help="bash command line to run")
    sub.add_argument("-l", "--log", action="store_true", help="follow the log afterwards")
    sub.add_argument("title")
    sub.add_argument("request", nargs="?", help="resources, e.g. [2:gtx1070] (.pitrequest.txt)")
    sub = command("log", "jobcmds:log", "print a job's log, following it until the job ends")
    sub.add_argument("-f", "--follow", action="store_true", help="(always on)")
    sub.add_argument("job", type=job_number)
    sub = command("exec", "remote:exec_", "run a command in a running job: pit exec N -- cmd")
    sub.add_argument("-w", "--worker", type=int, default=0, help="worker index (default 0)")
    sub.add_argument("job", type=job_number)
    sub = command("forward", "remote:forward", "forward ports of a running job to localhost")
    sub.add_argument("-w", "--worker", type=int, default=0, help="worker index (default 0)")
    sub.add_argument("job", type=job_number)
    sub.add_argument("ports", nargs="*", help="PORT or LOCAL:REMOTE")
    sub = command("ls", "filecmds:ls", "list a directory of a data domain", json=True)
    sub.add_argument("entity", help=FILE_ENTITIES)
    sub.add_argument("path", nargs="?", default="")
    sub = command("pull", "filecmds:pull", "download a file", aliases=("cp",))
    sub.add_argument("-f", "--force", action="store_true", help="download again from the start")
    sub.add_argument("-c", "--continue", dest="cont", action="store_true", help="resume")
    sub.add_argument("entity", help=FILE_ENTITIES)
    sub.add_argument("path")
    sub.add_argument("local", nargs="?", help="file or directory (stdout if omitted)")
    sub = command("cat", "filecmds:cat", "print a file")
    sub.add_argument("entity", help=FILE_ENTITIES)
    sub.add_argument("path")
    sub = command("push", "filecmds:push", "upload a file")
    sub.add_argument("-f", "--force", action="store_true", help="upload again from the start")
    sub.add_argument("-c", "--continue", dest="cont", action="store_true", help="resume")
    sub.add_argument("entity", help=FILE_ENTITIES)
    sub.add_argument("path")
    sub.add_argument("local", nargs="?", help="local file (stdin if omitted)")
    sub = command("mkdir", "filecmds:mkdir", "create a directory")
    sub.add_argument("entity", help=FILE_ENTITIES)
    sub.add_argument("path")
    sub = command("delete", "filecmds:delete", "delete a file or directory (recursively)")
    sub.add_argument("entity", help=FILE_ENTITIES)
    sub.add_argument("path")
    command("status", "jobcmds:status", "show running, waiting and finished jobs", json=True)
    sub = command("mount", "remote:mount", "mount a data domain with FUSE")
    sub.add_argument("domain", help=FILE_ENTITIES)
    sub.add_argument("mountpoint")
    sub = command("umount", "remote:umount", "unmount a data domain")
    sub.add_argument("mountpoint")
    sub = command("completion", "completion:completion", "print a shell completion script")
    sub.add_argument("shell", choices=["bash"])
    return parser


def command_names(parser: Parser) -> list[str]:
    return list(parser.all_commands)
