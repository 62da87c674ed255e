"""Running commands in an instance.

:meth:`Exec.run` is the recorded form: LXD writes stdout and stderr to log files, which are read
and then deleted, and the exit code comes with the operation. The streaming form, with stdin and
a control channel, is :meth:`Exec.open`.
"""

import contextlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import trio

from lxd.errors import LxdError
from lxd.models import ExecResult
from lxd.transport import Transport


def exec_body(
    argv: Sequence[str],
    *,
    environment: Mapping[str, str] | None,
    cwd: str | None,
    uid: int | None,
    gid: int | None,
    **options: Any,
) -> dict[str, Any]:
    if not argv:
        raise ValueError("exec needs a command")
    body: dict[str, Any] = {
        "command": list(argv),
        "environment": dict(environment or {}),
        **options,
    }
    if cwd is not None:
        body["cwd"] = cwd
    if uid is not None:
        body["user"] = uid
    if gid is not None:
        body["group"] = gid
    return body


class Exec:
    """``POST /1.0/instances/<name>/exec`` in both forms."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def run(
        self,
        instance: str,
        argv: Sequence[str],
        *,
        environment: Mapping[str, str] | None = None,
        cwd: str | None = None,
        uid: int | None = None,
        gid: int | None = None,
    ) -> ExecResult:
        """Run a command to its end and return its exit code and recorded output.

        Raises:
            OperationFailed: LXD could not run it (for example, no such program).
        """
        body = exec_body(
            argv,
            environment=environment,
            cwd=cwd,
            uid=uid,
            gid=gid,
            interactive=False,
            **{"wait-for-websocket": False, "record-output": True},
        )
        path = f"/1.0/instances/{quote(instance, safe='')}/exec"
        result = await self._transport.run("POST", path, json_body=body)
        details = result.get("metadata") or {}
        logs = details.get("output") or {}
        stdout = await self._read_and_delete(logs.get("1"))
        stderr = await self._read_and_delete(logs.get("2"))
        return ExecResult(int(details.get("return", -1)), stdout, stderr)

    async def _read_and_delete(self, log_url: str | None) -> bytes:
        if not log_url:
            return b""
        path = log_url.removeprefix("/1.0/../").replace("//", "/")
        try:
            content = (await self._transport.request("GET", path)).content
        finally:
            with (
                trio.CancelScope(shield=True),
                trio.move_on_after(10),
                contextlib.suppress(LxdError),
            ):
                await self._transport.request("DELETE", path)
        return content
