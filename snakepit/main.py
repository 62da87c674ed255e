"""The ``snakepit`` command: ``snakepit serve`` runs the service.

Exit codes: 0 after a clean shutdown, 2 for a configuration problem (one line on stderr naming
the key), 1 when the service cannot start for another reason (database, address in use).
"""

import argparse
import logging
import sys
from pathlib import Path

import trio

from snakepit import __version__
from snakepit.config import Config, ConfigError, load_config
from snakepit.errors import first_leaf
from snakepit.logs import configure_logging
from snakepit.server import serve
from snakepit.store import StoreError

log = logging.getLogger("snakepit")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snakepit", description="The Snakepit service.")
    parser.add_argument("--version", action="version", version=f"snakepit {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the service")
    serve_parser.add_argument(
        "--config",
        type=Path,
        help="configuration file (default $SNAKEPIT_CONF or /etc/snakepit/snakepit.conf)",
    )
    check = commands.add_parser("check-config", help="read the configuration and report problems")
    check.add_argument("--config", type=Path)
    check.add_argument(
        "--url", action="store_true", help="print the URL clients use to reach the service"
    )
    return parser


def service_url(config: Config) -> str:
    """The URL a client on this machine uses (a wildcard interface means loopback here)."""
    host = config.interface
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.port}"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config, warnings = load_config(args.config)
    except ConfigError as error:
        print(f"snakepit: configuration error: {error}", file=sys.stderr)
        return 2
    configure_logging(config.log_level)
    for warning in warnings:
        log.warning("%s", warning)
    if args.command == "check-config":
        if args.url:
            print(service_url(config))
        else:
            print("configuration is valid", file=sys.stderr)
        return 0
    exit_code = 0
    try:
        trio.run(lambda: serve(config, handle_signals=True))
    except* StoreError as group:
        log.error("%s", first_leaf(group))
        exit_code = 1
    except* OSError as group:
        log.error("cannot start: %s", first_leaf(group))
        exit_code = 1
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
