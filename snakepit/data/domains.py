"""The data domains and who may do what in each.

    shared           read by everyone, anonymous callers included; written by nobody
    groups/<group>   read and written by its members and administrators
    home/<user>      read and written by that user and administrators
    pits/<job>       read by administrators, the owner and members of the job's groups;
                     never written through the API (only the running job writes it)

:func:`find_domain` decides the caller's rights from the store; the resolver
(:mod:`snakepit.data.resolver`) enforces them before it touches a path.
"""

import dataclasses
import enum
from pathlib import Path

from snakepit.access import can_read
from snakepit.data.errors import file_error
from snakepit.dataroot import DataRoot
from snakepit.errors import NotFound
from snakepit.models import User
from snakepit.store import Database, accounts, jobs


class Kind(enum.Enum):
    SHARED = "shared"
    GROUP = "groups"
    HOME = "home"
    JOB = "pits"


class Right(enum.Enum):
    READ = "read"
    WRITE = "write"


@dataclasses.dataclass(frozen=True)
class Domain:
    """One domain folder and what the caller may do in it."""

    kind: Kind
    root: Path
    may_read: bool
    may_write: bool

    def check(self, right: Right, what: str) -> None:
        """Refuse ``right`` on ``what`` unless the caller holds it.

        Raises:
            ApiError: 403 EACCES without read access; 403 EROFS for a write where the caller
                may only read.
        """
        if not self.may_read:
            raise file_error("EACCES", what, "Forbidden")
        if right is Right.WRITE and not self.may_write:
            raise file_error("EROFS", what, "Read-only for you")


def find_domain(
    database: Database, data_root: DataRoot, caller: User | None, kind: Kind, name: str = ""
) -> Domain:
    """The domain ``kind``/``name`` as ``caller`` sees it; ``name`` already validated.

    Raises:
        NotFound: (404 ENOENT) no such user, group or job; the existence of a user or group is
            only told to those who would have access to it.
    """
    if kind is Kind.SHARED:
        return Domain(kind, data_root.root / "shared", may_read=True, may_write=False)
    assert caller is not None, "only the shared domain is open to anonymous callers"
    if kind is Kind.HOME:
        allowed = caller.admin or caller.id == name
        if allowed and database.lookup(lambda c: accounts.get_user(c, name)) is None:
            raise NotFound("User not found", extra={"errno": "ENOENT"})
        return Domain(kind, data_root.home(name), allowed, allowed)
    if kind is Kind.GROUP:
        allowed = caller.admin or name in caller.groups
        if allowed and database.lookup(lambda c: accounts.get_group(c, name)) is None:
            raise NotFound("Group not found", extra={"errno": "ENOENT"})
        return Domain(kind, data_root.group(name), allowed, allowed)
    job = database.lookup(lambda c: jobs.get_job(c, int(name)))
    if job is None:
        raise NotFound("Job not found", extra={"errno": "ENOENT"})
    return Domain(kind, data_root.pit(job.id), can_read(caller, job), may_write=False)
