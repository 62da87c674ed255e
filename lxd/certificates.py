"""Trusted client certificates: add with a trust password (LXD 5.0) or token, list, remove."""

import base64
import hashlib
import ssl
from urllib.parse import quote

from lxd.errors import LxdApiError
from lxd.models import Certificate
from lxd.transport import Transport


def fingerprint(pem: str) -> str:
    """The SHA-256 fingerprint LXD uses for a PEM certificate."""
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()


class Certificates:
    """The ``/1.0/certificates`` resource."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def list(self) -> list[Certificate]:
        found = await self._transport.sync("GET", "/1.0/certificates", params={"recursion": "1"})
        return [
            Certificate(data["fingerprint"], data.get("name", ""), data["type"]) for data in found
        ]

    async def trust_self(
        self, *, name: str, password: str | None = None, token: str | None = None
    ) -> bool:
        """Have LXD trust the certificate this client presents.

        Uses the server's trust password (LXD 5.0) or a trust token (newer LXD).

        Returns:
            False if the certificate was trusted already.

        Raises:
            LxdApiError: wrong password or token.
        """
        body: dict[str, object] = {"type": "client", "name": name}
        if token is not None:
            body["trust_token"] = token
        else:
            body["password"] = password or ""
        try:
            await self._transport.sync("POST", "/1.0/certificates", json_body=body)
        except LxdApiError as error:
            message = error.message.lower()
            if "already trusted" in message or "already in trust store" in message:
                return False
            raise
        return True

    async def add(self, pem: str, *, name: str) -> None:
        """Trust another client certificate (needs a trusted client)."""
        der = ssl.PEM_cert_to_DER_cert(pem)
        await self._transport.sync(
            "POST",
            "/1.0/certificates",
            json_body={
                "type": "client",
                "name": name,
                "certificate": base64.b64encode(der).decode("ascii"),
            },
        )

    async def remove(self, fingerprint: str) -> None:
        await self._transport.sync("DELETE", f"/1.0/certificates/{quote(fingerprint)}")
