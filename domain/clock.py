"""The one source of "now". Everything that needs the time (timestamps written, the API's age
window, tokens, throttles, sessions, the dashboard's "today") asks a ``Clock`` handed to it where
the application is assembled, so a test sets the time by giving a ``FixedClock``, never by
patching the ``time`` module."""

from __future__ import annotations

import datetime as dt
import time

UTC = dt.timezone.utc


class Clock:
    """The real time."""

    def now(self) -> dt.datetime:
        """An aware datetime in UTC."""
        return dt.datetime.now(UTC)

    def timestamp(self) -> float:
        """Seconds since the epoch (what JWT claims and throttle windows count in)."""
        return time.time()


class FixedClock(Clock):
    """A clock that stays where a test puts it, and moves only when told."""

    def __init__(self, now: dt.datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._now = now.astimezone(UTC)

    def now(self) -> dt.datetime:
        return self._now

    def timestamp(self) -> float:
        return self._now.timestamp()

    def set(self, now: dt.datetime) -> None:
        self._now = now.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        self._now += dt.timedelta(**delta)


SYSTEM_CLOCK = Clock()
