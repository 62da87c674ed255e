"""Session tokens: JSON Web Tokens signed with HS256, as the published service issued them.

The payload is ``{"user", "iat", "exp", "key"}``. ``key`` is the user's token key, a random
value drawn when the account is created and again whenever its password changes: a token
carrying an older key (an old password's, or a deleted account's of the same name) is refused.
The secret is the raw content of the ``tokenSecretPath`` file.

    TokenError
    ├── TokenInvalid   (malformed, bad signature, wrong algorithm)
    ├── TokenExpired
    └── TokenTooFar    (expires later than now + tokenTTL: not one of ours)
"""

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json

_HEADER = {"alg": "HS256", "typ": "JWT"}
#: Tokens longer than this are refused before any parsing.
MAX_TOKEN_LENGTH = 4096


class TokenError(Exception):
    """A token that cannot be accepted."""


class TokenInvalid(TokenError):
    pass


class TokenExpired(TokenError):
    pass


class TokenTooFar(TokenError):
    pass


@dataclasses.dataclass(frozen=True)
class Claims:
    user: str
    issued_at: int
    expires_at: int
    key: str


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise TokenInvalid("not base64url") from None


def _sign(secret: bytes, signing_input: bytes) -> bytes:
    return hmac.new(secret, signing_input, hashlib.sha256).digest()


def _integer_claim(payload: dict[str, object], name: str) -> int:
    value = payload.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise TokenInvalid(f"claim {name} is not a number")
    return value


def issue_token(secret: bytes, user: str, key: str, *, now: float, ttl_s: float) -> str:
    """Sign a token for ``user`` that expires ``ttl_s`` seconds after ``now``."""
    issued_at = int(now)
    payload = {"user": user, "iat": issued_at, "exp": issued_at + int(ttl_s), "key": key}
    head = _b64encode(json.dumps(_HEADER, separators=(",", ":")).encode())
    body = _b64encode(json.dumps(payload, separators=(",", ":")).encode())
    signing_input = f"{head}.{body}".encode("ascii")
    return f"{head}.{body}.{_b64encode(_sign(secret, signing_input))}"


def verify_token(secret: bytes, token: str, *, now: float, ttl_s: float) -> Claims:
    """Check a token's signature and lifetime and return its claims.

    Raises:
        TokenInvalid: malformed, not HS256, or the signature does not match.
        TokenExpired: ``exp`` has passed.
        TokenTooFar: ``exp`` lies further ahead than ``now + ttl_s``.
    """
    if len(token) > MAX_TOKEN_LENGTH or not token.isascii():
        raise TokenInvalid("malformed")
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenInvalid("malformed")
    head, body, signature = parts
    expected = _sign(secret, f"{head}.{body}".encode("ascii"))
    if not hmac.compare_digest(expected, _b64decode(signature)):
        raise TokenInvalid("bad signature")
    try:
        header = json.loads(_b64decode(head))
        payload = json.loads(_b64decode(body))
    except (ValueError, UnicodeDecodeError):
        raise TokenInvalid("malformed") from None
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise TokenInvalid("wrong algorithm")
    if not isinstance(payload, dict):
        raise TokenInvalid("malformed")
    user, key = payload.get("user"), payload.get("key")
    issued_at, expires_at = _integer_claim(payload, "iat"), _integer_claim(payload, "exp")
    if not isinstance(user, str) or not isinstance(key, str):
        raise TokenInvalid("malformed claims")
    if expires_at <= now:
        raise TokenExpired("expired")
    if expires_at > now + ttl_s + 1:
        raise TokenTooFar("expires too late")
    return Claims(user, issued_at, expires_at, key)
