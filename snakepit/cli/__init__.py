"""The ``pit`` command line client (filled in by its own issue; see spec/pit-client.md)."""

import sys

from snakepit import __version__


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] in ("--version", "-V"):
        print(f"pit {__version__}")
        return 0
    print("pit: the command line client is not built yet; use the HTTP API", file=sys.stderr)
    return 1
