"""The ``snakepit`` command: ``snakepit serve`` runs the service; ``snakepit add-node`` registers
an LXD host that trusts the service already (the head's own LXD, for ``bin/snakepit-up``).

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
from snakepit.dataroot import DataRoot
from snakepit.errors import first_leaf
from snakepit.ids import NODE_ID, matches
from snakepit.logs import configure_logging
from snakepit.nodes.connect import LxdConnector, NoClientCertificate
from snakepit.nodes.registration import GPU_BINDINGS, RegistrationFailed, probe_node, store_node
from snakepit.server import serve
from snakepit.store import Database, StoreError
from snakepit.store import nodes as node_store

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
    add = commands.add_parser(
        "add-node",
        help="register an LXD host that already trusts the service's certificate (idempotent)",
    )
    add.add_argument("node", help="node id, [a-z][a-z0-9]*")
    add.add_argument("--endpoint", help="LXD endpoint https://HOST:PORT (default: endpoint)")
    add.add_argument("--gpu-binding", choices=GPU_BINDINGS, default="lxd")
    add.add_argument("--config", type=Path)
    return parser


def service_url(config: Config) -> str:
    """The URL a client on this machine uses (a wildcard interface means loopback here)."""
    host = config.interface
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if config.serves_tls else "http"
    return f"{scheme}://{host}:{config.port}"


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
    if args.command == "add-node":
        return _add_node(config, args.node, args.endpoint or config.endpoint, args.gpu_binding)
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


def _add_node(config: Config, node_id: str, endpoint: str, gpu_binding: str) -> int:
    if not matches(NODE_ID, node_id):
        print(f"snakepit: {node_id!r} is not a node id ([a-z][a-z0-9]*)", file=sys.stderr)
        return 2
    try:
        DataRoot(config.data_root).ensure_layout()
        database = Database.open(config.database_path)
    except (OSError, StoreError) as error:
        print(f"snakepit: {error}", file=sys.stderr)
        return 1

    async def add() -> str:
        if await database.read(lambda c: node_store.get_node(c, node_id)) is not None:
            return f"Node {node_id} is registered already"
        server_cert, gpus = await probe_node(config, LxdConnector(config), node_id, endpoint, None)
        await database.write(
            lambda c: store_node(c, node_id, endpoint.rstrip("/"), server_cert, gpus, gpu_binding)
        )
        return f"Node {node_id} added at {endpoint} with {len(gpus)} GPU(s)"

    try:
        print(trio.run(add))
    except (RegistrationFailed, NoClientCertificate) as error:
        print(f"snakepit: {error}", file=sys.stderr)
        return 1
    finally:
        database.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
