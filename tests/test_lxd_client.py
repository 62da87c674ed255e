"""The LXD client against the real local LXD: every call, its errors and its deadlines."""

import contextlib
import hashlib
import io
import os
import socket
import struct
import tarfile
from functools import partial
from pathlib import Path

import pytest
import trio

from lxd import (
    Conflict,
    LxdApiError,
    LxdUnreachable,
    NotFound,
    OperationFailed,
    client_ssl_context,
    open_lxd,
)
from lxd.certificates import fingerprint
from lxd.transport import Endpoint
from tests.lxd_fixtures import (
    HTTPS_ENDPOINT,
    SERVER_CERT,
    TINY_IMAGE,
    make_certificate,
    unique_name,
    wait_for_ipv4,
)

pytestmark = pytest.mark.lxd


async def test_https_with_trusted_certificate(lxd):
    with trio.fail_after(10):
        info = await lxd.server_info()
    assert info.auth == "trusted"
    assert info.api_version.startswith("1.")
    assert info.server_version


async def test_untrusted_certificate_is_told_so(tmp_path):
    stranger = make_certificate(tmp_path, "stranger")
    context = client_ssl_context(stranger.cert, stranger.key, SERVER_CERT)
    async with open_lxd(HTTPS_ENDPOINT, context) as client:
        with trio.fail_after(10):
            assert (await client.server_info()).auth == "untrusted"
            with pytest.raises(LxdApiError) as refused:
                await client.instances.names()
    assert refused.value.status == 403


async def test_wrong_server_certificate_is_refused(tmp_path, trusted_cert):
    impostor = make_certificate(tmp_path, "impostor")
    context = client_ssl_context(trusted_cert.cert, trusted_cert.key, impostor.cert)
    async with open_lxd(HTTPS_ENDPOINT, context) as client:
        with trio.fail_after(10), pytest.raises(LxdUnreachable, match="CERTIFICATE_VERIFY_FAILED"):
            await client.server_info()


def test_https_needs_a_tls_context():
    with pytest.raises(ValueError, match="TLS context"):
        Endpoint.parse(HTTPS_ENDPOINT)
    with pytest.raises(ValueError, match="https://HOST:PORT or unix:PATH"):
        Endpoint.parse("http://127.0.0.1:8443")


async def test_lifecycle(lxd, cleanup_instances):
    name = unique_name()
    cleanup_instances.append(name)
    with trio.fail_after(60):
        created = await lxd.instances.create(
            name, image_alias=TINY_IMAGE, config={"user.purpose": "test"}
        )
        assert created.status == "Stopped"
        assert created.config["user.purpose"] == "test"
        assert name in await lxd.instances.names()
        with pytest.raises(Conflict):
            await lxd.instances.create(name, image_alias=TINY_IMAGE)
        await lxd.instances.start(name)
        assert (await lxd.instances.get(name)).status == "Running"
        assert await wait_for_ipv4(lxd, name)
        await lxd.instances.restart(name, force=True)
        assert (await lxd.instances.state(name)).status == "Running"
        await lxd.instances.stop(name, force=True)
        assert (await lxd.instances.get(name)).status == "Stopped"
        await lxd.instances.delete(name)
        assert name not in await lxd.instances.names()
        with pytest.raises(NotFound):
            await lxd.instances.get(name)
        assert await lxd.instances.remove(name) is False


async def test_create_from_a_missing_image_fails_and_leaves_nothing(lxd):
    name = unique_name()
    with trio.fail_after(30):
        with pytest.raises((NotFound, OperationFailed)):
            await lxd.instances.create(name, image_alias="no-such-image")
        assert name not in await lxd.instances.names()


async def test_cancelled_create_leaves_no_instance(lxd, cleanup_instances):
    name = unique_name()
    cleanup_instances.append(name)
    with trio.move_on_after(0.05) as scope:
        await lxd.instances.create(name, image_alias=TINY_IMAGE)
    assert scope.cancelled_caught
    with trio.fail_after(30):
        assert name not in await lxd.instances.names()


@pytest.fixture
async def running(lxd, cleanup_instances):
    name = unique_name()
    cleanup_instances.append(name)
    with trio.fail_after(60):
        await lxd.instances.create(name, image_alias=TINY_IMAGE)
        await lxd.instances.start(name)
    return name


async def test_recorded_exec_gives_exit_code_and_output(lxd, running):
    with trio.fail_after(30):
        result = await lxd.exec.run(
            running,
            ["sh", "-c", 'echo "out $GREETING"; echo err >&2; exit 3'],
            environment={"GREETING": "hello"},
        )
        assert (result.exit_code, result.stdout, result.stderr) == (3, b"out hello\n", b"err\n")
        ok = await lxd.exec.run(running, ["pwd"], cwd="/tmp")
        assert (ok.exit_code, ok.stdout) == (0, b"/tmp\n")
        # The output logs are deleted after reading.
        logs = await lxd.transport.sync("GET", f"/1.0/instances/{running}/logs")
        assert not [log for log in logs if "exec_" in log]


async def test_exec_of_a_missing_program(lxd, running):
    with trio.fail_after(30), pytest.raises(OperationFailed, match="Command not found"):
        await lxd.exec.run(running, ["/no/such/program"])


async def test_file_round_trip_is_binary_safe(lxd, running, tmp_path):
    data = os.urandom(20 * 1024 * 1024)
    with trio.fail_after(60):
        await lxd.files.push(running, "/tmp/blob", data, mode=0o640, uid=1000, gid=1001)
        info = await lxd.files.stat(running, "/tmp/blob")
        assert (info.mode, info.uid, info.gid, info.kind) == (0o640, 1000, 1001, "file")
        assert hashlib.sha256(await lxd.files.pull(running, "/tmp/blob")).digest() == (
            hashlib.sha256(data).digest()
        )
        size = await lxd.files.pull_to(running, "/tmp/blob", tmp_path / "blob")
        assert size == len(data)
        assert (tmp_path / "blob").read_bytes() == data
        checksum = await lxd.exec.run(running, ["sha256sum", "/tmp/blob"])
        assert checksum.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


async def test_mkdir_push_delete(lxd, running):
    with trio.fail_after(30):
        await lxd.files.mkdir(running, "/tmp/folder", mode=0o700)
        assert (await lxd.files.stat(running, "/tmp/folder")).kind == "directory"
        await lxd.files.push(running, "/tmp/folder/empty", b"")
        assert await lxd.files.pull(running, "/tmp/folder/empty") == b""
        await lxd.files.delete(running, "/tmp/folder/empty")
        with pytest.raises(NotFound):
            await lxd.files.pull(running, "/tmp/folder/empty")
        await lxd.files.delete(running, "/tmp/folder")
        with pytest.raises(NotFound):
            await lxd.files.stat(running, "/tmp/folder")


async def test_images_and_aliases(lxd):
    with trio.fail_after(30):
        tiny = await lxd.images.fingerprint_of(TINY_IMAGE)
        assert tiny is not None
        assert any(image.fingerprint == tiny for image in await lxd.images.list())
        alias = unique_name("alias")
        await lxd.images.add_alias(alias, tiny)
        assert await lxd.images.fingerprint_of(alias) == tiny
        await lxd.images.point_alias(alias, tiny)
        await lxd.images.delete_alias(alias)
        assert await lxd.images.fingerprint_of(alias) is None
        assert (await lxd.images.get(tiny)).aliases.count(TINY_IMAGE) == 1


async def test_certificates_add_list_remove(lxd, tmp_path):
    other = make_certificate(tmp_path, "other")
    print_ = fingerprint(other.pem)
    with trio.fail_after(30):
        await lxd.certificates.add(other.pem, name="other")
        assert print_ in [cert.fingerprint for cert in await lxd.certificates.list()]
        await lxd.certificates.remove(print_)
        assert print_ not in [cert.fingerprint for cert in await lxd.certificates.list()]


async def test_deadline_fires_on_a_slow_call(lxd, running):
    with pytest.raises(trio.TooSlowError), trio.fail_after(0.5):
        await lxd.exec.run(running, ["sleep", "5"])


class Relay:
    """A loopback TCP relay to LXD that can drop every connection at once (a dead daemon)."""

    def __init__(self) -> None:
        self.cut = trio.Event()
        self.request_seen = trio.Event()

    async def serve(self, listener: trio.SocketListener, target_port: int) -> None:
        await trio.serve_listeners(partial(self._handle, target_port=target_port), [listener])

    async def _pipe(self, source: trio.abc.Stream, sink: trio.abc.Stream, upward: bool) -> None:
        with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
            async for chunk in source:
                await sink.send_all(chunk)
                if upward:
                    self.request_seen.set()

    async def _handle(self, client: trio.SocketStream, target_port: int) -> None:
        upstream = await trio.open_tcp_stream("127.0.0.1", target_port)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pipe, client, upstream, True)
            nursery.start_soon(self._pipe, upstream, client, False)
            await self.cut.wait()
            nursery.cancel_scope.cancel()
        for stream in (client, upstream):
            # SO_LINGER 0: close with a reset, as a crashed daemon's kernel would.
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await stream.aclose()


async def test_lxd_gone_mid_call_is_unreachable(trusted_cert, running, nursery):
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    relay = Relay()
    nursery.start_soon(relay.serve, listeners[0], 8443)
    context = client_ssl_context(trusted_cert.cert, trusted_cert.key, SERVER_CERT)
    async with open_lxd(f"https://127.0.0.1:{port}", context) as client:
        with trio.fail_after(30):
            assert (await client.server_info()).auth == "trusted"
            operation = await client.transport.start(
                "POST",
                f"/1.0/instances/{running}/exec",
                json_body={"command": ["sleep", "20"], "record-output": True},
            )
            relay.request_seen = trio.Event()
            async with trio.open_nursery() as calls:

                async def wait_for_the_sleep() -> None:
                    with pytest.raises(LxdUnreachable):
                        await client.transport.wait(operation["id"])

                calls.start_soon(wait_for_the_sleep)
                await relay.request_seen.wait()  # the /wait request is in flight
                relay.cut.set()
            with pytest.raises(LxdUnreachable):
                await client.instances.names()
    nursery.cancel_scope.cancel()


async def test_unreachable_when_nothing_listens(trusted_cert):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = client_ssl_context(trusted_cert.cert, trusted_cert.key, SERVER_CERT)
    async with open_lxd(f"https://127.0.0.1:{port}", context) as client:
        with trio.fail_after(10), pytest.raises(LxdUnreachable, match="ConnectError"):
            await client.server_info()


async def read_all(stream) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def test_streaming_exec_with_stdin(lxd, running):
    with trio.fail_after(30):
        async with lxd.exec.open(running, ["cat"]) as process:
            await process.write(b"hello ")
            await process.write(b"pit\n")
            await process.close_stdin()
            assert await read_all(process.stdout) == b"hello pit\n"
            assert await process.wait() == 0


async def test_streaming_exec_separates_stdout_and_stderr(lxd, running):
    with trio.fail_after(30):
        async with lxd.exec.open(
            running, ["sh", "-c", "echo out; echo err >&2; exit 4"]
        ) as process:
            out, err = await read_all(process.stdout), await read_all(process.stderr)
            assert (out, err) == (b"out\n", b"err\n")
            assert await process.wait() == 4


async def test_streaming_exec_moves_megabytes_both_ways(lxd, running):
    data = os.urandom(5 * 1024 * 1024)
    with trio.fail_after(60):
        async with lxd.exec.open(running, ["sh", "-c", "cat | tee /tmp/copy | sha256sum"]) as proc:

            async def feed() -> None:
                for start in range(0, len(data), 65536):
                    await proc.write(data[start : start + 65536])
                await proc.close_stdin()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(feed)
                output = await read_all(proc.stdout)
            assert output.split()[0].decode() == hashlib.sha256(data).hexdigest()
            assert await proc.wait() == 0


async def test_signal_reaches_the_process(lxd, running):
    with trio.fail_after(30):
        async with lxd.exec.open(running, ["sleep", "100"]) as process:
            await process.signal(15)
            assert await process.wait() == 128 + 15


async def test_interactive_exec_has_a_resizable_terminal(lxd, running):
    with trio.fail_after(30):
        async with lxd.exec.open(
            running, ["sh"], interactive=True, width=100, height=30
        ) as process:
            await process.resize(120, 40)
            # (LXD 5.0 may drop a pty's last output when the process exits at once after it:
            # the shell lingers a moment, as an interactive user's would.)
            await process.write(b"stty size; sleep 0.5; exit 7\n")
            output = await read_all(process.stdout)
            assert b"40 120" in output
            assert await process.wait() == 7


async def test_leaving_an_exec_block_kills_the_process(lxd, running):
    with trio.fail_after(30):
        async with lxd.exec.open(running, ["sleep", "1234"]):
            pass
        listing = await lxd.exec.run(running, ["ps"])
        assert b"sleep 1234" not in listing.stdout


async def test_trust_with_the_servers_trust_password(tmp_path):
    newcomer = make_certificate(tmp_path, "newcomer")
    context = client_ssl_context(newcomer.cert, newcomer.key, SERVER_CERT)
    password = f"pw-{os.getpid()}"
    await trio.run_process(["lxc", "config", "set", "core.trust_password", password])
    try:
        async with open_lxd(HTTPS_ENDPOINT, context) as client:
            with trio.fail_after(30):
                with pytest.raises(LxdApiError):
                    await client.certificates.trust_self(name="newcomer", password="wrong")
                assert (await client.server_info()).auth == "untrusted"
                assert await client.certificates.trust_self(name="newcomer", password=password)
                assert (await client.server_info()).auth == "trusted"
                # A second time is not an error: the certificate is trusted already.
                assert not await client.certificates.trust_self(name="newcomer", password=password)
                await client.certificates.remove(fingerprint(newcomer.pem))
    finally:
        await trio.run_process(["lxc", "config", "unset", "core.trust_password"])


def retitled_tarball(source: Path, target: Path, title: str) -> None:
    """A copy of an image tarball with another description, hence another fingerprint."""
    with tarfile.open(source) as old, tarfile.open(target, "w:gz") as new:
        for member in old:
            data = old.extractfile(member) if member.isfile() else None
            if member.name.lstrip("./") == "metadata.yaml" and data is not None:
                text = data.read().decode() + f"\n# {title}\n"
                content = text.replace("description:", f"description: {title} -", 1).encode()
                member.size = len(content)
                new.addfile(member, io.BytesIO(content))
            else:
                new.addfile(member, data)


async def test_import_alias_and_delete_an_image(lxd, tmp_path):
    cache = trio.Path("/var/cache/snakepit/images")
    cached = sorted(await cache.glob(f"{TINY_IMAGE}-*.tar.gz"))
    assert cached, "bin/prepare-images keeps the built tiny image in its cache"
    tarball = tmp_path / "copy.tar.gz"
    await trio.to_thread.run_sync(retitled_tarball, cached[-1], tarball, unique_name("image"))
    alias = unique_name("imported")
    with trio.fail_after(60):
        imported = await lxd.images.import_tarball(tarball)
        try:
            assert imported != await lxd.images.fingerprint_of(TINY_IMAGE)
            await lxd.images.add_alias(alias, imported)
            assert (await lxd.images.get(imported)).aliases == (alias,)
        finally:
            await lxd.images.delete(imported)
        assert imported not in [image.fingerprint for image in await lxd.images.list()]
        assert await lxd.images.fingerprint_of(alias) is None
