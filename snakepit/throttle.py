"""Slows down repeated failed logins for one user.

Attempts for the same user are serialised, and after ``free_failures`` failures in a row each
further failure holds that user's line for a delay that doubles up to ``max_delay_s``. Guessing a
password in parallel therefore gains nothing, and a success resets the count.
"""

import contextlib
from collections.abc import AsyncIterator

import trio


class _UserLine:
    def __init__(self) -> None:
        self.lock = trio.Lock()
        self.failures = 0
        self.waiters = 0


class LoginThrottle:
    """Per-user serialisation and back-off of authentication attempts."""

    def __init__(
        self, base_delay_s: float, *, free_failures: int = 3, max_delay_s: float = 30.0
    ) -> None:
        self.base_delay_s = base_delay_s
        self.free_failures = free_failures
        self.max_delay_s = max_delay_s
        self._lines: dict[str, _UserLine] = {}

    def delay_after(self, failures: int) -> float:
        """Seconds an attempt is held after the ``failures``-th failure in a row."""
        if failures < self.free_failures:
            return 0.0
        return min(self.base_delay_s * 2 ** (failures - self.free_failures), self.max_delay_s)

    @contextlib.asynccontextmanager
    async def attempt(self, user: str) -> AsyncIterator["Attempt"]:
        """Hold the user's line for one attempt; report the outcome on the yielded object."""
        line = self._lines.setdefault(user, _UserLine())
        line.waiters += 1
        try:
            async with line.lock:
                attempt = Attempt()
                yield attempt
                if attempt.succeeded:
                    line.failures = 0
                else:
                    line.failures += 1
                    await trio.sleep(self.delay_after(line.failures))
        finally:
            line.waiters -= 1
            if line.waiters == 0 and line.failures == 0:
                self._lines.pop(user, None)


class Attempt:
    """The outcome of one login attempt; failure unless ``succeed()`` is called."""

    def __init__(self) -> None:
        self.succeeded = False

    def succeed(self) -> None:
        self.succeeded = True
