"""The local LXD as bin/lxd-up and bin/prepare-images leave it, checked the way a user would:
with `lxc`, `nft`, `ssh` and `sftp` from the host.

Needs root and a running LXD with the images imported (bin/lxd-up && bin/prepare-images).
Containers made here are named test-lxdsetup-<pid>-<n> and deleted afterwards.
"""

import contextlib
import ipaddress
import itertools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

pytestmark = pytest.mark.lxd

ROOT = Path(__file__).resolve().parent.parent
BRIDGE_NET = ipaddress.ip_network("10.203.0.0/24")
IMAGES = ("snakepit-tiny", "snakepit-daemon", "snakepit-worker")
_numbers = itertools.count()
T = TypeVar("T")


def run(
    *args: str | Path, timeout: float = 60, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(map(str, args))} failed ({result.returncode}): {result.stderr}")
    return result


def lxc(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run("lxc", *args, timeout=timeout, check=check)


def poll(what: str, probe: Callable[[], T | None], deadline_s: float = 30) -> T:
    """Call probe until it returns something other than None or False, or fail after deadline_s."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = probe()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {deadline_s} s waiting for {what}")
        time.sleep(0.1)


def ipv4_of(name: str) -> str | None:
    state = json.loads(lxc("query", f"/1.0/instances/{name}/state").stdout)
    addresses = (state.get("network") or {}).get("eth0", {}).get("addresses", [])
    return next((a["address"] for a in addresses if a["family"] == "inet"), None)


def succeeds(name: str, *command: str) -> bool:
    return lxc("exec", name, "--", *command, check=False).returncode == 0


@pytest.fixture(scope="module", autouse=True)
def lxd_is_up() -> None:
    if os.geteuid() != 0:
        pytest.fail("these tests drive the local LXD and need root")
    if shutil.which("lxc") is None or not Path("/var/lib/lxd/unix.socket").exists():
        pytest.fail("LXD is not running: run bin/lxd-up and bin/prepare-images first")


@pytest.fixture(scope="module")
def launch() -> Iterator[Callable[..., list[str]]]:
    """launch(image, count=1): start containers in parallel, return their names; all of them
    are force-deleted when the module is done."""
    made: list[str] = []

    def start(image: str, count: int = 1) -> list[str]:
        names = [f"test-lxdsetup-{os.getpid()}-{next(_numbers)}" for _ in range(count)]
        made.extend(names)
        launches = [
            subprocess.Popen(
                ["lxc", "launch", image, name, "-q"], stderr=subprocess.PIPE, text=True
            )
            for name in names
        ]
        for name, process in zip(names, launches, strict=True):
            _, stderr = process.communicate(timeout=120)
            assert process.returncode == 0, f"lxc launch {image} {name}: {stderr}"
        return names

    yield start
    with contextlib.suppress(subprocess.TimeoutExpired):
        if made:
            lxc("delete", "--force", *made, timeout=120, check=False)


def test_lxd_up_is_idempotent_and_fast() -> None:
    run(ROOT / "bin" / "lxd-up", timeout=300)
    started = time.monotonic()
    again = run(ROOT / "bin" / "lxd-up", timeout=60)
    took = time.monotonic() - started
    assert again.stdout.splitlines()[-1] == "LXD is up: https://127.0.0.1:8443"
    assert took < 5, f"a second bin/lxd-up took {took:.1f} s"
    config = json.loads(lxc("query", "/1.0").stdout)["config"]
    assert config["core.https_address"] == "127.0.0.1:8443"
    assert config["core.proxy_https"] == "http://127.0.0.1:9"
    assert config["images.auto_update_interval"] == "0"


def test_the_bridge_has_no_nat_and_forwarding_off_it_is_dropped() -> None:
    network = json.loads(lxc("query", "/1.0/networks/lxdbr0").stdout)["config"]
    assert network["ipv4.nat"] == "false"
    assert network["ipv4.address"] == "10.203.0.1/24"
    assert network["ipv6.address"] == "none"
    assert "masquerade" not in run("nft", "list", "ruleset").stdout

    table = json.loads(run("nft", "-j", "list", "table", "inet", "snakepit_isolation").stdout)
    rules = [item["rule"]["expr"] for item in table["nftables"] if "rule" in item]
    chains = [item["chain"] for item in table["nftables"] if "chain" in item]
    assert any(chain.get("hook") == "forward" for chain in chains)

    def drops(direction: str) -> bool:
        """A rule `<direction>name "lxdbr0" <other> != "lxdbr0" ... drop`."""
        for expr in rules:
            matches = [e["match"] for e in expr if "match" in e]
            if {"drop": None} in expr and any(
                m["left"] == {"meta": {"key": direction}}
                and m["right"] == "lxdbr0"
                and m["op"] == "=="
                for m in matches
            ):
                return True
        return False

    assert drops("iifname"), "no rule drops forwarding out of lxdbr0"
    assert drops("oifname"), "no rule drops forwarding into lxdbr0"


def test_the_images_are_imported_under_their_aliases() -> None:
    aliases = {
        alias["name"]
        for alias in json.loads(lxc("query", "/1.0/images/aliases?recursion=1").stdout)
    }
    assert set(IMAGES) <= aliases


def test_tiny_containers_get_addresses_and_reach_each_other_by_name(launch) -> None:
    first, second = launch("snakepit-tiny", 2)
    addresses = {
        name: poll(f"an address of {name}", lambda n=name: ipv4_of(n)) for name in (first, second)
    }
    for address in addresses.values():
        assert ipaddress.ip_address(address) in BRIDGE_NET

    poll(
        f"{first} to ping {second}.lxd",
        lambda: succeeds(first, "ping", "-c1", "-W1", f"{second}.lxd"),
    )
    lookup = lxc("exec", first, "--", "nslookup", f"{second}.lxd").stdout
    assert addresses[second] in lookup
    # Nothing beyond the bridge: no default route inside.
    assert "default" not in lxc("exec", first, "--", "ip", "route").stdout


@pytest.fixture(scope="module")
def debian(launch) -> dict[str, str]:
    """A daemon and two workers from the Debian images, launched in parallel."""
    daemon = launch("snakepit-daemon")[0]
    workers = launch("snakepit-worker", 2)
    return {"daemon": daemon, "worker": workers[0], "job_worker": workers[1]}


def wait_for_systemd(name: str) -> str:
    def state() -> str | None:
        result = lxc("exec", name, "--", "systemctl", "is-system-running", check=False)
        status = result.stdout.strip()
        return status if status in ("running", "degraded") else None

    return poll(f"systemd in {name}", state, deadline_s=60)


def test_a_worker_container_runs_systemd_and_has_the_job_tools(debian) -> None:
    worker = debian["worker"]
    state = wait_for_systemd(worker)
    failed = lxc("exec", worker, "--", "systemctl", "--failed", "--no-legend").stdout
    assert state == "running", f"failed units: {failed}"
    for command in (["python3", "--version"], ["git", "--version"], ["sshfs", "--version"]):
        assert succeeds(worker, *command), f"{command[0]} is missing in the worker image"
    # The job runner waits for /env.sh.
    assert succeeds(worker, "systemctl", "is-active", "--quiet", "snakepit.service")
    assert ipaddress.ip_address(poll("the worker's address", lambda: ipv4_of(worker))) in BRIDGE_NET


@pytest.fixture(scope="module")
def sftp_key(debian, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A key pair whose public half is the daemon's authorized key for `worker`."""
    key = tmp_path_factory.mktemp("ssh") / "id_ed25519"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)
    lxc(
        "file",
        "push",
        f"{key}.pub",
        f"{debian['daemon']}/home/worker/.ssh/authorized_keys",
        "--uid",
        "2525",
        "--gid",
        "2525",
        "--mode",
        "0644",
    )
    return key


def ssh_options(key: Path) -> list[str]:
    return [
        "-i",
        str(key),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        "-o",
        "ConnectTimeout=5",
    ]


def test_the_daemon_offers_only_chrooted_sftp(debian, sftp_key: Path) -> None:
    daemon = debian["daemon"]
    wait_for_systemd(daemon)
    address = poll("the daemon's address", lambda: ipv4_of(daemon))
    poll("sshd to listen", lambda: ":22 " in lxc("exec", daemon, "--", "ss", "-ltn").stdout)

    effective = dict(
        line.split(" ", 1) for line in lxc("exec", daemon, "--", "sshd", "-T").stdout.splitlines()
    )
    assert effective["forcecommand"] == "internal-sftp"
    assert effective["chrootdirectory"] == "/data"
    assert effective["allowusers"] == "worker"
    for option in (
        "passwordauthentication",
        "kbdinteractiveauthentication",
        "x11forwarding",
        "allowagentforwarding",
        "permittty",
        "permittunnel",
    ):
        assert effective[option] == "no", option
    assert effective["allowtcpforwarding"] == "no"

    listing = run(
        "sftp", *ssh_options(sftp_key), "-b", "-", f"worker@{address}", check=False, timeout=30
    )
    assert listing.returncode == 0, listing.stderr
    command = subprocess.run(
        ["ssh", *ssh_options(sftp_key), f"worker@{address}", "id"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert "uid=" not in command.stdout
    assert "sftp connections only" in command.stdout + command.stderr
    as_root = run("ssh", *ssh_options(sftp_key), f"root@{address}", "id", check=False, timeout=30)
    assert as_root.returncode != 0
    assert "uid=" not in as_root.stdout


def test_a_worker_runs_its_job_from_the_daemon_over_sshfs(
    debian, sftp_key: Path, tmp_path: Path
) -> None:
    """The worker image's job runner (section 1.7 of the service spec): /env.sh arrives, the
    pit directory is mounted from the daemon's SFTP, script.sh runs, its output is logged with
    the worker prefix, the exit code lands in status, stop is touched and the container powers
    off."""
    daemon, worker = debian["daemon"], debian["job_worker"]
    lxc(
        "exec",
        daemon,
        "--",
        "sh",
        "-c",
        "mkdir -p /data/rw/pit/workers/0 /data/rw/pit/src && chown -R worker:worker /data/rw/pit",
    )
    script = tmp_path / "script.sh"
    script.write_text(
        'echo "job $JOB_NUMBER in $(pwd)"\necho oops >&2\necho 42 > "$RESULT_FILE"\nexit 3\n'
    )
    lxc(
        "file",
        "push",
        str(script),
        f"{daemon}/data/rw/pit/script.sh",
        "--uid",
        "2525",
        "--gid",
        "2525",
    )
    lxc(
        "config",
        "device",
        "add",
        worker,
        "fuse",
        "unix-char",
        "source=/dev/fuse",
        "path=/dev/fuse",
        "mode=0666",
    )
    lxc("file", "push", str(sftp_key), f"{worker}/root/.ssh/id_rsa", "--mode", "0600")
    env = tmp_path / "env.sh"
    variables = {
        "DAEMON": f"{daemon}.lxd",
        "WORKER_INDEX": "0",
        "JOB_NUMBER": "17",
        "DATA_ROOT": "/data",
        "JOB_DIR": "/data/rw/pit",
        "WORK_DIR": "/data/rw/pit/src",
    }
    env.write_text("".join(f"export {key}=$'{value}'\n" for key, value in variables.items()))
    wait_for_systemd(worker)
    lxc("file", "push", str(env), f"{worker}/env.sh")

    def stopped() -> bool:
        return lxc("list", f"^{worker}$", "--format", "csv", "-c", "s").stdout.strip() == "STOPPED"

    poll(f"{worker} to finish its job and power off", stopped, deadline_s=60)

    def read(name: str) -> str:
        return lxc("exec", daemon, "--", "cat", f"/data/rw/pit/workers/0/{name}").stdout

    assert read("status") == "3\n"
    assert read("result") == "42\n"
    assert succeeds(daemon, "test", "-f", "/data/rw/pit/workers/0/stop")
    assert read("worker.log").splitlines() == [
        "[worker 0] Worker 0 started",
        "[worker 0] Starting script...",
        "[worker 0] job 17 in /data/rw/pit/src",
        "[worker 0] oops",
        "[worker 0] Worker 0 ended with exit code 3",
    ]
