"""Password hashing with passlib (bcrypt, cost ``hashRounds``), always in a worker thread.

bcrypt costs tens of milliseconds of CPU per call; on the event loop it would stall every other
request, so each call goes through ``trio.to_thread`` under a limiter sized to the cores.
"""

import os

import trio
from passlib.context import CryptContext

#: bcrypt reads at most this many bytes of a password.
MAX_PASSWORD_BYTES = 72


class PasswordHasher:
    """Hashes and checks passwords off the event loop."""

    def __init__(self, rounds: int) -> None:
        self._context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=rounds)
        self._limiter = trio.CapacityLimiter(max(1, os.cpu_count() or 1))
        # A hash to check against when the user does not exist, so both cases cost the same.
        self._dummy_hash = self._context.hash("no such user")

    async def hash(self, password: str) -> str:
        """Return the bcrypt hash of ``password`` (computed in a thread)."""
        return await trio.to_thread.run_sync(self._context.hash, password, limiter=self._limiter)

    async def verify(self, password: str, password_hash: str | None) -> bool:
        """Check ``password`` against a stored hash (``None``: compare with a dummy, False)."""
        stored = password_hash or self._dummy_hash
        try:
            matches = await trio.to_thread.run_sync(
                self._context.verify, password, stored, limiter=self._limiter
            )
        except ValueError:
            return False
        return bool(matches) and password_hash is not None
