"""Plain, frozen records that the store returns and the API renders."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class User:
    id: str
    password_hash: str
    admin: bool
    fullname: str | None
    email: str | None
    token_key: str
    groups: tuple[str, ...] = ()
    autoshare: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class Group:
    id: str
    title: str | None


@dataclasses.dataclass(frozen=True)
class Alias:
    id: str
    name: str


@dataclasses.dataclass(frozen=True)
class StateChange:
    state: int
    since: str
    reason: str | None


@dataclasses.dataclass(frozen=True)
class ProcessRecord:
    group_index: int
    process_index: int
    node_id: str | None
    status: int | None
    result: str | None


@dataclasses.dataclass(frozen=True)
class Job:
    id: int
    user_id: str
    description: str
    provisioning: str
    request: str
    state: int
    since: str
    rank: int
    allocation: str | None
    continues: int | None
    util_compute: float
    util_memory: float
    groups: tuple[str, ...] = ()
    state_changes: tuple[StateChange, ...] = ()
    processes: tuple[ProcessRecord, ...] = ()


@dataclasses.dataclass(frozen=True)
class ResourceRecord:
    id: int
    type: str
    index: int
    name: str
    alias: str | None
    groups: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class NodeRecord:
    id: str
    endpoint: str
    online: bool
    available: bool
    since: str
    server_cert: str
    resources: tuple[ResourceRecord, ...] = ()
    gpu_binding: str = "lxd"
