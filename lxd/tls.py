"""TLS for LXD: the client certificate and the pinned server certificate in one context.

Built once and passed to httpx as ``verify=`` and to the websocket client. Hostname checks stay
on: LXD's certificate carries ``IP:127.0.0.1`` (or the node's address) in its SAN.
"""

import ssl
from pathlib import Path


def client_ssl_context(cert: Path, key: Path, server_cert: Path | str) -> ssl.SSLContext:
    """A verifying TLS context that trusts only the server's certificate and presents ours.

    Args:
        cert: our client certificate (PEM file).
        key: its private key (PEM file).
        server_cert: the server's certificate: a PEM file, or the PEM text itself.

    Raises:
        OSError: a file cannot be read.
        ssl.SSLError: a file is not a usable certificate or key.
    """
    if isinstance(server_cert, str) and server_cert.lstrip().startswith("-----BEGIN"):
        context = ssl.create_default_context(cadata=server_cert)
    else:
        context = ssl.create_default_context(cafile=str(server_cert))
    context.load_cert_chain(str(cert), str(key))
    return context


def fetch_server_certificate(host: str, port: int, timeout_s: float) -> str:
    """The certificate a TLS server presents, unverified (trust on first use). Blocking.

    Only for registering a node, whose certificate is then pinned for every later call.

    Raises:
        OSError: nothing answers at ``host:port`` within ``timeout_s``.
    """
    return ssl.get_server_certificate((host, port), timeout=timeout_s)
