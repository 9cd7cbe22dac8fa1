"""Rate limits (the public report, failed admin logins), counted in MongoDB so the limit is one
limit however many worker processes and instances serve the application.

A rate is written as ``limits`` parses it ("60/minute", "5/15minutes"). The count is a moving
window (``repositories.limites``): at most that many attempts in any period, and an attempt over
the limit is refused without being counted. Every attempt is one ``findAndModify``."""

from __future__ import annotations

import dataclasses
import math

from limits import parse

from domain.clock import Clock
from repositories.limites import Attempts, LimitRepository

# Attempts kept by ``record`` beyond a limit that slows down instead of refusing.
RECORDED_BEYOND_LIMIT = 100


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0  # whole seconds, for the Retry-After header
    count: int = 0  # attempts in the last period, the one asked about included


class Throttle:
    def __init__(self, rate: str, namespace: str, store: LimitRepository, clock: Clock) -> None:
        item = parse(rate)
        self.limit = item.amount
        self.period = float(item.get_expiry())
        self._namespace = namespace
        self._store = store
        self._clock = clock

    async def hit(self, key: str) -> Decision:
        """Count one attempt for ``key`` if it is within the limit, and say whether it was."""
        now = self._clock.timestamp()
        attempts, allowed = await self._store.hit(self._key(key), period=self.period, limit=self.limit, now=now)
        if allowed:
            return Decision(True, 0, attempts.count)
        return self._refusal(attempts, now)

    async def record(self, key: str) -> None:
        """Count one attempt for ``key`` even beyond the limit (for a limit that slows down, not refuses)."""
        limit = self.limit + RECORDED_BEYOND_LIMIT
        await self._store.hit(self._key(key), period=self.period, limit=limit, now=self._clock.timestamp())

    async def exceeded(self, key: str) -> Decision:
        """Say whether one more attempt for ``key`` would be within the limit, without counting one."""
        now = self._clock.timestamp()
        attempts = await self._store.peek(self._key(key), period=self.period, now=now)
        if attempts.count < self.limit:
            return Decision(True, 0, attempts.count + 1)
        return self._refusal(attempts, now)

    async def clear(self, key: str) -> None:
        await self._store.clear(self._key(key))

    def _refusal(self, attempts: Attempts, now: float) -> Decision:
        wait = attempts.seconds_until_room(self.limit, now)
        return Decision(False, max(1, math.ceil(wait)), attempts.count + 1)

    def _key(self, key: str) -> str:
        return f"{self._namespace}:{key}"
