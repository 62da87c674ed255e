"""A raw LXD REST client over httpx, for trio. Knows nothing of jobs.

    async with open_lxd("https://127.0.0.1:8443", client_ssl_context(cert, key, server)) as lxd:
        await lxd.instances.create("c1", image_alias="snakepit-tiny")
        await lxd.instances.start("c1")
        result = await lxd.exec.run("c1", ["echo", "hi"])

Every call runs inside the caller's deadline (``trio.fail_after``); none sets its own.
"""

from lxd.client import Lxd, open_lxd
from lxd.errors import (
    Conflict,
    LxdApiError,
    LxdError,
    LxdUnreachable,
    NotFound,
    OperationFailed,
)
from lxd.models import (
    Certificate,
    ExecResult,
    FileInfo,
    Image,
    ImageServer,
    Instance,
    InstanceState,
    ServerInfo,
)
from lxd.tls import client_ssl_context

__all__ = [
    "Certificate",
    "Conflict",
    "ExecResult",
    "FileInfo",
    "Image",
    "ImageServer",
    "Instance",
    "InstanceState",
    "Lxd",
    "LxdApiError",
    "LxdError",
    "LxdUnreachable",
    "NotFound",
    "OperationFailed",
    "ServerInfo",
    "client_ssl_context",
    "open_lxd",
]
