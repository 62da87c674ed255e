"""Tokens that must never open a door: expired, forged (another secret, ``alg: none``, another
algorithm, a tampered payload), for a deleted user, issued before a password change, or for an
earlier account of the same name. Each is refused with 401 and a JSON message on every kind of
protected route: a user's own, an administrator's, the jobs', the data's and a websocket's.

``tests/test_tokens.py`` checks the token functions and one route per problem; this module
sends every refused token to each family of protected route."""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from snakepit.jobs.states import JobState
from snakepit.tokens import issue_token
from tests.conftest import PASSWORD, insert_job_directly, register, sign_in

NEW_PASSWORD = "another long passphrase"

#: One protected route of each family (``{job}`` is a job of alice's).
PROTECTED = (
    ("GET", "/users/~"),
    ("GET", "/users/alice"),
    ("GET", "/users"),
    ("GET", "/jobs"),
    ("GET", "/jobs/status"),
    ("GET", "/jobs/{job}/log"),
    ("POST", "/jobs"),
    ("GET", "/users/alice/fs/attr"),
    ("GET", "/users/alice/simplefs/content/"),
    ("GET", "/jobs/{job}/instances/0/exec"),
    ("GET", "/groups"),
)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode(part: dict[str, Any]) -> str:
    return b64(json.dumps(part, separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    head, body, signature = token.split(".")
    decode = lambda text: json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))  # noqa: E731
    return decode(head), decode(body), signature


def signed(secret: bytes, header: dict[str, Any], payload: dict[str, Any], digest: Any) -> str:
    signing_input = f"{encode(header)}.{encode(payload)}"
    mac = hmac.new(secret, signing_input.encode(), digest).digest()
    return f"{signing_input}.{b64(mac)}"


async def refused_everywhere(service: Any, token: str, job: int, message: str) -> None:
    """``token`` gets 401 with ``message`` on every protected route."""
    async with service.client(token) as client:
        for method, path in PROTECTED:
            body = {"clusterRequest": "[]"} if method == "POST" else None
            answer = await client.request(method, path.format(job=job), json=body)
            assert answer.status_code == 401, (path, message, answer.text)
            assert answer.headers["content-type"] == "application/json", path
            assert answer.json() == {"message": message}, path


async def test_expired_and_forged_tokens_are_refused_on_every_route(service, anon):
    await register(anon, "root")
    alice = await register(anon, "alice")
    job = insert_job_directly(service.config, "alice", JobState.DONE, b"private\n")
    secret, ttl = service.config.token_secret, service.config.token_ttl_s
    header, payload, signature = parts(alice)
    now = int(time.time())
    real = {**payload, "iat": now, "exp": now + 60}
    as_root = {**payload, "user": "root"}
    cases = [
        (issue_token(secret, "alice", payload["key"], now=now - ttl - 2, ttl_s=ttl),
         "Token expired"),
        (issue_token(secret, "alice", payload["key"], now=now - 10 * ttl, ttl_s=ttl),
         "Token expired"),
        (issue_token(b"a guessed secret\n", "alice", payload["key"], now=now, ttl_s=60),
         "Invalid token"),
        # The secret is the file's content, trailing newline included.
        (issue_token(secret.strip(), "alice", payload["key"], now=now, ttl_s=60),
         "Invalid token"),
        # Unsigned, and "none" signed with the real secret: HS256 is the only algorithm.
        (f"{encode({'alg': 'none', 'typ': 'JWT'})}.{encode(real)}.", "Invalid token"),
        (signed(secret, {"alg": "none", "typ": "JWT"}, real, hashlib.sha256), "Invalid token"),
        (signed(secret, {"alg": "HS512", "typ": "JWT"}, real, hashlib.sha512), "Invalid token"),
        # alice's signature over a payload that says root, or that lives longer.
        (f"{encode(header)}.{encode(as_root)}.{signature}", "Invalid token"),
        (f"{encode(header)}.{encode({**payload, 'exp': payload['exp'] + 9})}.{signature}",
         "Invalid token"),
        (f"{encode(header)}.{encode(payload)}.", "Invalid token"),
        (f"{encode(header)}.{encode(payload)}.{signature}.{signature}", "Invalid token"),
        (alice[:-2] + ("AA" if not alice.endswith("AA") else "BB"), "Invalid token"),
        ("Bearer " + alice, "Invalid token"),
        ("x" * 5000, "Invalid token"),
    ]  # fmt: skip
    for token, message in cases:
        await refused_everywhere(service, token, job, message)
    # The genuine token still works, and the failures blocked nothing else.
    async with service.client(alice) as client:
        assert (await client.get("/users/~")).json()["id"] == "alice"
        assert (await client.get(f"/jobs/{job}/log")).text == "private\n"


async def test_tokens_of_deleted_and_changed_accounts_are_refused(service, anon):
    root = await register(anon, "root")
    alice = await register(anon, "alice")
    job = insert_job_directly(service.config, "alice", JobState.DONE, b"private\n")
    # A password change revokes every token issued before it, the changer's own included.
    before = alice
    async with service.client(alice) as client:
        answer = await client.post(
            "/users/~", json={"password": NEW_PASSWORD, "verification": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
    revoked = "Token revoked: the password has changed since it was issued"
    await refused_everywhere(service, before, job, revoked)
    # An administrator changing alice's password revokes her new tokens too.
    after = await sign_in(anon, "alice", NEW_PASSWORD)
    async with service.client(root) as admin:
        answer = await admin.post(
            "/users/alice", json={"password": PASSWORD, "verification": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
    await refused_everywhere(service, after, job, revoked)
    # Deleted: the token names nobody.
    last = await sign_in(anon, "alice", PASSWORD)
    async with service.client(root) as admin:
        assert (await admin.delete("/users/alice")).status_code == 200
    await refused_everywhere(service, last, job, "Token for unknown user")
    # Re-created under the same name: the old account's tokens open nothing of the new one.
    # (By an administrator: a name that owns jobs is not open to anybody.)
    async with service.client(root) as admin:
        answer = await admin.put("/users/alice", json={"password": NEW_PASSWORD})
        assert answer.status_code == 200, answer.text
    fresh = await sign_in(anon, "alice", NEW_PASSWORD)
    await refused_everywhere(service, last, job, revoked)
    async with service.client(fresh) as client:
        assert (await client.get("/users/~")).status_code == 200
