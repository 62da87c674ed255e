"""The real ``snakepit serve`` process: start-up errors, systemd notify, signals, logs."""

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.process

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp_path: Path, text: str) -> Path:
    conf = tmp_path / "snakepit.conf"
    conf.write_text(text)
    return conf


def base_config(tmp_path: Path, secret_file: Path, port: int = 0) -> str:
    return (
        f"interface: 127.0.0.1\nport: {port}\nmountRoot: {tmp_path / 'root'}\n"
        f"tokenSecretPath: {secret_file}\nhashRounds: 4\n"
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_serve(conf: Path, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "snakepit", "serve", "--config", str(conf)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("port: eighty", "port: expected a whole number"),
        ("tokenTTL: forever", "tokenTTL: cannot read 'forever'"),
        ("logLevel: verbose", "logLevel: expected a whole number from 0 to 2"),
    ],
)
def test_bad_value_stops_start_up_with_one_line_and_exit_2(tmp_path, secret_file, line, message):
    conf = write_config(tmp_path, f"tokenSecretPath: {secret_file}\n{line}\n")
    result = run_serve(conf)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_secret_file_stops_start_up(tmp_path):
    conf = write_config(tmp_path, f"tokenSecretPath: {tmp_path / 'absent'}\n")
    result = run_serve(conf)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "snakepit: configuration error: tokenSecretPath: cannot read "
        f"{tmp_path / 'absent'}: No such file or directory"
    )


def test_empty_secret_file_stops_start_up(tmp_path):
    (tmp_path / "secret").write_text("")
    conf = write_config(tmp_path, f"tokenSecretPath: {tmp_path / 'secret'}\n")
    result = run_serve(conf)
    assert result.returncode == 2
    assert "tokenSecretPath:" in result.stderr
    assert "is empty" in result.stderr
    assert result.stderr.count("\n") == 1


def test_a_corrupt_database_stops_start_up_and_stays_as_it_was(tmp_path, secret_file):
    garbage = bytes(range(256)) * 40
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "snakepit.db").write_bytes(garbage)
    conf = write_config(tmp_path, base_config(tmp_path, secret_file))
    result = run_serve(conf)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    assert "cannot open database" in result.stderr
    assert "file is not a database" in result.stderr
    assert (tmp_path / "root" / "snakepit.db").read_bytes() == garbage


def test_missing_config_file(tmp_path):
    result = run_serve(tmp_path / "nothing.conf")
    assert result.returncode == 2
    assert "cannot read configuration file" in result.stderr
    assert "Traceback" not in result.stderr


def test_address_in_use_is_one_line_and_exit_1(tmp_path, secret_file):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        conf = write_config(tmp_path, base_config(tmp_path, secret_file, port))
        result = run_serve(conf)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "cannot start: [Errno 98]" in result.stderr
    assert "address already in use" in result.stderr.lower()
    assert all(line.startswith("<") for line in result.stderr.splitlines())


class ServiceProcess:
    """``snakepit serve`` with a notify socket, as systemd would start it."""

    def __init__(self, tmp_path: Path, config_text: str, port: int) -> None:
        self.port = port
        self.notify_path = tmp_path / "notify.sock"
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(str(self.notify_path))
        self.notify.settimeout(20)
        conf = write_config(tmp_path, config_text)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "snakepit", "serve", "--config", str(conf)],
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": str(self.notify_path)},
        )
        self.stderr_lines: list[str] = []
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_lines.append(line.rstrip("\n"))

    def next_notification(self) -> str:
        return self.notify.recv(4096).decode()

    def lines_with(self, text: str) -> list[str]:
        return [line for line in list(self.stderr_lines) if text in line]

    def wait_for_line(self, text: str, count: int = 1) -> None:
        """Poll the log, with a deadline, until ``count`` lines contain ``text``."""
        deadline = time.monotonic() + 20
        while len(self.lines_with(text)) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"no line with {text!r} in {self.stderr_lines}")
            time.sleep(0.01)

    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self) -> int:
        code = self.process.wait(timeout=20)
        self._reader.join(timeout=5)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=5)
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.notify.close()


@pytest.fixture
def start_process(tmp_path, secret_file):
    started: list[ServiceProcess] = []

    def start(extra: str = "") -> ServiceProcess:
        port = free_port()
        service = ServiceProcess(tmp_path, base_config(tmp_path, secret_file, port) + extra, port)
        started.append(service)
        return service

    yield start
    for service in started:
        service.close()


def test_ready_then_stopping_on_sigterm_and_exit_0(start_process):
    service = start_process("loginDelay: 2s\nlogLevel: 0\ndebugHttp: true\n")
    assert service.next_notification() == "READY=1"
    url = service.url()
    with httpx.Client(base_url=url) as client:
        assert client.get("/hello").text == "Here I am"
        client.put("/users/alice", json={"password": "correct horse battery"})
        for _ in range(3):
            client.post("/users/alice/authenticate", json={"password": "wrong"})
        service.wait_for_line('"POST /users/alice/authenticate" 400')
        # The 4th failure is held for loginDelay: a request in flight when SIGTERM arrives.
        answers: list[int] = []

        def slow_request() -> None:
            with httpx.Client(base_url=url, timeout=20) as other:
                answer = other.post("/users/alice/authenticate", json={"password": "wrong"})
                answers.append(answer.status_code)

        slow = threading.Thread(target=slow_request)
        requests_started = len(service.lines_with('"POST /users/alice/authenticate" started'))
        slow.start()
        service.wait_for_line(
            '"POST /users/alice/authenticate" started', count=requests_started + 1
        )
        service.process.send_signal(signal.SIGTERM)
        assert service.next_notification() == "STOPPING=1"
        slow.join(timeout=10)
    assert answers == [400], "the request in flight was answered before the exit"
    assert service.wait() == 0
    with pytest.raises(httpx.ConnectError), httpx.Client(base_url=url) as client:
        client.get("/hello")


def test_log_lines_carry_syslog_priorities(start_process):
    service = start_process("logLevel: 1\nunknownKey: 1\n")
    assert service.next_notification() == "READY=1"
    with httpx.Client(base_url=service.url()) as client:
        client.get("/hello")
        client.get("/missing")
    service.process.send_signal(signal.SIGINT)
    assert service.wait() == 0
    lines = service.stderr_lines
    assert all(line[:3] in ("<7>", "<6>", "<4>", "<3>") for line in lines), lines
    assert any(line.startswith("<4>") and "unknownKey" in line for line in lines)
    assert any(line.startswith("<6>") and '"GET /missing" 404' in line for line in lines)
    # Without debugHttp, successful requests are not logged.
    assert not any('"GET /hello"' in line for line in lines)


def test_debug_http_logs_every_request(start_process):
    service = start_process("debugHttp: true\n")
    assert service.next_notification() == "READY=1"
    with httpx.Client(base_url=service.url()) as client:
        client.get("/hello")
    service.process.send_signal(signal.SIGTERM)
    assert service.wait() == 0
    assert any('"GET /hello" 200' in line for line in service.stderr_lines)


def test_log_level_2_shows_errors_only(start_process):
    service = start_process("logLevel: 2\n")
    assert service.next_notification() == "READY=1"
    with httpx.Client(base_url=service.url()) as client:
        client.get("/missing")
    service.process.send_signal(signal.SIGTERM)
    assert service.wait() == 0
    assert service.stderr_lines == []
