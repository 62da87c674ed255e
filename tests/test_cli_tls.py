"""pit against a service behind HTTPS with a self-signed certificate: trusted when the
certificate is pinned in .pitconnect.txt (hostname checked), refused otherwise."""

import ssl
import subprocess

import pytest
import trio

from tests.test_cli_helpers import start_lab


def self_signed(folder):
    """A self-signed certificate for 127.0.0.1 (in its subjectAltName) and its key."""
    cert, key = folder / "proxy.crt", folder / "proxy.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=snakepit-test", "-addext", "subjectAltName=IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


async def pipe(source, sink):
    try:
        while data := await source.receive_some(65536):
            await sink.send_all(data)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    finally:
        await sink.aclose()


async def start_tls_proxy(nursery, cert, key, target_port):
    """A TLS-terminating proxy in front of the service, as a lab would put one there."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def handle(stream):
        try:
            await stream.do_handshake()
        except trio.BrokenResourceError:
            return  # a client that refused our certificate
        upstream = await trio.open_tcp_stream("127.0.0.1", target_port)
        async with trio.open_nursery() as inner:
            inner.start_soon(pipe, stream, upstream)
            inner.start_soon(pipe, upstream, stream)

    listeners = await nursery.start(trio.serve_ssl_over_tcp, handle, 0, context)
    return listeners[0].transport_listener.socket.getsockname()[1]


@pytest.fixture
async def lab(nursery, make_config, tmp_path):
    lab = await start_lab(nursery, make_config, tmp_path)
    yield lab
    await lab.service.stop()


async def test_pinned_self_signed_certificate(lab, nursery, tmp_path):
    cert, key = self_signed(tmp_path)
    service_port = int(lab.service.url.rsplit(":", 1)[1])
    port = await start_tls_proxy(nursery, cert, key, service_port)
    connect_file = lab.pit.cwd / ".pitconnect.txt"
    connect_file.write_text(f"https://127.0.0.1:{port}\n" + cert.read_text())
    assert (await lab.pit.ok("show", "me")).out.startswith("Username:         root\n")
    (tmp_path / "f.bin").write_bytes(b"\x00\x01" * 100_000)
    await lab.pit.ok("push", "home", "f.bin", str(tmp_path / "f.bin"))
    assert (await lab.pit.ok("cat", "home", "f.bin")).raw == b"\x00\x01" * 100_000
    # Without the pinned certificate the system's authorities do not know it.
    connect_file.write_text(f"https://127.0.0.1:{port}\n")
    message = await lab.pit.fails("show", "me")
    assert message.startswith("Unable to reach pit: ")
    assert "CERTIFICATE_VERIFY_FAILED" in message
