"""The pure parts of pit: table cells, entity and port parsing, ignore rules, connection files."""

import io

import pytest

from snakepit.cli.archive import ignore_rules
from snakepit.cli.remote import parse_port_pair
from snakepit.cli.tables import duration, fields, percent, short_date
from snakepit.client.connection import Connection, route
from snakepit.client.domains import parse_domain, parse_entity
from snakepit.client.errors import ClientError


def test_table_cells():
    assert percent(None) == "0"
    assert percent(0.505) == "51"  # halves round up, as in the published client
    assert percent(0.5049) == "50"
    assert percent("x") == "NaN"
    assert duration((4, 21, 5, 50)) == "04d 21:05:50"
    assert duration((120, 1, 2, 3)) == "120d"
    assert short_date("2026-11-28T22:41:16+00:00") == "2026-11-28T22:41:16Z"
    assert fields([("A", "1"), ("Longer", "\n  x")]) == "A:      1\nLonger: \n  x\n"


def test_entities_and_domains():
    assert parse_entity("me", ("user",)).route == "users/~"
    assert parse_entity("node:n0:1", ("node",), indices=True).route == "nodes/n0/resources/1"
    assert parse_entity("alias:gtx", ("alias",)).route == "aliases/gtx"
    with pytest.raises(ClientError, match="Indices not allowed"):
        parse_entity("node:n0:1", ("node",))
    with pytest.raises(ClientError, match='Unsupported entity type "x"'):
        parse_entity("x:1", ("user",))
    assert parse_domain("home").route("stats", "a b/c") == "users/~/simplefs/stats/a%20b/c"
    assert parse_domain("12").route("content", "") == "jobs/12/simplefs/content/"
    assert parse_domain("shared").writable is False
    with pytest.raises(ClientError, match="not allowed"):
        parse_domain("home").route("stats", "a/../b")
    assert route("users", "a/b") == "users/a%2Fb"


def test_port_pairs():
    assert parse_port_pair("6006") == (6006, 6006)
    assert parse_port_pair("8080:80") == (8080, 80)
    for bad in ("x", "0", "8080:", "70000:1", "1:x"):
        with pytest.raises(ClientError, match="Wrong port pair format"):
            parse_port_pair(bad)


def test_ignore_rules(tmp_path):
    (tmp_path / ".gitignore").write_text("# comment\n*.log\n/build/\ndata/raw\n!keep.log\n")
    (tmp_path / ".pitignore").write_text("**/cache\n")
    ignored = ignore_rules(tmp_path)
    assert ignored(".git", True)
    assert ignored(".pituser.txt", False)
    assert ignored("x/debug.log", False)
    assert not ignored("keep.log", False)
    assert ignored("build", True)
    assert not ignored("build", False)
    assert not ignored("src/build", True)
    assert ignored("data/raw", True)
    assert ignored("a/b/cache", True)
    assert not ignored("train.py", False)


def test_connection_files():
    plain = Connection.from_text("http://pit.example.org/\n")
    assert (plain.url, plain.ca_cert) == ("http://pit.example.org", None)
    pem = "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----"
    pinned = Connection.from_text(f"https://pit.example.org\r\n{pem}\n")
    assert pinned.ca_cert == pem + "\n"
    assert pinned.websocket_url("jobs/1/instances/0/exec") == (
        "wss://pit.example.org/jobs/1/instances/0/exec"
    )
    with pytest.raises(ClientError, match="http"):
        Connection.from_text("pit.example.org\n")


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_only_after_a_second_on_a_terminal(monkeypatch):
    from snakepit.cli import progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    terminal = _Terminal()
    monkeypatch.setattr(progress.sys, "stderr", terminal)
    bar = progress.Progress("downloading", 1000)
    bar.add(100)
    assert terminal.getvalue() == ""  # under a second: nothing
    clock[0] += 1.5
    bar.add(400)
    assert terminal.getvalue().startswith("\r  downloading [" + "=" * 20 + " " * 20 + "]  50%")
    bar.finish()
    assert terminal.getvalue().endswith("\n")
    piped = io.StringIO()
    monkeypatch.setattr(progress.sys, "stderr", piped)
    quiet = progress.Progress("uploading", 10)
    clock[0] += 5
    quiet.add(10)
    quiet.finish()
    assert piped.getvalue() == ""
