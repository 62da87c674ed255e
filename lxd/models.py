"""Frozen records returned by the client."""

import dataclasses
from collections.abc import Mapping
from typing import Any


@dataclasses.dataclass(frozen=True)
class ServerInfo:
    auth: str  #: "trusted" or "untrusted"
    api_version: str
    server_version: str
    certificate: str  #: the server's certificate (PEM), empty when untrusted
    addresses: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Instance:
    name: str
    status: str  #: "Running", "Stopped", ...
    config: Mapping[str, str]
    devices: Mapping[str, Mapping[str, str]]
    profiles: tuple[str, ...]

    @classmethod
    def from_metadata(cls, data: Mapping[str, Any]) -> "Instance":
        return cls(
            name=data["name"],
            status=data.get("status", ""),
            config=dict(data.get("config") or {}),
            devices={key: dict(value) for key, value in (data.get("devices") or {}).items()},
            profiles=tuple(data.get("profiles") or ()),
        )


@dataclasses.dataclass(frozen=True)
class InstanceState:
    status: str
    pid: int
    #: interface name → IPv4 and IPv6 addresses (global scope only)
    addresses: Mapping[str, tuple[str, ...]]

    @property
    def ipv4(self) -> tuple[str, ...]:
        """All global IPv4 addresses, loopback excluded."""
        return tuple(
            address
            for interface, found in self.addresses.items()
            if interface != "lo"
            for address in found
            if ":" not in address
        )


@dataclasses.dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


@dataclasses.dataclass(frozen=True)
class FileInfo:
    mode: int
    uid: int
    gid: int
    kind: str  #: "file", "directory" or "symlink"


@dataclasses.dataclass(frozen=True)
class Image:
    fingerprint: str
    aliases: tuple[str, ...]
    size: int
    public: bool


@dataclasses.dataclass(frozen=True)
class Certificate:
    fingerprint: str
    name: str
    type: str


@dataclasses.dataclass(frozen=True)
class ImageServer:
    """Another LXD to pull an image from when creating an instance (a node pulls the pit
    images from the head). Its images must be public; ``certificate`` pins its TLS."""

    endpoint: str
    certificate: str
