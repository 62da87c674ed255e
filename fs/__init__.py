"""The pyfuse3 filesystem behind ``pit mount``: one data domain of the service as a directory.

The ``pit`` command line calls :func:`run_mount` and :func:`unmount`; ``python -m fs URL DOMAIN
MOUNTPOINT`` (token in ``SNAKEPIT_TOKEN``) runs a mount on its own, for tests and scripts.
"""

from fs.domains import MountError, domain_prefix
from fs.mount import run_mount, unmount

__all__ = ["MountError", "domain_prefix", "run_mount", "unmount"]
