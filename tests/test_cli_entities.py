"""pit status, show, add, set, get, remove, add-group and remove-group against a real service,
outputs compared with the published client's layouts."""

import json

import pytest

from snakepit.jobs.states import JobState
from tests.conftest import PASSWORD, insert_job_directly, insert_node_directly, register
from tests.test_cli_helpers import start_lab

HEADER = (
    "   JOB   S SINCE        UC% UM% USER       TITLE" + " " * 36 + "RESOURCE" + " " * 22 + "\n"
)


@pytest.fixture
async def lab(nursery, make_config, tmp_path):
    lab = await start_lab(nursery, make_config, tmp_path)
    yield lab
    await lab.service.stop()


def row(job, state, user, title, resource="[]", third="00d 00:00:00"):
    return f"{job:>6} {state:>3} {third:<12}   0   0 {user:<10} {title:<40} {resource:<30}\n"


async def test_status_lays_out_running_waiting_and_done(lab):
    config = lab.service.config
    running = insert_job_directly(config, "root", JobState.RUNNING, title="training a model")
    waiting = insert_job_directly(config, "root", JobState.WAITING, title="t" * 45)
    done = insert_job_directly(config, "root", JobState.DONE, title="finished")
    result = await lab.pit.ok("status")
    lines = result.out.splitlines(keepends=True)
    assert lines[0] == HEADER
    assert len(lines) == 4
    # SINCE is a few seconds at most; compare the rest exactly.
    for line, (job, state, title) in zip(
        lines[1:],
        [
            (running, "RUN", "training a model"),
            (waiting, "WAI", "t" * 40),
            (done, "FIN", "finished"),
        ],
        strict=True,
    ):
        expected = row(job, state, "root", title)
        assert line[:11] + line[23:] == expected[:11] + expected[23:]
        assert line[11:23].startswith("00d 00:00:0")
    assert result.err == "Running:\nWaiting:\nDone:\n"
    as_json = json.loads((await lab.pit.ok("status", "--json")).out)
    assert [job["id"] for job in as_json["done"]] == [done]


async def test_status_of_an_empty_service_is_the_header(lab):
    result = await lab.pit.ok("status")
    assert (result.out, result.err) == (HEADER, "")


async def test_show_jobs_with_filters(lab):
    config = lab.service.config
    insert_job_directly(config, "root", JobState.DONE, title="train a")
    second = insert_job_directly(config, "root", JobState.DONE, title="eval b")
    result = await lab.pit.ok("show", "jobs", "title=eval%")
    lines = result.out.splitlines()
    assert lines[0].startswith("   JOB   S DATE                     UC% UM% USER")
    assert len(lines) == 2
    assert lines[1].startswith(f"{second:>6} FIN 20")
    assert "Unknown query parameter sort" in await lab.pit.fails("show", "jobs", "sort=date")


async def test_show_job_details(lab):
    job = insert_job_directly(lab.service.config, "root", JobState.DONE, title="first light")
    out = (await lab.pit.ok("show", f"job:{job}")).out
    lines = out.splitlines()
    assert lines[:6] == [
        f"Job number:    {job}",
        "Title:         first light",
        "Owner:         root",
        "Provisioning:  Script",
        "Resources:     []",
        "State:         FIN",
    ]
    assert lines[6] == "State changes: "
    assert lines[7].startswith("  NEW: 20")
    assert lines[8].startswith("  FIN: 20")
    assert lines[8].endswith(" - set by the test")
    assert "Job not found" in await lab.pit.fails("show", "job:999")


async def test_groups_aliases_users_and_nodes(lab):
    pit = lab.pit
    await pit.ok("add", "group:lab", "title=Students of ML")
    assert (await pit.ok("show", "group:lab")).out == "Name:  lab\nTitle: Students of ML\n"
    await pit.ok("set", "group:lab", "title=The Lab")
    assert (await pit.ok("get", "group:lab", "title")).out == "The Lab\n"
    await pit.ok("add", "alias:gtx", "name=GeForce GTX 1070")
    assert (await pit.ok("show", "alias:gtx")).out == "Alias: gtx\nFor:   GeForce GTX 1070\n"
    assert (await pit.ok("show", "aliases")).out == "gtx\n"
    insert_node_directly(lab.service.config, "nx", gpus=2)
    await pit.ok("add-group", "node:nx:1", "lab")
    node = (await pit.ok("show", "node:nx")).out.splitlines()
    assert node[0] == "Node name: nx"
    assert node[1] in ("State:     ONLINE", "State:     OFFLINE")  # its endpoint is closed
    assert node[3] == "Resources: "
    assert node[4] == '  0: "GeForce GTX 1070" aka "gtx" (cuda 0)'
    assert node[5] == '  1: "GeForce GTX 1070" aka "gtx" (cuda 1) - Groups: lab'
    await pit.ok("remove-group", "node:nx:1", "lab")
    assert "Groups" not in (await pit.ok("show", "node:nx")).out
    # A user added by the administrator, with the prompts answered from stdin.
    stdin = f"Bob B\nbob@example.org\n{PASSWORD}\n{PASSWORD}\n".encode()
    await pit.ok("add", "user:bob", stdin=stdin)
    await pit.ok("add-group", "user:bob", "lab")
    assert (await pit.ok("show", "user:bob")).out == (
        "Username:         bob\n"
        "Full name:        Bob B\n"
        "E-Mail address:   bob@example.org\n"
        "Groups:           lab\n"
        "Is administrator: no\n"
    )
    assert (await pit.ok("get", "user:bob", "groups")).out == '["lab"]\n'
    await pit.ok("set", "user:bob", "fullname=Robert", stdin=f"{PASSWORD}\n".encode())
    assert (await pit.ok("get", "user:bob", "fullname")).out == "Robert\n"
    assert (await pit.ok("show", "users")).out == "bob\nroot\n"
    assert json.loads((await pit.ok("show", "users", "--json")).out) == ["bob", "root"]
    await pit.ok("remove-group", "user:bob", "lab")
    await pit.ok("remove", "user:bob")
    assert "User not found" in await pit.fails("show", "user:bob")
    await pit.ok("rm", "alias:gtx")
    await pit.ok("remove", "group:lab")
    assert (await pit.ok("show", "groups")).out == ""


async def test_bad_entities_and_refusals(lab):
    pit = lab.pit
    assert await pit.fails("show", "planet:mars") == 'Unsupported entity type "planet"'
    assert await pit.fails("add", "job:3") == 'Unknown entity type "job"'
    assert (
        await pit.fails("add-group", "user:x:1", "lab") == "Indices not allowed for user entities"
    )
    assert "has no property" in await pit.fails("get", "user:root", "shoesize")
    async with lab.client() as anon:
        token = await register(anon, "eve")
    pit.sign_in_as("eve", token)
    assert (await pit.fails("show", "users")).startswith("Forbidden")
    assert "Wrong" in await pit.fails("show", "user:UPPER")


async def test_jobs_are_stopped_and_removed(lab):
    config = lab.service.config
    job = insert_job_directly(config, "root", JobState.WAITING)
    assert "Only stopped jobs" in await lab.pit.fails("remove", f"job:{job}")
    await lab.pit.ok("stop", str(job))
    assert "Stopped by" in (await lab.pit.ok("show", f"job:{job}")).out
