"""Per-process rate limits (login attempts, the public report) over the ``limits`` library.

Counters live in memory: with several workers each has its own, so the effective limit is at
most N times the configured one (documented). A shared store (Redis, MongoDB) can be swapped in
through ``limits``' storage URIs without touching the callers."""

from __future__ import annotations

import dataclasses
import math
import time

from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter


@dataclasses.dataclass(frozen=True)
class Decision:
    allowed: bool
    retry_after: int = 0


class Throttle:
    def __init__(self, rate: str, namespace: str) -> None:
        self._item = parse(rate)
        self._namespace = namespace
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def hit(self, key: str) -> Decision:
        """Count one attempt for ``key`` and say whether it is still within the limit."""
        if await self._limiter.hit(self._item, self._namespace, key):
            return Decision(True)
        return Decision(False, await self._retry_after(key))

    async def exceeded(self, key: str) -> Decision:
        """Say whether ``key`` is already over the limit, without counting an attempt."""
        if await self._limiter.test(self._item, self._namespace, key):
            return Decision(True)
        return Decision(False, await self._retry_after(key))

    async def clear(self, key: str) -> None:
        await self._limiter.clear(self._item, self._namespace, key)

    async def _retry_after(self, key: str) -> int:
        stats = await self._limiter.get_window_stats(self._item, self._namespace, key)
        return max(1, math.ceil(stats.reset_time - time.time()))
