"""Tokens: every problem answers 401 so the published client signs in again."""

import time

import pytest

from snakepit.tokens import (
    TokenExpired,
    TokenInvalid,
    TokenTooFar,
    issue_token,
    verify_token,
)
from tests.conftest import sign_in

SECRET = b"secret\n"


def test_round_trip_keeps_the_claims():
    token = issue_token(SECRET, "alice", "k3", now=1000, ttl_s=60)
    claims = verify_token(SECRET, token, now=1030, ttl_s=60)
    assert (claims.user, claims.issued_at, claims.expires_at, claims.key) == (
        "alice",
        1000,
        1060,
        "k3",
    )


@pytest.mark.parametrize(
    ("token", "error"),
    [
        (issue_token(b"other secret", "alice", "key", now=1000, ttl_s=60), TokenInvalid),
        (issue_token(SECRET, "alice", "key", now=1000, ttl_s=60) + "x", TokenInvalid),
        ("a.b", TokenInvalid),
        ("a.b.c", TokenInvalid),
        ("", TokenInvalid),
        ("ä.ö.ü", TokenInvalid),
        (issue_token(SECRET, "alice", "key", now=0, ttl_s=60), TokenExpired),
        (issue_token(SECRET, "alice", "key", now=1000, ttl_s=3600), TokenTooFar),
    ],
)
def test_bad_tokens_are_refused(token, error):
    with pytest.raises(error):
        verify_token(SECRET, token, now=1030, ttl_s=60)


def test_an_unsigned_none_algorithm_token_is_refused():
    import base64
    import json

    def part(value):
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    token = f"{part({'alg': 'none'})}.{part({'user': 'root', 'iat': 1000, 'exp': 1060})}."
    with pytest.raises(TokenInvalid):
        verify_token(SECRET, token, now=1030, ttl_s=60)


async def expect_401(service, token, message):
    async with service.client(token) as client:
        answer = await client.get("/users/~")
    assert answer.status_code == 401
    assert answer.json() == {"message": message}


async def test_forged_token_is_401(users, service):
    forged = issue_token(b"guessed secret", "root", "key", now=time.time(), ttl_s=60)
    await expect_401(service, forged, "Invalid token")
    await expect_401(service, "garbage", "Invalid token")


async def test_expired_token_is_401(users, service):
    secret = service.config.token_secret
    ttl = service.config.token_ttl_s
    expired = issue_token(secret, "alice", "key", now=time.time() - ttl - 5, ttl_s=ttl)
    await expect_401(service, expired, "Token expired")


async def test_token_living_longer_than_the_ttl_is_401(users, service):
    secret = service.config.token_secret
    too_long = issue_token(secret, "alice", "key", now=time.time(), ttl_s=10 * 86400)
    await expect_401(service, too_long, "Token expiration too far in the future")


async def test_token_of_a_deleted_user_is_401(users, service):
    token = users.bob.headers["X-Auth-Token"]
    assert (await users.bob.delete("/users/~")).status_code == 200
    await expect_401(service, token, "Token for unknown user")


async def test_token_lives_for_token_ttl(nursery, make_config):
    from tests.conftest import register, start_service

    service = await start_service(nursery, make_config(tokenTTL="1h30m"))
    async with service.client() as anon:
        token = await register(anon, "root")
        claims = verify_token(service.config.token_secret, token, now=time.time(), ttl_s=5400)
        assert claims.expires_at - claims.issued_at == 5400
        assert await sign_in(anon, "root")
    await service.stop()


async def test_token_of_a_deleted_account_does_not_open_a_new_account_of_that_name(
    users, service, anon
):
    from tests.conftest import register

    old_token = users.bob.headers["X-Auth-Token"]
    assert (await users.bob.delete("/users/~")).status_code == 200
    await register(anon, "bob")
    async with service.client(old_token) as client:
        answer = await client.get("/users/~")
    assert answer.status_code == 401
