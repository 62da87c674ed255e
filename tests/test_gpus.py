"""GPUs without GPUs: nodes whose workers carry a stand-in ``nvidia-smi`` (tests/data/fakegpu,
passed in by an LXD profile as a real deployment passes the NVIDIA runtime), bound by
environment. Discovery, restrictions, a job spread over two nodes on the same LXD, what each
worker sees of its GPUs, and the utilisation samples that become UC% and UM%.

The contract tests at the end hold the stand-in to the output of the real ``nvidia-smi``.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import trio

from snakepit.jobs.states import JobState
from snakepit.nodes.discovery import parse_gpu_lines
from snakepit.pits.runner import parse_utilisation
from tests.conftest import register
from tests.lxd_service import open_lxd_service

FAKE = Path(__file__).parent / "data" / "fakegpu"
PID = os.getpid()
NODES = (f"ga{PID}", f"gb{PID}")
HEAD = f"gh{PID}"
PROFILE = f"snakepit-fakegpu-{PID}"
MODEL = "Fake GPU 1070"
DISK_OPTIONS = ("path=/usr/local/bin", "readonly=true")


@pytest.fixture
def fake_gpu_profile(tmp_path_factory):
    """An LXD profile that puts the stand-in nvidia-smi on every container's PATH."""
    # Unprivileged containers must be able to traverse to it: not below the 0700 pytest temp.
    folder = Path(f"/tmp/snakepit-fakegpu-{PID}")
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(FAKE, folder)
    folder.chmod(0o755)
    lxc = ["lxc", "profile"]
    subprocess.run([*lxc, "delete", PROFILE], capture_output=True, check=False)
    subprocess.run([*lxc, "create", PROFILE], check=True, capture_output=True)
    subprocess.run(
        [*lxc, "device", "add", PROFILE, "fakegpu", "disk", *DISK_OPTIONS, f"source={folder}"],
        check=True,
        capture_output=True,
    )
    yield PROFILE
    subprocess.run([*lxc, "delete", PROFILE], capture_output=True, check=False)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def gpu_cluster(nursery, make_config, tmp_path, fake_gpu_profile):
    """Two nodes with four stand-in GPUs each, on the local LXD; admin root and user alice."""
    nodes = {node: {"gpuBinding": "environment"} for node in NODES}
    async with open_lxd_service(
        nursery,
        make_config,
        tmp_path,
        head=HEAD,
        nodes=nodes,
        workerProfiles=["default", fake_gpu_profile],
    ) as running:
        async with running.service.client() as anon:
            alice = await register(anon, "alice")
        async with running.admin() as admin, running.service.client(alice) as user:
            yield running.service, admin, user
    assert running.leftovers == [], "the service left containers behind"


async def wait_for(client, job, check, deadline_s=240):
    with trio.fail_after(deadline_s):
        while True:
            found = (await client.get(f"/jobs/{job}")).json()
            if check(found):
                return found
            await trio.sleep(0.2)  # polling the API under the deadline above


@pytest.mark.lxd
async def test_a_job_spans_two_nodes_and_each_worker_sees_only_its_gpu(gpu_cluster):
    service, admin, alice = gpu_cluster
    first, second = NODES
    shown = (await alice.get(f"/nodes/{first}")).json()
    assert shown["gpuBinding"] == "environment"
    assert [(r["type"], r["index"], r["name"]) for r in shown["resources"]] == [
        ("cuda", index, MODEL) for index in range(4)
    ]
    # alice may use GPU 2 of the first node and GPU 1 of the second, nothing else: the two
    # processes must go to different nodes.
    assert (await admin.put("/groups/others", json={"title": "Others"})).status_code == 200
    for node, mine in ((first, 2), (second, 1)):
        for index in range(4):
            if index != mine:
                answer = await admin.put(f"/nodes/{node}/resources/{index}/groups/others")
                assert answer.status_code == 200, answer.text
    assert (await admin.put("/aliases/fake", json={"name": MODEL})).status_code == 200

    too_many = await alice.post("/jobs", json={"clusterRequest": "3:[1:fake]", "script": "true"})
    assert too_many.status_code == 406, too_many.text

    script = (
        "echo 60 30 > /tmp/fake-gpu-load; nvidia-smi -L; "
        'echo "visible=$CUDA_VISIBLE_DEVICES"; '
        'while [ ! -e "$JOB_DIR/go" ]; do sleep 0.2; done'
    )
    answer = await alice.post("/jobs", json={"clusterRequest": "2:[1:fake]", "script": script})
    assert answer.status_code == 200, answer.text
    job = answer.json()["id"]
    # Both workers' latest samples are taken once each has written its load (until then one
    # of them may still report 0, and the job's current value is the average of the two).
    running = await wait_for(
        alice, job, lambda j: j["state"] == JobState.RUNNING and j["utilComp"] == 0.6, 240
    )
    assert running["utilMem"] == 0.3
    assert running["allocation"] == f"{first}[cuda 2] + {second}[cuda 1]"
    (service.config.data_root / "pits" / str(job) / "go").write_text("")
    done = await wait_for(alice, job, lambda j: j["state"] == JobState.DONE, 120)
    assert [p["status"] for p in done["processes"]] == [0, 0]
    assert 0 < done["utilComp"] <= 0.6
    assert 0 < done["utilMem"] <= 0.3
    log = (await alice.get(f"/jobs/{job}/log")).text
    for worker, host_index in ((0, 2), (1, 1)):
        seen = [
            line.split(f"] [worker {worker}] ")[1]
            for line in log.splitlines()
            if f"] [worker {worker}] GPU " in line or f"] [worker {worker}] visible=" in line
        ]
        assert seen == [
            f"GPU 0: {MODEL} (UUID: GPU-fake-{host_index})",
            f"visible={host_index}",
        ], log


@pytest.mark.lxd
async def test_a_group_change_stops_a_waiting_job_it_makes_unsatisfiable(gpu_cluster):
    _, admin, alice = gpu_cluster
    assert (await admin.put("/aliases/fake", json={"name": MODEL})).status_code == 200
    hold = await alice.post(
        "/jobs",
        json={"clusterRequest": "2:[4:fake]", "script": "sleep 600"},
    )
    job = hold.json()["id"]
    await wait_for(alice, job, lambda j: j["state"] == JobState.RUNNING, 240)
    waiting = await alice.post("/jobs", json={"clusterRequest": "[4:fake]", "script": "true"})
    queued = waiting.json()["id"]
    await wait_for(alice, queued, lambda j: j["state"] == JobState.WAITING, 60)
    assert (await admin.put("/groups/others", json={"title": "Others"})).status_code == 200
    for node in NODES:
        assert (await admin.put(f"/nodes/{node}/groups/others")).status_code == 200
    stopped = await wait_for(alice, queued, lambda j: j["state"] == JobState.DONE, 60)
    reasons = [change["reason"] for change in stopped["stateChanges"]]
    assert "Cluster cannot fulfill resource request anymore" in reasons
    assert (await alice.post(f"/jobs/{job}/stop")).status_code == 200
    await wait_for(alice, job, lambda j: j["state"] == JobState.DONE, 120)


# The contract: what the real nvidia-smi prints (recorded from driver 535 on a GTX 1070 and an
# A100), and the stand-in's answer to the same questions, read the same way by the service.
REAL_QUERY_NAMES = "0, NVIDIA GeForce GTX 1070\n1, NVIDIA A100-SXM4-40GB\n"
REAL_QUERY_UTILISATION = "37, 12\n0, 0\n[N/A], [N/A]\n"
REAL_LIST = "GPU 0: NVIDIA GeForce GTX 1070 (UUID: GPU-5d3c9e0a-0000-0000-0000-000000000000)\n"


def fake(*arguments: str, **environment: str) -> str:
    result = subprocess.run(
        [str(FAKE / "nvidia-smi"), *arguments],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", **environment},
    )
    return result.stdout


def test_the_stand_in_answers_discovery_like_the_real_one():
    assert parse_gpu_lines(REAL_QUERY_NAMES) == [
        ("cuda", 0, "NVIDIA GeForce GTX 1070"),
        ("cuda", 1, "NVIDIA A100-SXM4-40GB"),
    ]
    answer = fake("--query-gpu=index,name", "--format=csv,noheader")
    assert parse_gpu_lines(answer) == [("cuda", index, MODEL) for index in range(4)]
    assert len(answer.splitlines()) == len(parse_gpu_lines(answer))


def test_the_stand_in_answers_sampling_like_the_real_one():
    assert parse_utilisation(REAL_QUERY_UTILISATION, (7, 8, 9)) == [(7, 0.37, 0.12), (8, 0.0, 0.0)]
    answer = fake(
        "--query-gpu=utilization.gpu,utilization.memory",
        "--format=csv,noheader,nounits",
        NVIDIA_VISIBLE_DEVICES="1,3",
    )
    assert parse_utilisation(answer, (5, 6)) == [(5, 0.0, 0.0), (6, 0.0, 0.0)]


def test_the_stand_in_lists_like_the_real_one():
    pattern = r"GPU (\d+): (.+) \(UUID: (GPU-[\w-]+)\)"
    assert re.fullmatch(pattern, REAL_LIST.strip())
    lines = fake("-L", NVIDIA_VISIBLE_DEVICES="2").splitlines()
    assert len(lines) == 1
    assert re.fullmatch(pattern, lines[0])
