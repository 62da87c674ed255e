"""TLS for LXD: the client certificate and the pinned server certificate in one context.

Built once and passed to httpx as ``verify=`` and to the websocket client. Hostname checks stay
on: LXD's certificate carries ``IP:127.0.0.1`` (or the node's address) in its SAN.
"""

import ssl
from pathlib import Path


def client_ssl_context(cert: Path, key: Path, server_cert: Path) -> ssl.SSLContext:
    """A verifying TLS context that trusts only ``server_cert`` and presents ``cert``/``key``.

    Raises:
        OSError: a file cannot be read.
        ssl.SSLError: a file is not a usable certificate or key.
    """
    context = ssl.create_default_context(cafile=str(server_cert))
    context.load_cert_chain(str(cert), str(key))
    return context
