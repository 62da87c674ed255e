"""schemathesis against the real service: requests generated from ``/openapi.json`` for every
route, as a normal user and as an administrator, on keep-alive connections. No answer may be a
5xx, none may take longer than ``MAX_RESPONSE_S``, none may hang.

schemathesis runs as its own process (``python -m schemathesis.cli``) against the service,
which runs in this test's trio loop. Its HAR report lists every request it sent, which is what
the test counts and checks. This file is also the hooks module of those runs (see the end).
"""

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import trio

from snakepit.jobs.states import JobState
from tests.conftest import insert_job_directly, register, start_service

REPOSITORY = Path(__file__).resolve().parent.parent
#: Node registrations go to this closed loopback port, whatever endpoint was generated.
CLOSED_ENDPOINT = "https://127.0.0.1:9"
#: The slowest answer allowed, in seconds (the service answers in milliseconds).
MAX_RESPONSE_S = 5
#: Generated cases per operation in the fuzzing phase; ~210 operations, ~800 requests a run.
MAX_EXAMPLES = 4
#: Fixed, so that CI runs the same requests every time.
SEED = 7
#: Largest integer SQLite stores, and a job id that is not taken.
#: Deleting the signed-in user ends that token's run: this operation (its operationId in the
#: document) runs last, on its own.
DESTRUCTIVE = "delete /users/{user}"


async def run_schemathesis(url: str, token: str, har: Path, *options: str) -> list[dict[str, Any]]:
    """Run schemathesis against ``url`` as the holder of ``token``; the requests it sent.

    Raises:
        AssertionError: schemathesis reported a failure (its output is the message).
    """
    command = [
        *(sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json"),
        *("--header", f"X-Auth-Token: {token}"),
        *("--checks", "not_a_server_error"),
        *("--max-response-time", str(MAX_RESPONSE_S)),
        *("--request-timeout", "30"),
        *("--max-examples", str(MAX_EXAMPLES)),
        *("--seed", str(SEED)),
        *("--workers", "1", "--no-shrink", "--no-color"),
        *("--generation-database", "none"),
        *("--report", "har", "--report-har-path", str(har)),
        *options,
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": __file__, "PYTHONPATH": str(REPOSITORY)}
    with trio.fail_after(240):
        done = await trio.run_process(
            command,
            capture_stdout=True,
            stderr=subprocess.STDOUT,
            check=False,
            env=env,
            cwd=har.parent,  # schemathesis keeps a .schemathesis folder where it runs
        )
    output = done.stdout.decode(errors="replace")
    failures = output.find("FAILURES")  # schemathesis' section naming each failing request
    assert done.returncode == 0, output[failures:][:8000] if failures >= 0 else output[-8000:]
    entries: list[dict[str, Any]] = json.loads(await trio.Path(har).read_text())["log"]["entries"]
    return entries


async def test_generated_requests_get_no_server_error(nursery, make_config, tmp_path):
    # No back-off after failed logins (generated passwords fail all the time; the back-off has
    # its own tests) and only local git origins (nothing outside is ever contacted).
    config = make_config(loginDelay="0s", originSchemes=["file"])
    service = await start_service(nursery, config)
    async with service.client() as anon:
        admin_token = await register(anon, "root")
        user_token = await register(anon, "alice")
    async with service.client(admin_token) as admin:
        await admin.put("/groups/lab", json={"title": "Lab"})
        await admin.put("/users/alice/groups/lab")
        await admin.put("/aliases/gtx", json={"name": "GeForce GTX 1070"})
        await admin.put("/users/alice/simplefs/stats/notes.txt", json={"type": "file"})
    for owner in ("alice", "alice", "root"):
        insert_job_directly(config, owner, JobState.DONE, b"the log\n")
    # No node: a job needing resources is refused, one needing none ends at once, so no log
    # followed by a generated request waits for ever.

    sent: list[dict[str, Any]] = []
    runs = [
        # Random valid and invalid requests to every operation.
        ("--phases", "fuzzing", "--exclude-operation-id", DESTRUCTIVE),
        # Boundary values and each constraint broken in turn, for the routes that are not files
        # (which the fuzzing covers; their coverage cases would take 100 s).
        ("--phases", "coverage", "--exclude-operation-id", DESTRUCTIVE,
         "--exclude-path-regex", "/(fs|simplefs)/"),
    ]  # fmt: skip
    for number, (token, options) in enumerate(itertools.product((user_token, admin_token), runs)):
        sent += await run_schemathesis(service.url, token, tmp_path / f"run-{number}.har", *options)
    async with service.client(user_token) as alice:  # still signed in: the runs meant something
        assert (await alice.get("/users/~")).status_code == 200
    for number, token in enumerate((user_token, admin_token)):
        har = tmp_path / f"last-{number}.har"
        sent += await run_schemathesis(
            service.url, token, har, "--phases", "fuzzing", "--include-operation-id", DESTRUCTIVE
        )

    statuses = [entry["response"]["status"] for entry in sent]
    assert len(sent) >= 1000
    assert [s for s in statuses if s >= 500 or s == 0] == []
    async with service.client() as anon:  # the service still serves, and every route was tried
        assert (await anon.get("/hello")).status_code == 200
        document = (await anon.get("/openapi.json")).json()
    asked = {(e["request"]["method"], urlsplit(e["request"]["url"]).path) for e in sent}

    def tried(method: str, path: str) -> bool:
        pattern = template(path)
        return any(m == method.upper() and pattern.fullmatch(p) for m, p in asked)

    untried = [
        f"{method.upper()} {path}"
        for path, methods in document["paths"].items()
        for method in methods
        if not tried(method, path)
    ]
    # schemathesis reads /openapi.json to load the schema and leaves it out of its runs.
    assert untried == ["GET /openapi.json"]
    await service.stop()


def template(path: str) -> re.Pattern[str]:
    """A document path as a pattern of the request paths it stands for."""
    pattern = re.escape(path).replace(r"\{rest\}", ".+")
    return re.compile(re.sub(r"\\\{\w+\\\}", "[^/]+", pattern))


if __name__ == "_schemathesis_hooks":  # loaded by schemathesis in its own process
    import schemathesis as _schemathesis

    @_schemathesis.hook
    def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
        """Registering a node contacts its endpoint: only ever a closed loopback port."""
        if isinstance(case.body, dict) and "endpoint" in case.body:
            case.body["endpoint"] = CLOSED_ENDPOINT
