"""The ``pit`` command line client (see ``spec/pit-client.md`` for the published one).

:func:`main` parses the arguments, imports only the module of the command that runs, runs it
(blocking; trio only where ``exec`` and ``forward`` need it), and is the one place where errors
become messages and exit codes: 0 for success, 1 with ``Command failed: <message>`` on stderr
for every :class:`ClientError`, 130 on Ctrl-C.

Modules: ``parser`` (grammar), ``context`` (files, sign-in, re-login), ``prompts``, ``tables``
(layouts), and one per command family: ``entities``, ``jobcmds``, ``run`` (with ``gitsource``
and ``archive``), ``filecmds`` (with ``progress``), ``remote`` (mount, exec, forward),
``completion``.
"""

import argparse
import os
import sys


def _split_remote_command(args: list[str]) -> tuple[list[str], list[str]]:
    """``pit exec N -- cmd args``: the words after the first ``--`` are the remote command."""
    if "exec" in args and "--" in args and args.index("exec") < args.index("--"):
        cut = args.index("--")
        return args[:cut], args[cut + 1 :]
    return args, []


def main(argv: list[str] | None = None) -> int:
    """Run ``pit`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status."""
    from snakepit.cli.parser import build_parser, command_names
    from snakepit.client.errors import ClientError

    args_list, remote_command = _split_remote_command(list(sys.argv[1:] if argv is None else argv))
    words = [word for word in args_list if not word.startswith("-")]
    parser = build_parser(only=words[0] if words else None)
    if words and words[0] not in command_names(parser):
        print(f'Command failed: unknown command "{words[0]}"', file=sys.stderr)
        return 1
    try:
        if not args_list:
            parser.print_help()
            return 0
        args = parser.parse_args(args_list)
        if args.version:
            from snakepit import __version__

            print(__version__)
            return 0
        if args.command is None:
            parser.print_help()
            return 0
        args.command_words = remote_command
        if args.command == "exec":
            args.command = remote_command
        return _run(args)
    except ClientError as error:
        print(f"Command failed: {error.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (``pit status | head``): nothing more to say, and
        # nothing for the interpreter to flush at exit either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


def _run(args: argparse.Namespace) -> int:
    import importlib

    from snakepit.cli.context import Context, Quit
    from snakepit.client.pitfiles import Places

    module_name, function_name = args.handler.split(":")
    module = importlib.import_module(f"snakepit.cli.{module_name}")
    handler = getattr(module, function_name)
    ctx = Context(Places.current(), debug=bool(getattr(args, "debug", False)))
    try:
        code = int(handler(ctx, args))
    except Quit as quit_:
        return quit_.code
    sys.stdout.flush()
    return code
