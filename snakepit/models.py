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
