"""systemd's notify protocol (sd_notify(3)): READY=1, STOPPING=1 and status lines.

Speaks the protocol directly over the datagram socket named by ``$NOTIFY_SOCKET``; without that
variable (not started by systemd) every call does nothing.
"""

import os
import socket


def notify(state: str, environ: dict[str, str] | None = None) -> bool:
    """Send one notification such as ``"READY=1"``.

    Returns:
        True if a notify socket was configured and the message was sent.
    """
    address = (environ if environ is not None else os.environ).get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.connect(address)
            sock.sendall(state.encode())
        except OSError:
            return False
    return True
