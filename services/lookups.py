"""The accountability log of public report lookups, kept off the request path: the report handler
only appends to a buffer in memory, and the buffer is written in one ``insert_many`` a few seconds
later (or sooner when it fills up), and at shutdown. A crash loses at most the last few seconds of
entries; a database fault keeps them for the next attempt, up to a bound."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from typing import Any

from pymongo.errors import BulkWriteError

from domain import rules
from domain.clock import Clock
from repositories.consultas import LookupRepository

log = logging.getLogger("transito.lookups")
FLUSH_SECONDS = 5.0
BATCH = 500
MAX_PENDING = 50_000  # beyond this (a long database outage) the oldest entries are dropped, with a warning


def lookup_key(secret: str) -> bytes:
    """The key of the e-mail hashes, derived from a server secret (so the hashes cannot be
    reversed by trying addresses without it)."""
    return hmac.new(secret.encode(), b"transito/consultas", hashlib.sha256).digest()


class LookupLog:
    def __init__(self, store: LookupRepository, key: bytes, clock: Clock) -> None:
        self._store = store
        self._key = key
        self._clock = clock
        self._pending: list[dict[str, Any]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._flushing: asyncio.Task[None] | None = None

    def record(self, *, correo: str, client: str, results: int) -> None:
        """Note one lookup; no I/O here."""
        self._pending.append(
            {
                "creada_en": rules.to_millisecond(self._clock.now()),
                "cliente": client,
                "correo_hmac": hmac.new(self._key, correo.encode(), hashlib.sha256).hexdigest(),
                "resultados": results,
            }
        )
        if len(self._pending) > MAX_PENDING:
            del self._pending[: len(self._pending) - MAX_PENDING]
            log.warning("the lookup log is not being written: dropped the oldest entries")
        if len(self._pending) >= BATCH:
            self._start_flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        if self._flushing is None or self._flushing.done():
            self._flushing = asyncio.get_running_loop().create_task(self.flush())

    async def flush(self) -> None:
        """Write what is buffered. On failure the entries stay buffered for the next flush."""
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            try:
                await self._store.insert_many(batch)  # sets each entry's _id, so a retry cannot write it twice
            except BulkWriteError as error:  # some were written; a duplicate _id was written by an earlier try
                self._retry_later([batch[e["index"]] for e in error.details.get("writeErrors", []) if e.get("code") != 11000])
                return
            except Exception as error:  # a lookup must never fail for its log: keep the entries, try again later
                log.warning("could not write the lookup log (%s)", error)
                self._retry_later(batch)
                return

    def _retry_later(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        self._pending[:0] = entries
        log.warning("%s lookup log entries are waiting to be written", len(self._pending))
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(FLUSH_SECONDS, self._start_flush)

    async def close(self) -> None:
        """Write what is left (at shutdown)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._flushing is not None:
            await self._flushing
        await self.flush()
