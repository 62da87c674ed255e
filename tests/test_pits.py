"""Pits: the workers' environment (pure) and whole pits run against the real local LXD.

The LXD tests need root and a running LXD with the images (bin/lxd-up, bin/prepare-images).
Their pits are numbered <pid><nn>; every container of such a pit is removed after the test.
"""

import dataclasses
import functools
import itertools
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trio

from lxd import Lxd
from snakepit.config import Config
from snakepit.nodes.connect import LxdConnector
from snakepit.pits import (
    PitHandle,
    PitOutcome,
    PitPlan,
    PitStartFailed,
    PitStartTimeout,
    PitTimeouts,
    WorkerOutcome,
    WorkerPlan,
    container_name,
    env_file,
    gpu_devices,
    parse_container_name,
    run_pit,
    worker_environment,
)
from snakepit.pits.data import mapped_ids
from snakepit.pits.logs import LogCollector
from tests.lxd_fixtures import HTTPS_ENDPOINT, SERVER_CERT, ClientCert

_pits = itertools.count(1)
FAST = PitTimeouts(
    container_s=60, max_start_s=120, poll_interval_s=0.2, log_interval_s=0.1, teardown_s=60
)
STAMPED = re.compile(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[worker (\d+)\] (.*)$")


def plan_of(
    job_id: int,
    workers: list[tuple[int, int]],
    *,
    groups: tuple[str, ...] = (),
    worker_env: dict[str, str] | None = None,
    endpoint: str = HTTPS_ENDPOINT,
    cert: str = "",
    node: str = "n0",
) -> PitPlan:
    return PitPlan(
        job_id=job_id,
        owner="alice",
        owner_groups=groups,
        workers=tuple(
            WorkerPlan(index, group, process, node, endpoint, cert)
            for index, (group, process) in enumerate(workers)
        ),
        head_endpoint=endpoint,
        head_server_cert_pem=cert,
        lxd_domain="lxd",
        worker_env=worker_env or {},
    )


# The environment (pure)


def test_gpus_are_lxd_devices_by_default_and_variables_with_environment_binding() -> None:
    plan = plan_of(3, [(0, 0)])
    by_device = dataclasses.replace(plan.workers[0], gpu_indices=(1, 3))
    assert gpu_devices(by_device) == {
        "gpu0": {"type": "gpu", "gputype": "physical", "id": "1"},
        "gpu1": {"type": "gpu", "gputype": "physical", "id": "3"},
    }
    assert "CUDA_VISIBLE_DEVICES" not in worker_environment(plan, by_device)
    by_environment = dataclasses.replace(by_device, gpu_binding="environment")
    assert gpu_devices(by_environment) == {}
    variables = worker_environment(plan, by_environment)
    assert (variables["CUDA_VISIBLE_DEVICES"], variables["NVIDIA_VISIBLE_DEVICES"]) == (
        "1,3",
        "1,3",
    )
    without = worker_environment(plan, dataclasses.replace(by_environment, gpu_indices=()))
    assert (without["CUDA_VISIBLE_DEVICES"], without["NVIDIA_VISIBLE_DEVICES"]) == ("", "none")


def test_a_worker_sees_every_variable_of_the_table() -> None:
    plan = plan_of(17, [(0, 0), (0, 1), (1, 0)], groups=("research", "ml"))
    assert worker_environment(plan, plan.workers[1]) == {
        "DAEMON": "sp-head-17-d.lxd",
        "WORKER_INDEX": "1",
        "GROUP_INDEX": "0",
        "PROCESS_INDEX": "1",
        "JOB_NUMBER": "17",
        "DATA_ROOT": "/data",
        "JOB_DIR": "/data/rw/pit",
        "SRC_DIR": "/data/rw/pit/src",
        "WORK_DIR": "/data/rw/pit/src",
        "SHARED_DIR": "/data/ro/shared",
        "USER_DIR": "/data/rw/home",
        "RESEARCH_GROUP_DIR": "/data/rw/group-research",
        "ML_GROUP_DIR": "/data/rw/group-ml",
        "NUM_GROUPS": "2",
        "NUM_PROCESSES_GROUP0": "2",
        "NUM_PROCESSES_GROUP1": "1",
        "HOST_GROUP0_PROCESS0": "sp-n0-17-0.lxd",
        "HOST_GROUP0_PROCESS1": "sp-n0-17-1.lxd",
        "HOST_GROUP1_PROCESS0": "sp-n0-17-2.lxd",
    }


def test_every_worker_sees_every_host_entry() -> None:
    plan = plan_of(5, [(0, 0), (1, 0), (1, 1), (2, 0)])
    hosts = [
        {
            key: value
            for key, value in worker_environment(plan, worker).items()
            if key.startswith(("HOST_", "NUM_"))
        }
        for worker in plan.workers
    ]
    assert all(entry == hosts[0] for entry in hosts)
    assert hosts[0]["HOST_GROUP2_PROCESS0"] == "sp-n0-5-3.lxd"
    assert hosts[0]["NUM_PROCESSES_GROUP1"] == "2"


def test_worker_env_overrides_the_base_but_not_the_counts_and_hosts() -> None:
    plan = plan_of(
        8,
        [(0, 0)],
        worker_env={
            "DAEMON": "elsewhere",
            "WORKER_INDEX": "9",
            "NUM_GROUPS": "7",
            "HOST_GROUP0_PROCESS0": "nowhere",
            "EXTRA": "yes",
        },
    )
    variables = worker_environment(plan, plan.workers[0])
    assert variables["DAEMON"] == "elsewhere"
    assert variables["WORKER_INDEX"] == "9"
    assert variables["EXTRA"] == "yes"
    assert variables["NUM_GROUPS"] == "1"
    assert variables["HOST_GROUP0_PROCESS0"] == "sp-n0-8-0.lxd"


def test_env_file_round_trips_through_bash(tmp_path: Path) -> None:
    values = {
        "PLAIN": "hello",
        "QUOTES": 'it\'s "quoted" $HOME `id` $(id)',
        "BACKSLASHES": "a\\b\\\\c\\n\\'",
        "LINES": "one\ntwo\r\nthree\n",
        "EMPTY": "",
        "UNICODE": "grüße ✓",
    }
    path = tmp_path / "env.sh"
    path.write_text(env_file(values))
    for name, value in values.items():
        shown = subprocess.run(
            ["bash", "-c", f'source "$1"; printf %s "${name}"', "bash", str(path)],
            capture_output=True,
            check=True,
        ).stdout
        assert shown.decode() == value, name


@pytest.mark.parametrize("name", ["lower", "1ABC", "A-B", "A B", ""])
def test_env_file_refuses_invalid_names(name: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        env_file({name: "x"})


def test_container_names_parse_back() -> None:
    assert container_name("head", 12, "d") == "sp-head-12-d"
    parsed = parse_container_name("sp-n0-12-3")
    assert parsed is not None
    assert (parsed.node_id, parsed.pit_id, parsed.worker) == ("n0", 12, 3)
    daemon = parse_container_name("sp-head-12-d")
    assert daemon is not None
    assert daemon.worker is None
    for name in ("sp-n0-12-03", "sp-N0-12-1", "sp-0n-12-1", "sp-n0-x-1", "sp-n0-12-", "xsp-n0-1-1"):
        assert parse_container_name(name) is None, name
    with pytest.raises(ValueError, match="node id"):
        container_name("Head", 1, 0)


def test_the_log_collector_stamps_complete_lines_and_drains_the_rest(tmp_path: Path) -> None:
    for index in (0, 1):
        (tmp_path / "workers" / str(index)).mkdir(parents=True)
    first, second = (tmp_path / "workers" / str(i) / "worker.log" for i in (0, 1))
    collector = LogCollector(tmp_path, [0, 1, 2])
    first.write_bytes(b"[worker 0] one\n[worker 0] tw")
    assert collector.collect() == 1
    with first.open("ab") as log:
        log.write(b"o\n[worker 0] no newline")
    second.write_bytes(b"[worker 1] \xff bytes\n")
    assert collector.collect() == 2
    assert collector.collect() == 0
    assert collector.collect(final=True) == 1
    lines = (tmp_path / "pit.log").read_bytes().splitlines()
    assert [line.split(b"] ", 1)[1] for line in lines] == [
        b"[worker 0] one",
        b"[worker 0] two",
        b"[worker 1] \xff bytes",
        b"[worker 0] no newline",
    ]
    assert all(re.match(rb"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] \[worker", line) for line in lines)


def test_a_new_collector_goes_on_where_the_last_one_stopped(tmp_path: Path) -> None:
    """After a restart of the service, a pit's log is neither copied twice nor cut."""
    (tmp_path / "workers" / "0").mkdir(parents=True)
    worker_log = tmp_path / "workers" / "0" / "worker.log"
    worker_log.write_bytes(b"[worker 0] one\n[worker 0] tw")
    assert LogCollector(tmp_path, [0]).collect() == 1
    with worker_log.open("ab") as log:
        log.write(b"o\n[worker 0] three\n")
    assert LogCollector(tmp_path, [0]).collect(final=True) == 2
    lines = (tmp_path / "pit.log").read_bytes().splitlines()
    assert [line.split(b"] ", 1)[1] for line in lines] == [
        b"[worker 0] one",
        b"[worker 0] two",
        b"[worker 0] three",
    ]


def test_unreadable_saved_offsets_start_from_the_beginning(tmp_path: Path) -> None:
    (tmp_path / "workers" / "0").mkdir(parents=True)
    (tmp_path / "workers" / "0" / "worker.log").write_bytes(b"[worker 0] one\n")
    (tmp_path / ".pit.log.offsets").write_text("not json")
    assert LogCollector(tmp_path, [0]).collect() == 1


def test_the_daemon_worker_maps_through_the_containers_idmap() -> None:
    idmap = (
        '[{"Isuid":true,"Isgid":false,"Hostid":100000,"Nsid":0,"Maprange":65536},'
        '{"Isuid":false,"Isgid":true,"Hostid":300000,"Nsid":0,"Maprange":65536}]'
    )
    assert mapped_ids(idmap) == (102525, 302525)
    with pytest.raises(ValueError, match="does not map"):
        mapped_ids(idmap, 70000)


# Whole pits on the local LXD


@pytest.fixture
def connector(make_config: Callable[..., Config], trusted_cert: ClientCert) -> LxdConnector:
    return LxdConnector(
        make_config(clientCert=str(trusted_cert.cert), clientKey=str(trusted_cert.key))
    )


@pytest.fixture
async def pit_ids(lxd_unix: Lxd) -> AsyncIterator[Callable[[], int]]:
    """pit_ids() gives a new pit number; its containers are removed after the test."""
    made: list[int] = []

    def new() -> int:
        made.append(int(f"{os.getpid()}{next(_pits):02d}"))
        return made[-1]

    yield new
    with trio.move_on_after(120):
        for name in await containers_of(lxd_unix, made):
            await lxd_unix.instances.remove(name)


async def containers_of(lxd: Lxd, pits: list[int]) -> list[str]:
    found = []
    for name in await lxd.instances.names():
        parsed = parse_container_name(name)
        if parsed is not None and parsed.pit_id in pits:
            found.append(name)
    return found


async def until(probe: Callable[[], object]) -> None:
    """Poll until probe() is true (the caller's deadline bounds it)."""
    while True:
        if probe():
            return
        await trio.sleep(0.05)


def make_root(tmp_path: Path, job_id: int, script: str) -> Path:
    root = tmp_path / "root"
    pit = root / "pits" / str(job_id)
    (pit / "src").mkdir(parents=True)
    (pit / "script.sh").write_text(script)
    return root


def stamped_lines(root: Path, job_id: int) -> list[tuple[int, str]]:
    log = root / "pits" / str(job_id) / "pit.log"
    if not log.exists():
        return []
    lines = []
    for line in log.read_text().splitlines():
        match = STAMPED.match(line)
        assert match, f"unstamped line in pit.log: {line!r}"
        lines.append((int(match[1]), match[2]))
    return lines


@pytest.mark.lxd
async def test_a_one_worker_pit_runs_its_script_and_leaves_nothing(
    connector: LxdConnector, lxd_unix: Lxd, pit_ids: Callable[[], int], tmp_path: Path
) -> None:
    job = pit_ids()
    root = make_root(tmp_path, job, 'env | sort\necho 42 > "$RESULT_FILE"\nexit 3\n')
    plan = plan_of(job, [(0, 0)], cert=SERVER_CERT.read_text())
    started = time.monotonic()
    first_line: list[float] = []

    async def watch_log() -> None:
        await until(lambda: stamped_lines(root, job))
        first_line.append(time.monotonic() - started)

    with trio.fail_after(180):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_log)
            outcome = await run_pit(plan, connector=connector, data_root=root, timeouts=FAST)
    took = time.monotonic() - started
    print(f"one-worker pit: first log line after {first_line[0]:.1f} s, all done in {took:.1f} s")

    assert not outcome.stopped
    assert [(w.index, w.exit_code, w.result) for w in outcome.workers] == [(0, 3, "42\n")]
    lines = stamped_lines(root, job)
    assert all(worker == 0 for worker, _ in lines)
    texts = [text for _, text in lines]
    assert texts[0] == "Worker 0 started"
    assert f"JOB_NUMBER={job}" in texts
    assert f"HOST_GROUP0_PROCESS0=sp-n0-{job}-0.lxd" in texts
    assert f"DAEMON=sp-head-{job}-d.lxd" in texts
    assert "RESULT_FILE=/data/rw/pit/workers/0/result" in texts
    assert texts[-1] == "Worker 0 ended with exit code 3"
    assert await containers_of(lxd_unix, [job]) == []


PING = r"""
python3 - "$1" <<'PY'
import socket, struct, sys
def checksum(data):
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
packet = struct.pack("!BBHHH", 8, 0, 0, 1, 1) + b"snakepit"
packet = packet[:2] + struct.pack("!H", checksum(packet)) + packet[4:]
address = socket.gethostbyname(sys.argv[1])
with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as s:
    s.settimeout(1)
    s.sendto(packet, (address, 0))
    while True:
        reply, (sender, _) = s.recvfrom(1024)
        if sender == address and reply[20] == 0:
            print("reply from", sys.argv[1], address)
            break
PY
"""


MEET = r"""
LISTEN='
import socket
with socket.create_server(("", 7000)) as server:
    server.settimeout(120)
    server.accept()[0].close()
print("met")
'
CONNECT='
import socket, sys, time
for attempt in range(600):
    try:
        socket.create_connection((sys.argv[1], 7000), timeout=1).close()
        break
    except OSError:
        time.sleep(0.2)
print("connected to", sys.argv[1])
'
"""


@pytest.mark.lxd
async def test_two_workers_see_and_reach_each_other(
    connector: LxdConnector, lxd_unix: Lxd, pit_ids: Callable[[], int], tmp_path: Path
) -> None:
    job = pit_ids()
    # Each worker waits for the other's TCP connection before it exits, so neither powers off
    # while the other still pings it.
    script = (
        f"ping() {{ {PING} }}\n"
        f"{MEET}\n"
        'env | grep "^HOST_\\|^NUM_" | sort\n'
        'python3 -c "$LISTEN" & listener=$!\n'
        "for host in $HOST_GROUP0_PROCESS0 $HOST_GROUP1_PROCESS0; do\n"
        '  for try in $(seq 100); do ping "$host" 2>/dev/null && break; sleep 0.2; done\n'
        "done\n"
        'if [ "$WORKER_INDEX" = 0 ]; then other=$HOST_GROUP1_PROCESS0; '
        "else other=$HOST_GROUP0_PROCESS0; fi\n"
        'python3 -c "$CONNECT" "$other"\n'
        'wait "$listener"\n'
    )
    root = make_root(tmp_path, job, script)
    plan = plan_of(job, [(0, 0), (1, 0)], cert=SERVER_CERT.read_text())
    with trio.fail_after(180):
        outcome = await run_pit(plan, connector=connector, data_root=root, timeouts=FAST)
    assert [w.exit_code for w in outcome.workers] == [0, 0]
    lines = stamped_lines(root, job)
    for worker in (0, 1):
        texts = {text for index, text in lines if index == worker}
        assert f"HOST_GROUP0_PROCESS0=sp-n0-{job}-0.lxd" in texts
        assert f"HOST_GROUP1_PROCESS0=sp-n0-{job}-1.lxd" in texts
        assert "NUM_GROUPS=2" in texts
        for other in (0, 1):
            assert any(t.startswith(f"reply from sp-n0-{job}-{other}.lxd") for t in texts)
        assert f"connected to sp-n0-{job}-{1 - worker}.lxd" in texts
        assert "met" in texts
    assert await containers_of(lxd_unix, [job]) == []


@pytest.mark.lxd
async def test_a_failing_worker_stops_the_others(
    connector: LxdConnector, lxd_unix: Lxd, pit_ids: Callable[[], int], tmp_path: Path
) -> None:
    job = pit_ids()
    script = 'if [ "$WORKER_INDEX" = 0 ]; then echo failing; exit 5; fi\nsleep 300\n'
    root = make_root(tmp_path, job, script)
    plan = plan_of(job, [(0, 0), (0, 1)], cert=SERVER_CERT.read_text())
    started = time.monotonic()
    with trio.fail_after(120):
        outcome = await run_pit(plan, connector=connector, data_root=root, timeouts=FAST)
    assert time.monotonic() - started < 60
    assert [(w.exit_code, w.result) for w in outcome.workers] == [(5, None), (None, None)]
    assert not outcome.succeeded
    assert (0, "failing") in stamped_lines(root, job)
    assert await containers_of(lxd_unix, [job]) == []


@pytest.mark.lxd
async def test_stopping_a_running_pit_leaves_no_container(
    connector: LxdConnector, lxd_unix: Lxd, pit_ids: Callable[[], int], tmp_path: Path
) -> None:
    job = pit_ids()
    root = make_root(tmp_path, job, "echo sleeping\nsleep 300\n")
    plan = plan_of(job, [(0, 0)], cert=SERVER_CERT.read_text())
    outcomes: list[PitOutcome] = []

    async def run(task_status: trio.TaskStatus[PitHandle]) -> None:
        outcomes.append(
            await run_pit(
                plan, connector=connector, data_root=root, timeouts=FAST, task_status=task_status
            )
        )

    with trio.fail_after(180):
        async with trio.open_nursery() as nursery:
            handle: PitHandle = await nursery.start(run)
            assert len(await containers_of(lxd_unix, [job])) == 2
            await until(lambda: (0, "sleeping") in stamped_lines(root, job))
            handle.stop()
    assert outcomes[0].stopped
    assert outcomes[0].workers[0].exit_code is None
    assert await containers_of(lxd_unix, [job]) == []


@pytest.mark.lxd
async def test_cancelling_the_stop_scope_leaves_no_container(
    connector: LxdConnector, lxd_unix: Lxd, pit_ids: Callable[[], int], tmp_path: Path
) -> None:
    job = pit_ids()
    root = make_root(tmp_path, job, "sleep 300\n")
    plan = plan_of(job, [(0, 0)], cert=SERVER_CERT.read_text())
    with trio.move_on_after(3) as scope:
        await run_pit(plan, connector=connector, data_root=root, timeouts=FAST, stop_scope=scope)
    assert scope.cancelled_caught
    assert await containers_of(lxd_unix, [job]) == []


@pytest.mark.lxd
async def test_a_pit_cancelled_from_elsewhere_runs_on_and_can_be_attached_to(
    connector: LxdConnector, lxd_unix: Lxd, pit_ids: Callable[[], int], tmp_path: Path
) -> None:
    """The service shutting down leaves its pits running; the next run attaches to them."""
    job = pit_ids()
    script = 'echo before; while [ ! -e "$JOB_DIR/go" ]; do sleep 0.1; done; echo after; exit 5\n'
    root = make_root(tmp_path, job, script)
    plan = plan_of(job, [(0, 0)], cert=SERVER_CERT.read_text())
    run = functools.partial(run_pit, plan, connector=connector, data_root=root, timeouts=FAST)
    async with trio.open_nursery() as nursery:
        await nursery.start(run)
        nursery.cancel_scope.cancel()
    assert len(await containers_of(lxd_unix, [job])) == 2  # the daemon and the worker
    (root / "pits" / str(job) / "go").write_text("")
    with trio.fail_after(120):
        outcome = await run(attach=True)
    assert outcome.workers == (WorkerOutcome(0, 5, None),)
    assert await containers_of(lxd_unix, [job]) == []
    lines = [text for _, text in stamped_lines(root, job)]
    assert lines == [
        "Worker 0 started",
        "Starting script...",
        "before",
        "after",
        "Worker 0 ended with exit code 5",
    ]


@pytest.mark.lxd
async def test_a_job_reads_home_and_group_and_cannot_write_shared(
    connector: LxdConnector, lxd_unix: Lxd, pit_ids: Callable[[], int], tmp_path: Path
) -> None:
    job = pit_ids()
    script = (
        'cat "$USER_DIR/hello.txt" "$RESEARCH_GROUP_DIR/group.txt" "$SHARED_DIR/data.txt"\n'
        'echo written > "$USER_DIR/out.txt"\n'
        'echo written > "$RESEARCH_GROUP_DIR/out.txt"\n'
        'if echo no > "$SHARED_DIR/out.txt"; then exit 9; fi\n'
    )
    root = make_root(tmp_path, job, script)
    (root / "home" / "alice").mkdir(parents=True)
    (root / "home" / "alice" / "hello.txt").write_text("from home\n")
    (root / "groups" / "research").mkdir(parents=True)
    (root / "groups" / "research" / "group.txt").write_text("from the group\n")
    (root / "shared").mkdir(mode=0o755)
    (root / "shared" / "data.txt").write_text("shared data\n")
    (root / "shared" / "data.txt").chmod(0o644)
    plan = plan_of(job, [(0, 0)], groups=("research",), cert=SERVER_CERT.read_text())
    with trio.fail_after(180):
        outcome = await run_pit(plan, connector=connector, data_root=root, timeouts=FAST)
    texts = [text for _, text in stamped_lines(root, job)]
    assert outcome.workers[0].exit_code == 0, texts
    assert {"from home", "from the group", "shared data"} <= set(texts)
    # The daemon's SFTP gets EROFS; sshfs reports SFTP's generic failure as EPERM.
    refusals = ("Read-only file system", "Permission denied", "Operation not permitted")
    assert any(
        "shared/out.txt" in text and any(refusal in text for refusal in refusals) for text in texts
    ), texts
    assert (root / "home" / "alice" / "out.txt").read_text() == "written\n"
    assert (root / "groups" / "research" / "out.txt").read_text() == "written\n"
    assert not (root / "shared" / "out.txt").exists()
    assert await containers_of(lxd_unix, [job]) == []


@pytest.mark.lxd
async def test_a_start_timeout_raises_and_leaves_nothing(
    connector: LxdConnector, lxd_unix: Lxd, pit_ids: Callable[[], int], tmp_path: Path
) -> None:
    job = pit_ids()
    root = make_root(tmp_path, job, "sleep 300\n")
    plan = plan_of(job, [(0, 0), (0, 1)], cert=SERVER_CERT.read_text())
    tiny = PitTimeouts(container_s=60, max_start_s=0.5, teardown_s=60)

    async def run(task_status: trio.TaskStatus[PitHandle]) -> None:
        await run_pit(
            plan, connector=connector, data_root=root, timeouts=tiny, task_status=task_status
        )

    with trio.fail_after(120):
        # nursery.start raises the task's error itself; the test's nursery wraps it.
        with pytest.RaisesGroup(PitStartTimeout):
            async with trio.open_nursery() as nursery:
                await nursery.start(run)
        with pytest.raises(PitStartTimeout, match=r"did not start within 0\.5 s"):
            await run_pit(plan, connector=connector, data_root=root, timeouts=tiny)
    assert await containers_of(lxd_unix, [job]) == []


@pytest.mark.lxd
async def test_a_failing_start_raises_and_leaves_nothing(
    connector: LxdConnector, lxd_unix: Lxd, pit_ids: Callable[[], int], tmp_path: Path
) -> None:
    job = pit_ids()
    root = make_root(tmp_path, job, "true\n")
    cert = SERVER_CERT.read_text()
    plan = plan_of(job, [(0, 0)], cert=cert)
    # A GPU this machine does not have: LXD refuses to start the worker.
    plan = dataclasses.replace(
        plan, workers=(dataclasses.replace(plan.workers[0], gpu_indices=(97,)),)
    )
    with trio.fail_after(120), pytest.raises(PitStartFailed, match=f"sp-n0-{job}-0"):
        await run_pit(plan, connector=connector, data_root=root, timeouts=FAST)
    assert await containers_of(lxd_unix, [job]) == []
