"""The ``consultas`` collection: who looked up a public report, for accountability (Ley 21.719).

Each entry keeps the time, the client address, a keyed hash of the e-mail asked for (never the
address itself) and how many infractions were answered. Entries expire after the configured
retention (a TTL index, adjusted at start-up when the setting changes)."""

from __future__ import annotations

import logging
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

COLLECTION = "consultas"
RETENTION_INDEX = "creada_en_ttl"
INDEXES = [IndexModel([("correo_hmac", ASCENDING), ("creada_en", ASCENDING)], name="correo_creada")]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["creada_en", "cliente", "correo_hmac", "resultados"],
        "properties": {
            "creada_en": {"bsonType": "date"},
            "cliente": {"bsonType": "string"},
            "correo_hmac": {"bsonType": "string", "pattern": "^[0-9a-f]{64}$"},
            "resultados": {"bsonType": ["int", "long"], "minimum": 0},
        },
    }
}
log = logging.getLogger(__name__)


class LookupRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db
        self.collection = db[COLLECTION]

    async def insert_many(self, entries: list[dict[str, Any]]) -> None:
        await self.collection.insert_many(entries, ordered=False)

    async def keep_for(self, days: int) -> None:
        """Make the TTL index expire entries ``days`` after they were written."""
        seconds = days * 86_400
        current = (await self.collection.index_information()).get(RETENTION_INDEX)
        if current is None:
            await self.collection.create_index([("creada_en", ASCENDING)], expireAfterSeconds=seconds, name=RETENTION_INDEX)
        elif current.get("expireAfterSeconds") != seconds:
            await self._db.command("collMod", COLLECTION, index={"name": RETENTION_INDEX, "expireAfterSeconds": seconds})
            log.info("lookups are now kept %s days", days)
