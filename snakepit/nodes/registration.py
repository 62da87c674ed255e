"""Registering a node: trust, pin, probe, store. Shared by ``PUT /nodes/:node`` and the local
``snakepit add-node`` command that ``bin/snakepit-up`` uses for the head's own LXD.

The trust password (when one is given) is used once and never stored. Without one, the node's
LXD must trust the service's client certificate already (``bin/lxd-up --trust`` does that for
the local LXD).
"""

import sqlite3
from typing import Any

import trio

from lxd import ImageServer, LxdError
from snakepit.config import Config
from snakepit.models import NodeRecord
from snakepit.nodes.connect import LxdConnector, NoClientCertificate
from snakepit.nodes.discovery import DiscoveryFailed, discover_gpus
from snakepit.store import nodes as node_store

#: How a node hands a worker its GPUs: one LXD ``gpu`` device per GPU (the default), or only
#: ``CUDA_VISIBLE_DEVICES``/``NVIDIA_VISIBLE_DEVICES`` when the node's profiles pass the GPUs.
GPU_BINDINGS = ("lxd", "environment")


class RegistrationFailed(Exception):
    """The node could not be registered; the message says why, for the administrator."""


class NodeExists(RegistrationFailed):
    """A node with this id is registered already."""


async def probe_node(
    config: Config,
    connector: LxdConnector,
    node_id: str,
    endpoint: str,
    password: str | None,
) -> tuple[str, list[tuple[str, int, str]]]:
    """Make the node trust us (with ``password``), pin its certificate and find its GPUs.

    Returns:
        The node's server certificate (PEM) and its GPUs as ``(type, index, model)``.

    Raises:
        RegistrationFailed: with the reason.
        NoClientCertificate: the service has no LXD identity configured.
    """
    try:
        with trio.fail_after(config.max_start_duration_s):
            server_cert = await connector.first_certificate(endpoint)
            async with connector.open(endpoint, server_cert) as lxd:
                if password is not None:
                    await lxd.certificates.trust_self(name="snakepit", password=password)
                if (await lxd.server_info()).auth != "trusted":
                    raise RegistrationFailed(
                        "Problem adding node: the node's LXD does not trust the service"
                    )
                gpus = await discover_gpus(
                    lxd, node_id, config, await _head_images(config, endpoint)
                )
    except NoClientCertificate:
        raise
    except (ValueError, OSError, LxdError, DiscoveryFailed) as error:
        raise RegistrationFailed(f"Problem adding node: {error}") from None
    except trio.TooSlowError:
        raise RegistrationFailed("Problem adding node: it did not answer in time") from None
    return server_cert, gpus


async def _head_images(config: Config, endpoint: str) -> ImageServer | None:
    """None for the head's own LXD; else the head, to pull the images from."""
    if endpoint.rstrip("/") == config.endpoint.rstrip("/"):
        return None
    certificate = await trio.Path(config.lxd_server_cert).read_text()
    return ImageServer(config.endpoint, certificate)


def store_node(
    connection: sqlite3.Connection,
    node_id: str,
    endpoint: str,
    server_cert: str,
    gpus: list[Any],
    gpu_binding: str,
) -> NodeRecord:
    """Store a probed node as online with its GPUs.

    Raises:
        NodeExists: the id was taken meanwhile.
    """
    if not node_store.insert_node(connection, node_id, endpoint, server_cert, gpu_binding):
        raise NodeExists("Node with same id already registered")
    node_store.set_resources(connection, node_id, gpus)
    node_store.set_online(connection, node_id, True)
    node = node_store.get_node(connection, node_id)
    assert node is not None
    return node
