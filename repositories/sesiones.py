"""The ``sesiones`` collection: administrators' sessions, kept on the server so that logging out,
a password reset or deleting the administrator ends them at once.

The browser's cookie carries only a random token (signed by Tornado); the document's ``_id`` is the
token's SHA-256, so a copy of the collection opens no session. A session ends after
``idle`` without use or ``lifetime`` after login, whichever comes first; the TTL index removes it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from domain import audit, rules
from domain.clock import Clock
from repositories.auditoria import AuditLog
from repositories.base import in_transaction

COLLECTION = "sesiones"
INDEXES = [
    IndexModel([("expira_en", ASCENDING)], expireAfterSeconds=0, name="expira_ttl"),
    IndexModel([("admin_id", ASCENDING)], name="admin"),
]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["admin_id", "username", "creada_en", "vence_en", "expira_en"],
        "properties": {
            "admin_id": {"bsonType": "objectId"},
            "username": {"bsonType": "string"},
            "creada_en": {"bsonType": "date"},
            "vence_en": {"bsonType": "date"},
            "expira_en": {"bsonType": "date"},
        },
    }
}


@dataclasses.dataclass(frozen=True)
class SessionOwner:
    """Who a live session belongs to."""

    admin_id: str
    username: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class SessionRepository:
    def __init__(self, db: AsyncDatabase, clock: Clock, audit: AuditLog, *, idle: dt.timedelta, lifetime: dt.timedelta) -> None:
        self._db = db
        self.collection = db[COLLECTION]
        self._clock = clock
        self._audit = audit
        self.idle = idle
        self.lifetime = lifetime

    async def open(self, *, admin_id: str, username: str) -> str:
        """Start a session (a login, in the audit trail, which says from where); the token to put in the cookie."""
        token = secrets.token_urlsafe(32)
        now = rules.to_millisecond(self._clock.now())
        doc = {
            "_id": _digest(token),
            "admin_id": ObjectId(admin_id),
            "username": username,
            "creada_en": now,
            "vence_en": now + self.lifetime,
            "expira_en": min(now + self.idle, now + self.lifetime),
        }

        async def write(session: AsyncClientSession) -> None:
            await self.collection.insert_one(doc, session=session)
            await self._audit.record(session, accion=audit.INICIAR_SESION, coleccion=COLLECTION, documento_id=doc["admin_id"])

        await in_transaction(self._db, write)
        return token

    async def touch(self, token: str) -> SessionOwner | None:
        """The session's owner if it is live, extending its idle deadline (never past its lifetime)."""
        now = self._clock.now()
        doc = await self.collection.find_one_and_update(
            {"_id": _digest(token), "expira_en": {"$gt": now}, "vence_en": {"$gt": now}},
            [{"$set": {"expira_en": {"$min": [now + self.idle, "$vence_en"]}}}],
            projection={"admin_id": 1, "username": 1},  # the same before and after the update
        )
        return SessionOwner(str(doc["admin_id"]), doc["username"]) if doc else None

    async def close(self, token: str) -> None:
        """End a session (a logout, in the audit trail)."""

        async def write(session: AsyncClientSession) -> None:
            closed = await self.collection.find_one_and_delete({"_id": _digest(token)}, session=session)
            if closed is not None:
                await self._audit.record(session, accion=audit.CERRAR_SESION, coleccion=COLLECTION, documento_id=closed["admin_id"])

        await in_transaction(self._db, write)

    async def close_all_for(self, admin_id: str | ObjectId, *, session: AsyncClientSession | None = None) -> int:
        """End every session of an administrator (in the transaction of the change that requires it)."""
        result = await self.collection.delete_many({"admin_id": ObjectId(admin_id)}, session=session)
        return result.deleted_count

    async def failed_login(self, username: str) -> None:
        """Record a refused login in the audit trail (the attempted user name, never the password)."""
        await self._audit.record(None, accion=audit.SESION_FALLIDA, coleccion=COLLECTION, documento_id=None, despues={"usuario": username})
