"""``pit completion bash``: a bash completion script for commands and entity prefixes."""

import argparse

from snakepit.cli.context import Context
from snakepit.cli.parser import build_parser, command_names

SCRIPT = """# bash completion for pit; use: source <(pit completion bash)
_pit_complete() {
    local current=${COMP_WORDS[COMP_CWORD]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "%(commands)s" -- "$current"))
    elif [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "%(entities)s" -- "$current"))
    else
        COMPREPLY=($(compgen -f -- "$current"))
    fi
}
complete -o default -F _pit_complete pit
"""

ENTITIES = "me users groups nodes aliases jobs home shared user: group: node: alias: job:"


def completion(ctx: Context, args: argparse.Namespace) -> int:
    commands = " ".join(command_names(build_parser()))
    print(SCRIPT % {"commands": commands, "entities": ENTITIES}, end="")
    return 0
