"""The ``limites`` collection: rate-limit counters shared by every process and every instance.

One document per (namespace, key) keeps the times of the attempts counted in the last period (a
sliding log, the "moving window" of rate limiting: exact, never a burst of twice the limit across
a window's edge). One atomic ``findAndModify`` (an aggregation-pipeline update) forgets what is
older than the period, decides, and adds the attempt, so concurrent attempts in any number of
workers are all counted. A TTL index removes the documents of keys that have gone quiet."""

from __future__ import annotations

import dataclasses
import datetime as dt

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

COLLECTION = "limites"
INDEXES = [IndexModel([("expira_en", ASCENDING)], expireAfterSeconds=0, name="expira_ttl")]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["intentos", "expira_en"],
        "properties": {
            "intentos": {"bsonType": "array", "items": {"bsonType": ["double", "int", "long"]}},
            "permitido": {"bsonType": "bool"},
            "expira_en": {"bsonType": "date"},
        },
    }
}


@dataclasses.dataclass(frozen=True)
class Attempts:
    """The attempts counted for a key in the last period, oldest first (seconds since the epoch)."""

    times: list[float]
    period: float

    @property
    def count(self) -> int:
        return len(self.times)

    def seconds_until_room(self, limit: int, now: float) -> float:
        """How long until fewer than ``limit`` attempts are left in the period."""
        if len(self.times) < limit:
            return 0.0
        return max(0.0, self.times[len(self.times) - limit] + self.period - now)


class LimitRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db[COLLECTION]

    async def hit(self, key: str, *, period: float, limit: int, now: float) -> tuple[Attempts, bool]:
        """Count an attempt on ``key`` at ``now`` if fewer than ``limit`` were counted in the last
        ``period`` seconds; the attempts after it, and whether it was counted (allowed). At most
        ``limit`` times are kept."""
        recent = {"$filter": {"input": {"$ifNull": ["$intentos", []]}, "cond": {"$gt": ["$$this", now - period]}}}
        within = {"$lt": [{"$size": "$intentos"}, limit]}
        doc = await self.collection.find_one_and_update(
            {"_id": key},
            [
                {"$set": {"intentos": recent}},
                {
                    "$set": {  # both read "intentos" as the stage before left it
                        "intentos": {"$cond": [within, {"$concatArrays": ["$intentos", [now]]}, "$intentos"]},
                        "permitido": within,
                        "expira_en": dt.datetime.fromtimestamp(now + period, dt.timezone.utc),
                    }
                },
            ],
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return Attempts(doc["intentos"], period), doc["permitido"]

    async def peek(self, key: str, *, period: float, now: float) -> Attempts:
        """``key``'s attempts in the last period, without counting one (and without writing)."""
        doc = await self.collection.find_one({"_id": key}) or {}
        return Attempts([t for t in doc.get("intentos", []) if t > now - period], period)

    async def clear(self, key: str) -> None:
        await self.collection.delete_one({"_id": key})
