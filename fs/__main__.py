"""``python -m fs URL DOMAIN MOUNTPOINT``: mount a domain with the token in ``SNAKEPIT_TOKEN``.

``SNAKEPIT_CA_CERT`` may name a PEM file to trust for an ``https`` URL. Prints one line once
mounted; exits 0 after unmounting, 1 with a message when the mount cannot be made.
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from fs.domains import MountError
from fs.mount import run_mount
from snakepit.client.connection import Connection


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m fs", description=__doc__.split("\n")[0])
    parser.add_argument("url", help="the service, e.g. https://head:8443")
    parser.add_argument("domain", help="home, shared, group:NAME, job:N, N or user:NAME")
    parser.add_argument("mountpoint", type=Path, help="an empty directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="fs: %(levelname)s %(name)s: %(message)s")
    ca_path = os.environ.get("SNAKEPIT_CA_CERT")
    connection = Connection(
        args.url.rstrip("/"),
        token=os.environ.get("SNAKEPIT_TOKEN") or None,
        ca_cert=Path(ca_path).read_text() if ca_path else None,
    )
    try:
        run_mount(connection, args.domain, args.mountpoint, on_mounted=announce)
    except MountError as error:
        print(f"Command failed: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # before the filesystem was mounted
        return 130
    return 0


def announce(message: str) -> None:
    print(message, flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
