"""Who is calling: the ``X-Auth-Token`` header checked against the signing secret and the store.

All token problems answer 401, so the published client re-authenticates (it only does on 401;
the published service answered 400 for a forged token, which left its client stuck).
"""

import enum
import hmac

from quart import has_websocket_context, request, websocket

from snakepit.errors import Forbidden, Unauthorized
from snakepit.models import User
from snakepit.services import Services
from snakepit.store import accounts
from snakepit.tokens import TokenExpired, TokenInvalid, TokenTooFar, verify_token


class Access(enum.Enum):
    """Who may call a route, before any check on the target (self, member, job owner)."""

    ANON = "anon"  #: anybody; a token is ignored
    OPTIONAL = "optional"  #: anybody, but a token given must be valid
    USER = "user"  #: any signed-in user
    ADMIN = "admin"  #: administrators only


async def signed_in_user(services: Services, access: Access) -> User | None:
    """Authenticate the request as ``access`` demands.

    Raises:
        Unauthorized: no token where one is needed, or a bad, expired or revoked token.
        Forbidden: the route is for administrators and the caller is not one.
    """
    if access is Access.ANON:
        return None
    headers = websocket.headers if has_websocket_context() else request.headers
    token = headers.get("X-Auth-Token", "").strip()
    if not token:
        if access is Access.OPTIONAL:
            return None
        raise Unauthorized("No token")
    config = services.config
    try:
        claims = verify_token(
            config.token_secret, token, now=services.clock(), ttl_s=config.token_ttl_s
        )
    except TokenExpired:
        raise Unauthorized("Token expired") from None
    except TokenTooFar:
        raise Unauthorized("Token expiration too far in the future") from None
    except TokenInvalid:
        raise Unauthorized("Invalid token") from None
    user = services.database.lookup(lambda c: accounts.get_user(c, claims.user))
    if user is None:
        raise Unauthorized("Token for unknown user")
    if not hmac.compare_digest(user.token_key, claims.key):
        raise Unauthorized("Token revoked: the password has changed since it was issued")
    if access is Access.ADMIN and not user.admin:
        raise Forbidden("Forbidden: only administrators may do this")
    return user


def require_self_or_admin(caller: User, user_id: str) -> None:
    if caller.id != user_id and not caller.admin:
        raise Forbidden("Forbidden")
