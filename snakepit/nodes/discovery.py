"""Finding a node's GPUs by running a probe container on it.

The probe asks ``nvidia-smi`` and falls back to ``/proc/driver/nvidia/gpus/*/information``, as the
published scan did. Lines ``<index>, <model>`` become resources ``("cuda", index, model)``; commas
in model names become spaces, as published.
"""

import contextlib
import secrets

import trio

from lxd import ImageServer, Lxd, LxdError
from lxd.transport import describe
from snakepit.config import Config

#: Image the probe runs in: the worker image, which carries the GPU tools of the cluster.
PROBE_IMAGE = "snakepit-worker"

PROBE_SCRIPT = r"""
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=index,name --format=csv,noheader
else
  index=0
  for info in /proc/driver/nvidia/gpus/*/information; do
    [ -f "$info" ] || continue
    echo "$index, $(sed -n 's/^Model:[[:space:]]*//p' "$info")"
    index=$((index + 1))
  done
fi
"""


class DiscoveryFailed(Exception):
    """The probe could not run on the node."""


def parse_gpu_lines(text: str) -> list[tuple[str, int, str]]:
    """``0, NVIDIA GeForce GTX 1070`` lines → ``("cuda", 0, "NVIDIA GeForce GTX 1070")``."""
    found = []
    for line in text.splitlines():
        index, _, name = line.partition(",")
        if index.strip().isdigit() and name.strip():
            found.append(("cuda", int(index), " ".join(name.replace(",", " ").split())))
    return found


async def discover_gpus(
    lxd: Lxd, node_id: str, config: Config, image_server: ImageServer | None = None
) -> list[tuple[str, int, str]]:
    """Run the probe in a fresh container on the node and return its GPUs. The image comes
    from the node's LXD, or from ``image_server`` (the head) for another LXD.

    Raises:
        DiscoveryFailed: the container could not be made, started or asked.
    """
    name = f"snakepit-probe-{node_id}-{secrets.token_hex(3)}"
    try:
        with trio.fail_after(config.container_timeout_s):
            await lxd.instances.create(
                name,
                image_alias=PROBE_IMAGE,
                profiles=config.worker_profiles,
                image_server=image_server,
            )
            await lxd.instances.start(name)
        with trio.fail_after(config.lxd_timeout_s):
            result = await lxd.exec.run(name, ["sh", "-c", PROBE_SCRIPT])
    except LxdError as error:
        raise DiscoveryFailed(f"probe container on {node_id}: {describe(error)}") from None
    except trio.TooSlowError:
        raise DiscoveryFailed(f"probe container on {node_id}: it took too long") from None
    finally:
        with (
            trio.CancelScope(shield=True),
            trio.move_on_after(config.container_timeout_s),
            contextlib.suppress(LxdError),
        ):
            await lxd.instances.remove(name)
    if result.exit_code != 0:
        raise DiscoveryFailed(f"probe exited with {result.exit_code}: {result.stderr.decode()}")
    return parse_gpu_lines(result.stdout.decode(errors="replace"))
