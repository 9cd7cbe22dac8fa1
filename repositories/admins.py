"""The ``admins`` collection: administrator accounts with argon2 password hashes."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from domain import audit, rules
from domain.clock import Clock
from repositories.auditoria import AuditLog
from repositories.base import find_or_raise, in_transaction
from repositories.sesiones import SessionRepository

COLLECTION = "admins"
INDEXES = [IndexModel([("username", ASCENDING)], unique=True, name="username_unique")]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["username", "password_hash"],
        "properties": {
            "username": {"bsonType": "string", "minLength": 1, "maxLength": 64},
            "password_hash": {"bsonType": "string", "pattern": "^\\$argon2"},
        },
    }
}
# argon2id with RFC 9106's low-memory parameters (64 MiB, 3 passes, 4 lanes), named rather than
# left to the library's default. Repositories hash with these unless given others (the tests).
PASSWORD_HASHER = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)
# Verifying against this keeps a login for an unknown user as slow as one for a known user.
_DUMMY_HASH = PASSWORD_HASHER.hash("not-a-real-password")


@dataclasses.dataclass(frozen=True)
class Admin:
    id: str
    username: str


def normalize_username(username: str) -> str:
    return username.strip().lower()


class AdminRepository:
    def __init__(
        self, db: AsyncDatabase, clock: Clock, audit: AuditLog, *, sesiones: SessionRepository, hasher: PasswordHasher
    ) -> None:
        self._db = db
        self.collection = db[COLLECTION]
        self._clock = clock
        self._audit = audit
        self._sesiones = sesiones
        self._hasher = hasher

    async def set_password(self, *, username: str, password: str) -> tuple[Admin, bool]:
        """Create the admin, or reset its password and end its open sessions. Returns the admin and
        whether it was created."""
        username = normalize_username(username)
        now = rules.to_millisecond(self._clock.now())
        password_hash = await asyncio.to_thread(self._hasher.hash, password)  # slow on purpose: off the event loop

        async def write(session: AsyncClientSession) -> tuple[dict[str, Any], bool]:
            result = await self.collection.update_one(
                {"username": username},
                {"$set": {"password_hash": password_hash, "actualizado_en": now}, "$setOnInsert": {"creado_en": now}},
                upsert=True,
                session=session,
            )
            doc = await find_or_raise(self.collection, {"username": username}, "El administrador no existe.", session=session)
            created = result.upserted_id is not None
            if not created:
                await self._sesiones.close_all_for(doc["_id"], session=session)
            action = audit.CREAR if created else audit.CAMBIAR_CLAVE
            await self._audit.record(session, accion=action, coleccion=COLLECTION, documento_id=doc["_id"], despues={"username": username})
            return doc, created

        doc, created = await in_transaction(self._db, write)
        return Admin(str(doc["_id"]), username), created

    async def create_if_missing(self, *, username: str, password: str) -> bool:
        if await self.collection.count_documents({"username": normalize_username(username)}, limit=1):
            return False
        await self.set_password(username=username, password=password)
        return True

    async def any_exists(self) -> bool:
        return bool(await self.collection.count_documents({}, limit=1))

    async def authenticate(self, *, username: str, password: str) -> Admin | None:
        doc = await self.collection.find_one({"username": normalize_username(username)})
        try:
            # argon2 is deliberately slow: keep it off the event loop. (The parameters are the hash's.)
            await asyncio.to_thread(self._hasher.verify, doc["password_hash"] if doc else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return Admin(str(doc["_id"]), doc["username"]) if doc else None

    async def delete(self, username: str) -> bool:
        """Delete an administrator and end its sessions."""

        async def write(session: AsyncClientSession) -> bool:
            doc = await self.collection.find_one_and_delete({"username": normalize_username(username)}, session=session)
            if doc is None:
                return False
            await self._sesiones.close_all_for(doc["_id"], session=session)
            await self._audit.record(session, accion=audit.BORRAR, coleccion=COLLECTION, documento_id=doc["_id"], antes=doc)
            return True

        return await in_transaction(self._db, write)
