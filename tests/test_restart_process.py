"""The real ``snakepit serve`` killed with SIGKILL while jobs run, then started again: the
running pits are attached to and finish with complete logs and exit codes, a job caught while
waiting runs, and no container is left behind."""

import os
import signal

import httpx
import pytest
import trio

from lxd import open_lxd
from lxd.certificates import fingerprint
from snakepit.jobs.states import JobState
from tests.lxd_fixtures import HTTPS_ENDPOINT, SERVER_CERT, UNIX_SOCKET, make_certificate
from tests.test_serve_process import ServiceProcess, base_config, free_port

pytestmark = [pytest.mark.lxd, pytest.mark.process]

NODE = f"k{os.getpid()}"
HEAD = f"kh{os.getpid()}"
PASSWORD = "a fine password"


async def wait_until_up(client: httpx.AsyncClient) -> None:
    with trio.fail_after(30):
        while True:
            try:
                if (await client.get("/hello")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await trio.sleep(0.1)  # polling the service under the deadline above


async def wait_for(client: httpx.AsyncClient, job: int, states: set[int], deadline_s: float):
    with trio.fail_after(deadline_s):
        while True:
            found = (await client.get(f"/jobs/{job}")).json()
            if found["state"] in states:
                return found
            await trio.sleep(0.2)  # polling the API under the deadline above


async def containers_of(job: int) -> list[str]:
    async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
        names = await lxd.instances.names()
    return [n for n in names if n.startswith((f"sp-{NODE}-{job}-", f"sp-{HEAD}-{job}-"))]


async def test_jobs_survive_a_killed_service(tmp_path, secret_file):
    identity = make_certificate(tmp_path / "identity", f"snakepit-kill-{os.getpid()}")
    port = free_port()
    config = base_config(tmp_path, secret_file, port) + (
        f"clientCert: {identity.cert}\nclientKey: {identity.key}\n"
        f"lxdServerCert: {SERVER_CERT}\nendpoint: {HTTPS_ENDPOINT}\n"
        f"pollInterval: 200ms\ncontainerTimeout: 60s\nheadNode: {HEAD}\n"
    )
    (tmp_path / "first").mkdir()
    first = ServiceProcess(tmp_path / "first", config, port)
    second = None
    password = f"kill-{os.getpid()}"
    try:
        async with httpx.AsyncClient(base_url=first.url(), timeout=60) as anon:
            await wait_until_up(anon)
            assert (await anon.put("/users/root", json={"password": PASSWORD})).status_code == 200
            answer = await anon.post("/users/root/authenticate", json={"password": PASSWORD})
            headers = {"X-Auth-Token": answer.json()["token"]}
        await trio.run_process(["lxc", "config", "set", "core.trust_password", password])
        try:
            async with httpx.AsyncClient(base_url=first.url(), headers=headers, timeout=180) as c:
                answer = await c.put(
                    f"/nodes/{NODE}", json={"endpoint": HTTPS_ENDPOINT, "password": password}
                )
                assert answer.status_code == 200, answer.text
        finally:
            await trio.run_process(["lxc", "config", "unset", "core.trust_password"])

        def script(exit_code: int) -> str:
            return (
                'for i in $(seq 1 100); do echo "w$WORKER_INDEX line $i"; sleep 0.1; done; '
                f'echo "result $WORKER_INDEX" > "$RESULT_FILE"; exit {exit_code}'
            )

        # (Both workers of the first job succeed: a failing worker would end its sibling.)
        async with httpx.AsyncClient(base_url=first.url(), headers=headers, timeout=60) as c:
            two = await c.post("/jobs", json={"clusterRequest": "2:[]", "script": script(0)})
            one = await c.post("/jobs", json={"clusterRequest": "[]", "script": script(3)})
            jobs = [two.json()["id"], one.json()["id"]]
            for job in jobs:
                await wait_for(c, job, {JobState.RUNNING}, 180)
        first.process.send_signal(signal.SIGKILL)
        first.wait()
        for job in jobs:
            assert await containers_of(job), "the pit must outlive the killed service"

        (tmp_path / "second").mkdir()
        second = ServiceProcess(tmp_path / "second", config, port)
        async with httpx.AsyncClient(base_url=second.url(), headers=headers, timeout=60) as c:
            await wait_until_up(c)
            details = [await wait_for(c, job, {JobState.DONE}, 180) for job in jobs]
            logs = [(await c.get(f"/jobs/{job}/log")).text for job in jobs]
        expected = [[(0, "result 0\n"), (0, "result 1\n")], [(3, "result 0\n")]]
        for job, detail, log, ends in zip(jobs, details, logs, expected, strict=True):
            workers = len(ends)
            assert [(p["status"], p["result"]) for p in detail["processes"]] == ends, detail
            assert all(change["reason"] is None for change in detail["stateChanges"]), detail
            for index in range(workers):
                lines = [
                    line.split(f"] [worker {index}] ")[1]
                    for line in log.splitlines()
                    if f"] [worker {index}] w{index} line " in line
                ]
                assert lines == [f"w{index} line {i}" for i in range(1, 101)], (job, index)
            assert await containers_of(job) == []
    finally:
        for service in (first, second):
            if service is not None:
                service.close()
        async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
            for name in await lxd.instances.names():
                if f"-{NODE}-" in name or f"-{HEAD}-" in name:
                    await lxd.instances.remove(name)
            if fingerprint(identity.pem) in [c.fingerprint for c in await lxd.certificates.list()]:
                await lxd.certificates.remove(fingerprint(identity.pem))
