"""The rights table: every declared route against every role, one service for the whole table.

Roles: anonymous, a forged token, another user (bob, no groups), a non-member (nina, member of
another group), a member (mia, member of group ``lab``, which the target job and data are shared
with), the user themselves (carol: owner of the job, member of ``lab``) and an administrator.
The rows are those of ``tests/test_roles.py`` and the ``tests/roles_<family>.py`` modules; the
member's and the non-member's expectations follow from what the route guards: a group's data and
the reading of a shared job open to members, everything else treats them as any other user.

Also: job listings show another user's private job only as the spec's summary.
"""

import contextlib
import itertools
import time

import httpx

from snakepit.api import create_app, route_specs
from snakepit.jobs.states import JobState
from snakepit.store import jobs as job_store
from snakepit.tokens import issue_token
from tests.conftest import (
    PASSWORD,
    RunningService,
    insert_job_directly,
    insert_node_directly,
    register,
    sign_in,
    write_directly,
)
from tests.roles_common import Case
from tests.test_roles import CASES, fill, letters

#: Every role of the table, the test_roles ones and the two group roles.
RIGHTS_ROLES = ("anon", "forged", "other", "nonmember", "member", "self", "admin")

#: ``JobSummary`` of the spec (3.4): all anybody signed in sees of somebody else's private job.
SUMMARY_FIELDS = {
    "id",
    "description",
    "user",
    "resources",
    "state",
    "date",
    "since",
    "schedulePosition",
    "utilComp",
    "utilMem",
}
#: ``JobDetail`` without job access: the summary plus these.
DETAIL_FIELDS = SUMMARY_FIELDS | {"allocation", "clusterRequest", "continueJob"}
#: Only with job access.
ACCESS_FIELDS = {"provisioning", "groups", "stateChanges", "processes"}


def member_like_self(case: Case) -> bool:
    """Whether being in ``lab`` gives what carol has on this route: the group's data, and
    reading the job shared with ``lab`` (its data and log). Changing the job stays with its
    owner and administrators, and so do its workers."""
    if case.rule.startswith("/groups/<group>/") and case.path.startswith("/groups/lab/"):
        return True
    if case.rule.startswith(("/jobs/<job>/fs", "/jobs/<job>/simplefs")):
        return True
    return (case.method, case.rule) == ("GET", "/jobs/<job>/log")


def expected(case: Case) -> dict[str, int]:
    table = dict(case.expected)
    table["nonmember"] = table["other"]
    table["member"] = table["self"] if member_like_self(case) else table["other"]
    return table


def test_the_rights_table_covers_every_route(make_config):
    from snakepit.services import Services

    app = create_app(Services.build(make_config(), database=None))  # type: ignore[arg-type,unused-ignore]
    declared = {(spec.method, spec.rule) for spec in route_specs(app)}
    assert declared == {(case.method, case.rule) for case in CASES}
    assert all(set(expected(case)) == set(RIGHTS_ROLES) for case in CASES)


class Stage:
    """The targets of the table, put back in place after any call that may have changed them."""

    def __init__(
        self, service: RunningService, admin: httpx.AsyncClient, anon: httpx.AsyncClient
    ) -> None:
        self.service = service
        self.admin = admin
        self.anon = anon
        self.job = 0
        self.carol_token = ""
        self.counter = itertools.count()

    async def restore(self) -> None:
        admin = self.admin
        await admin.put("/groups/lab", json={"title": "Lab"})
        await admin.put("/aliases/gtx", json={"name": "GeForce GTX 1070"})
        if (await admin.get("/users/carol/exists")).status_code == 404:
            # By an admin: carol owns jobs, so nobody else may re-create the account.
            assert (await admin.put("/users/carol", json={"password": PASSWORD})).is_success
        for user in ("carol", "mia"):
            assert (await admin.put(f"/users/{user}/groups/lab")).is_success
        self.carol_token = await sign_in(self.anon, "carol")
        config = self.service.config
        self.job = insert_job_directly(config, "carol", JobState.DONE, b"the log\n")
        write_directly(config, lambda c: job_store.share(c, self.job, "lab"))
        insert_node_directly(config, "nx")

    def values(self) -> dict[str, str]:
        number = next(self.counter)
        return {
            "user": "carol",
            "new": f"user{number}",
            "newgroup": letters(number),
            "job": str(self.job),
        }


async def call(client: httpx.AsyncClient, case: Case, values: dict[str, str]) -> httpx.Response:
    path = fill(case.path, values)
    if case.content is not None:
        return await client.request(case.method, path, content=case.content, headers=case.headers)
    body = fill(case.body, values)
    return await client.request(case.method, path, json=body, headers=case.headers)


async def signed_in_roles(service: RunningService, anon: httpx.AsyncClient) -> dict[str, str]:
    tokens = {"admin": await register(anon, "root"), "other": await register(anon, "bob")}
    tokens["member"] = await register(anon, "mia")
    tokens["nonmember"] = await register(anon, "nina")
    async with service.client(tokens["admin"]) as admin:
        assert (await admin.put("/groups/elsewhere", json={"title": "Elsewhere"})).is_success
        assert (await admin.put("/users/nina/groups/elsewhere")).is_success
    tokens["forged"] = issue_token(b"not the secret", "root", "key", now=time.time(), ttl_s=60)
    return tokens


async def test_every_route_answers_every_role_as_declared(service, anon):
    tokens = await signed_in_roles(service, anon)
    mismatches: list[str] = []
    async with contextlib.AsyncExitStack() as stack:
        # One keep-alive client per role: a new httpx client costs a TLS context each time.
        clients = {
            role: await stack.enter_async_context(service.client(tokens.get(role)))
            for role in RIGHTS_ROLES
        }
        stage = Stage(service, clients["admin"], clients["anon"])
        await stage.restore()
        for case in CASES:
            table = expected(case)
            for role in RIGHTS_ROLES:
                clients["self"].headers["X-Auth-Token"] = stage.carol_token
                answer = await call(clients[role], case, stage.values())
                status = answer.status_code
                if status != table[role]:
                    mismatches.append(
                        f"{case.method} {case.rule} as {role}: {status}, expected {table[role]}"
                        f" ({answer.text[:120]!r})"
                    )
                elif status >= 400 and not answer.json().get("message"):
                    mismatches.append(f"{case.method} {case.rule} as {role}: no message")
                if case.method != "GET" and answer.is_success:
                    await stage.restore()  # it may have removed or changed a target
    assert mismatches == [], "\n".join(mismatches)


async def test_listings_show_another_users_private_job_only_as_a_summary(service, anon):
    tokens = await signed_in_roles(service, anon)
    async with service.client(tokens["admin"]) as admin:
        stage = Stage(service, admin, anon)
        await stage.restore()
    config = service.config
    private = insert_job_directly(config, "carol", JobState.DONE, b"secret\n", title="mine")
    shared = stage.job
    for role in ("other", "nonmember", "member"):
        async with service.client(tokens[role]) as client:
            listed = (await client.get("/jobs")).json()
            status = (await client.get("/jobs/status")).json()
            detail = (await client.get(f"/jobs/{private}")).json()
            shared_detail = (await client.get(f"/jobs/{shared}")).json()
        entries = [job for job in listed if job["id"] == private]
        entries += [job for jobs in status.values() for job in jobs if job["id"] == private]
        assert len(entries) == 2, (role, listed, status)
        for entry in entries:
            assert set(entry) == SUMMARY_FIELDS, (role, entry)
        assert set(detail) <= DETAIL_FIELDS, (role, detail)
        assert not set(detail) & ACCESS_FIELDS, (role, detail)
        # The job shared with lab opens to its members only.
        assert bool(set(shared_detail) & ACCESS_FIELDS) == (role == "member"), shared_detail
    # The owner and administrators see it all.
    for token in (stage.carol_token, tokens["admin"]):
        async with service.client(token) as client:
            detail = (await client.get(f"/jobs/{private}")).json()
        assert {"provisioning", "stateChanges"} <= set(detail)
    # Every listing entry, whoever asks, is a summary: nothing of the job's history or groups.
    async with service.client(tokens["admin"]) as client:
        for job in (await client.get("/jobs")).json():
            assert set(job) == SUMMARY_FIELDS
