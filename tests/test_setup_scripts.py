"""The README's set-up command, bin/snakepit-up, run for real against a temporary data root."""

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest
import trio

from lxd import client_ssl_context, open_lxd
from lxd.certificates import fingerprint
from snakepit.config import Config, load_config
from snakepit.jobs.states import JobState
from tests.lxd_fixtures import UNIX_SOCKET

pytestmark = [pytest.mark.process, pytest.mark.lxd]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def setup_env(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "SNAKEPIT_ROOT": str(tmp_path / "root"),
        "SNAKEPIT_CONF": str(tmp_path / "etc" / "snakepit.conf"),
        "SNAKEPIT_PORT": str(port),
        "SNAKEPIT_RUN_DIR": str(tmp_path / "run"),
        "SNAKEPIT_LXD_NAME": f"snakepit-up-test-{os.getpid()}",
    }
    yield env
    subprocess.run([ROOT / "bin" / "snakepit-down"], env=env, capture_output=True, timeout=60)
    cert = tmp_path / "etc" / "lxd-client.crt"
    if cert.exists():
        trio.run(untrust, cert.read_text())


async def untrust(pem: str) -> None:
    async with open_lxd(f"unix:{UNIX_SOCKET}") as lxd:
        with trio.fail_after(30):
            await lxd.certificates.remove(fingerprint(pem))


async def lxd_auth_with(config: Config) -> str:
    assert config.client_cert
    assert config.client_key
    context = client_ssl_context(
        Path(config.client_cert), Path(config.client_key), Path(config.lxd_server_cert)
    )
    async with open_lxd(config.endpoint, context) as lxd:
        with trio.fail_after(30):
            return (await lxd.server_info()).auth


def run(script: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROOT / "bin" / script], env=env, cwd=cwd, capture_output=True, text=True, timeout=600
    )


def test_snakepit_up_brings_up_a_working_service_and_down_stops_it(setup_env, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    first = run("snakepit-up", setup_env, workdir)
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip().splitlines()[-1].removeprefix("Snakepit is up: ")
    assert first.stdout.strip().splitlines()[-1] == f"Snakepit is up: {url}"
    assert url == f"http://127.0.0.1:{setup_env['SNAKEPIT_PORT']}"
    assert (workdir / ".pitconnect.txt").read_text().splitlines()[0] == url
    root = Path(setup_env["SNAKEPIT_ROOT"])
    assert (root / ".pitconnect.txt").read_text().splitlines()[0] == url
    for folder in ("shared", "groups", "home", "pits", "cache", "trash"):
        assert (root / folder).is_dir()
    secret = Path(setup_env["SNAKEPIT_CONF"]).parent / "token-secret"
    assert secret.stat().st_mode & 0o077 == 0, "the token secret is readable by others"
    # The service's configuration points at the local LXD with its own, trusted certificate.
    config, warnings = load_config(Path(setup_env["SNAKEPIT_CONF"]), environ={})
    assert warnings == []
    assert trio.run(lxd_auth_with, config) == "trusted"
    key = Path(config.client_key or "")
    assert key.stat().st_mode & 0o077 == 0, "the LXD client key is readable by others"

    assert "Node n0 added at https://127.0.0.1:8443 with 0 GPU(s)" in first.stderr
    with httpx.Client(base_url=url, timeout=30) as client:
        assert client.get("/hello").text == "Here I am"
        assert client.put("/users/admin", json={"password": "a good password"}).json()["admin"]
        token = client.post(
            "/users/admin/authenticate", json={"password": "a good password"}
        ).json()["token"]
        client.headers["X-Auth-Token"] = token
        # The local LXD is node n0, so a job runs right away.
        assert client.get("/nodes").json() == ["n0"]
        assert client.get("/nodes/n0").json()["online"] is True
        job = client.post("/jobs", json={"clusterRequest": "[]", "script": "echo first light"})
        assert job.status_code == 200, job.text
        number = job.json()["id"]
        deadline = time.monotonic() + 240
        while client.get(f"/jobs/{number}").json()["state"] != JobState.DONE:
            assert time.monotonic() < deadline, "the job did not end"
            time.sleep(0.2)  # polling the API under the deadline above
        assert "] [worker 0] first light" in client.get(f"/jobs/{number}/log").text

    again = run("snakepit-up", setup_env, workdir)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"Snakepit is up: {url}"
    assert "already answers" in again.stderr
    assert "Node n0 is registered already" in again.stderr
    with httpx.Client(base_url=url) as client:
        # Same service, same data: the first user is still there.
        assert client.get("/users/admin/exists").status_code == 200

    down = run("snakepit-down", setup_env, workdir)
    assert down.returncode == 0, down.stderr
    with pytest.raises(httpx.ConnectError), httpx.Client(base_url=url) as client:
        client.get("/hello")
    assert (root / "snakepit.db").exists(), "stopping must keep the data"


def test_systemd_unit_is_a_notify_service_that_restarts_on_failure():
    unit = (ROOT / "systemd" / "snakepit.service").read_text()
    lines = {line.strip() for line in unit.splitlines()}
    assert "Type=notify" in lines
    assert "Restart=on-failure" in lines
    assert "ExecStart=@VENV@/bin/snakepit serve" in lines
