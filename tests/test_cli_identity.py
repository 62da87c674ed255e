"""pit's connection and identity: .pitconnect.txt, the first-use dialogue, .pituser.txt,
re-login on 401, passwd, and failures that end in one message and exit status 1."""

import time

import pytest
import trio

from snakepit.tokens import issue_token
from tests.conftest import PASSWORD, start_service, write_directly
from tests.test_cli_helpers import Pit, start_lab

NEW_PASSWORD = "another long secret"


@pytest.fixture
async def lab(nursery, make_config, tmp_path):
    lab = await start_lab(nursery, make_config, tmp_path)
    yield lab
    await lab.service.stop()


async def test_first_use_registers_a_new_user(lab):
    pit = lab.pit
    (pit.home / ".pituser.txt").unlink()
    answers = f"alice\ny\nAlice Liddell\nalice@example.org\n{PASSWORD}\n{PASSWORD}\n"
    result = await pit.ok("show", "me", stdin=answers.encode())
    assert result.out == (
        "Username:         alice\n"
        "Full name:        Alice Liddell\n"
        "E-Mail address:   alice@example.org\n"
        "Is administrator: no\n"
    )
    assert "No user info found." in result.err
    assert "Found no user of that name." in result.err
    # Written next to the connection file it used (the project), owner-only.
    user_file = pit.cwd / ".pituser.txt"
    assert oct(user_file.stat().st_mode & 0o777) == "0o600"
    name, token = user_file.read_text().split("\n")
    assert name == "alice"
    assert token.count(".") == 2
    # Signed in now: nothing is asked any more.
    assert (await pit.ok("show", "me")).out.startswith("Username:         alice\n")


async def test_a_short_new_password_is_asked_again(lab):
    pit = lab.pit
    (pit.home / ".pituser.txt").unlink()
    answers = f"carol\nyes\nCarol\ncarol@example.org\nshort\n{PASSWORD}\n{PASSWORD}\n"
    result = await pit.ok("show", "me", stdin=answers.encode())
    assert "And the length must be: 12...24" in result.err
    assert result.out.startswith("Username:         carol\n")


async def test_declining_registration_ends_quietly(lab):
    pit = lab.pit
    (pit.home / ".pituser.txt").unlink()
    result = await pit("status", stdin=b"nobody\nn\n")
    assert (result.code, result.out) == (0, "")
    assert not (pit.cwd / ".pituser.txt").exists()


async def test_existing_user_signs_in_with_password(lab):
    pit = lab.pit
    (pit.home / ".pituser.txt").unlink()
    result = await pit.ok("show", "me", stdin=f"root\n{PASSWORD}\n".encode())
    assert "Is administrator: yes" in result.out
    (pit.cwd / ".pituser.txt").unlink()
    wrong = await pit.fails("show", "me", stdin=b"root\nnot the password\n")
    assert wrong.startswith('Unable to authenticate. If user "root" is not valid anymore')


async def test_expired_token_asks_for_the_password_once_and_stores_a_new_one(lab):
    pit, config = lab.pit, lab.service.config
    key = write_directly(
        config, lambda c: c.execute("SELECT token_key FROM users WHERE id='root'").fetchone()[0]
    )
    old = issue_token(config.token_secret, "root", key, now=time.time() - 2 * 86400, ttl_s=60)
    pit.sign_in_as("root", old)
    result = await pit.ok("show", "me", stdin=f"{PASSWORD}\n".encode())
    assert "Please enter password: " in result.err
    assert "Username:         root" in result.out
    name, token = (pit.home / ".pituser.txt").read_text().split("\n")
    assert name == "root"
    assert token != old
    assert oct((pit.home / ".pituser.txt").stat().st_mode & 0o777) == "0o600"
    # Signed in again: the next command asks nothing.
    assert (await pit.ok("show", "me")).err == ""


async def test_passwd_changes_the_own_password(lab):
    pit = lab.pit
    stdin = f"{PASSWORD}\n{NEW_PASSWORD}\n{NEW_PASSWORD}\n".encode()
    await pit.ok("passwd", stdin=stdin)
    async with lab.client() as anon:
        answer = await anon.post("/users/root/authenticate", json={"password": NEW_PASSWORD})
        assert answer.status_code == 200
    wrong = await pit.fails("passwd", stdin=f"wrong password\n{PASSWORD}\n{PASSWORD}\n".encode())
    assert "Unable to authenticate" in wrong or "erification failed" in wrong


async def test_no_connection_file(tmp_path):
    pit = Pit(tmp_path, tmp_path)
    message = await pit.fails("status")
    assert message.startswith("Unable to find connectivity info about your pit.")


async def test_unreachable_service_is_one_line(nursery, make_config, tmp_path):
    service = await start_service(nursery, make_config())
    url = service.url
    await service.stop()
    (tmp_path / ".pitconnect.txt").write_text(url + "\n")
    pit = Pit(tmp_path, tmp_path)
    pit.sign_in_as("root", "x.y.z")
    assert (await pit.fails("status")).startswith("Unable to reach pit: ")


async def test_argument_errors_and_version(lab):
    pit = lab.pit
    assert (await pit.ok("-V")).out.strip() == "0.1.0"
    assert "unknown command" in await pit.fails("frobnicate")
    assert "required" in await pit.fails("run")
    assert "not a job number" in await pit.fails("log", "abc")
    assert (await pit.ok()).out.startswith("usage: pit")
    assert '$ pit run "first light" "[2:gtx1070]"' in (await pit.ok("run", "--help")).out
    script = (await pit.ok("completion", "bash")).out
    assert "complete -o default -F _pit_complete pit" in script
    assert " status " in script


async def test_debug_prints_requests(lab):
    result = await lab.pit.ok("-d", "show", "me")
    assert "SENDING GET " in result.err
    assert "RECEIVING CODE 200" in result.err
    with trio.fail_after(5):
        result = await lab.pit.ok("show", "me", "-d")
    assert "SENDING GET " in result.err
