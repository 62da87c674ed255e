"""Built-in HTTPS: with ``tlsCert`` and ``tlsKey`` the service serves HTTPS itself; clients that
pin its certificate (httpx, ``pit`` with the PEM in .pitconnect.txt) reach it, plain HTTP and
other certificates do not; a bad pair stops start-up with one line and exit 2."""

import os
import socket
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest

from snakepit.config import ConfigError, config_from_mapping
from snakepit.main import main, service_url
from snakepit.server import hypercorn_config
from tests.conftest import PASSWORD, register, start_service
from tests.test_cli_helpers import Pit
from tests.test_cli_tls import self_signed

ROOT = Path(__file__).resolve().parent.parent


def pinned(cert: Path | str) -> ssl.SSLContext:
    """Trust only ``cert``, hostname checked, as ``pit`` does with a pinned certificate."""
    return ssl.create_default_context(cafile=str(cert))


def causes(error: BaseException | None) -> str:
    """The messages of an error and its causes: under trio, httpx's TLS errors are empty and
    the reason sits in the ``__cause__`` chain."""
    texts = []
    while error is not None:
        texts.append(repr(error))
        error = error.__cause__ or error.__context__
    return " <- ".join(texts)


@pytest.fixture
def tls_pair(tmp_path):
    folder = tmp_path / "tls"
    folder.mkdir()
    return self_signed(folder)


@pytest.fixture
async def tls_service(nursery, make_config, tls_pair):
    cert, key = tls_pair
    running = await start_service(nursery, make_config(tlsCert=str(cert), tlsKey=str(key)))
    yield running
    await running.stop()


async def test_service_answers_over_verified_tls_and_refuses_plain_http(
    tls_service, tls_pair, caplog
):
    cert, _ = tls_pair
    url = tls_service.url
    assert url.startswith("https://127.0.0.1:")
    async with httpx.AsyncClient(base_url=url, verify=pinned(cert), timeout=10) as client:
        assert (await client.get("/hello")).text == "Here I am"
        token = await register(client, "root")
        client.headers["X-Auth-Token"] = token
        assert (await client.get("/users/~")).json()["id"] == "root"
    # Plain HTTP on the same port: the handshake fails, no answer, no clear text.
    caplog.clear()
    plain = url.replace("https://", "http://")
    async with httpx.AsyncClient(base_url=plain, timeout=10) as client:
        with pytest.raises(httpx.TransportError):
            await client.get("/hello")
    # The system's authorities do not know a self-signed certificate.
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        with pytest.raises(httpx.ConnectError) as refused:
            await client.get("/hello")
        assert "CERTIFICATE_VERIFY_FAILED" in causes(refused.value)
    # None of that hurt the service, nor made it log a problem.
    assert [record.getMessage() for record in caplog.records if record.levelno >= 30] == []
    async with httpx.AsyncClient(base_url=url, verify=pinned(cert), timeout=10) as client:
        assert (await client.get("/hello")).text == "Here I am"


async def test_pit_signs_in_and_works_with_the_pinned_certificate(tls_service, tls_pair, tmp_path):
    cert, _ = tls_pair
    async with httpx.AsyncClient(base_url=tls_service.url, verify=pinned(cert)) as client:
        await register(client, "root", fullname="Root")
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    connect = project / ".pitconnect.txt"
    connect.write_text(f"{tls_service.url}\n{cert.read_text()}")
    pit = Pit(project, home)
    signed_in = await pit.ok("show", "me", stdin=f"root\n{PASSWORD}\n".encode())
    assert "Is administrator: yes" in signed_in.out
    name, token = (project / ".pituser.txt").read_text().split("\n")
    assert name == "root"
    assert token.count(".") == 2
    status = await pit.ok("status")
    assert status.err == ""
    # Another certificate pinned: pit refuses the service's and says so.
    other_cert, _ = self_signed(tmp_path)
    connect.write_text(f"{tls_service.url}\n{other_cert.read_text()}")
    message = await pit.fails("status")
    assert message.startswith("Unable to reach pit: ")
    assert "CERTIFICATE_VERIFY_FAILED" in message


def test_config_takes_both_keys_and_the_url_is_https(secret_file, tls_pair):
    cert, key = tls_pair
    raw = {"tokenSecretPath": str(secret_file), "interface": "0.0.0.0", "port": 8443}
    config, _ = config_from_mapping({**raw, "tlsCert": str(cert), "tlsKey": str(key)})
    assert (config.tls_cert, config.tls_key) == (str(cert), str(key))
    assert service_url(config) == "https://127.0.0.1:8443"
    hyper = hypercorn_config(config)
    assert (hyper.certfile, hyper.keyfile, hyper.ssl_enabled) == (str(cert), str(key), True)
    plain, _ = config_from_mapping(raw)
    assert service_url(plain) == "http://127.0.0.1:8443"
    assert not hypercorn_config(plain).ssl_enabled


def test_bad_tls_settings_are_one_line_config_errors(secret_file, tls_pair, tmp_path):
    cert, key = tls_pair
    other_cert, other_key = self_signed(tmp_path)
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    cases = [
        ({"tlsCert": str(cert)}, "tlsCert and tlsKey: give both or neither"),
        ({"tlsKey": str(key)}, "tlsCert and tlsKey: give both or neither"),
        (
            {"tlsCert": str(tmp_path / "missing.crt"), "tlsKey": str(key)},
            f"tlsCert: cannot read {tmp_path / 'missing.crt'}",
        ),
        ({"tlsCert": str(cert), "tlsKey": str(other_key)}, "tlsCert and tlsKey: cannot load"),
        ({"tlsCert": str(not_pem), "tlsKey": str(key)}, "tlsCert and tlsKey: cannot load"),
        ({"tlsCert": str(other_cert), "tlsKey": str(not_pem)}, "tlsCert and tlsKey: cannot load"),
    ]
    for extra, message in cases:
        with pytest.raises(ConfigError) as caught:
            config_from_mapping({"tokenSecretPath": str(secret_file), **extra})
        assert str(caught.value).startswith(message), (extra, caught.value)
        assert "\n" not in str(caught.value)


def test_serve_with_a_mismatched_pair_exits_2_with_one_line(
    secret_file, tls_pair, tmp_path, capsys
):
    cert, _ = tls_pair
    _, other_key = self_signed(tmp_path)
    conf = tmp_path / "snakepit.conf"
    conf.write_text(
        f"tokenSecretPath: {secret_file}\nmountRoot: {tmp_path / 'root'}\n"
        f"tlsCert: {cert}\ntlsKey: {other_key}\n"
    )
    assert main(["serve", "--config", str(conf)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snakepit: configuration error: tlsCert and tlsKey: cannot load ")
    assert err.count("\n") == 1
    assert not (tmp_path / "root").exists(), "nothing was started"


@pytest.mark.process
@pytest.mark.lxd
def test_snakepit_up_with_tls_writes_the_https_url_and_the_certificate(tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "SNAKEPIT_ROOT": str(tmp_path / "root"),
        "SNAKEPIT_CONF": str(tmp_path / "etc" / "snakepit.conf"),
        "SNAKEPIT_PORT": str(port),
        "SNAKEPIT_RUN_DIR": str(tmp_path / "run"),
        "SNAKEPIT_LXD_NAME": f"snakepit-up-tls-test-{os.getpid()}",
        "SNAKEPIT_TLS": "1",
    }
    workdir = tmp_path / "work"
    workdir.mkdir()
    try:
        up = subprocess.run(
            [ROOT / "bin" / "snakepit-up"],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert up.returncode == 0, up.stderr
        url = f"https://127.0.0.1:{port}"
        assert up.stdout.strip().splitlines()[-1] == f"Snakepit is up: {url}"
        cert = tmp_path / "etc" / "tls.crt"
        assert (tmp_path / "etc" / "tls.key").stat().st_mode & 0o077 == 0
        conf = (tmp_path / "etc" / "snakepit.conf").read_text()
        assert f"tlsCert: {cert}\n" in conf
        for connect in (workdir / ".pitconnect.txt", tmp_path / "root" / ".pitconnect.txt"):
            first, pem = connect.read_text().split("\n", 1)
            assert first == url
            assert pem.strip() == cert.read_text().strip()
            assert pem.startswith("-----BEGIN CERTIFICATE-----\n")
        with httpx.Client(base_url=url, verify=pinned(cert), timeout=30) as client:
            assert client.get("/hello").text == "Here I am"
    finally:
        subprocess.run([ROOT / "bin" / "snakepit-down"], env=env, capture_output=True, timeout=60)
        client_cert = tmp_path / "etc" / "lxd-client.crt"
        if client_cert.exists():
            import trio

            from tests.test_setup_scripts import untrust

            trio.run(untrust, client_cert.read_text())
