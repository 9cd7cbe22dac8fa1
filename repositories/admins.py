"""The ``admins`` collection: administrator accounts with argon2 password hashes."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from domain import rules
from domain.clock import Clock
from repositories.base import find_or_raise, object_id

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
_hasher = PasswordHasher()
# Verifying against this keeps a login for an unknown user as slow as one for a known user.
_DUMMY_HASH = _hasher.hash("not-a-real-password")


@dataclasses.dataclass(frozen=True)
class Admin:
    id: str
    username: str
    session_version: int

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Admin:
        return cls(str(doc["_id"]), doc["username"], doc.get("session_version", 0))


class AdminRepository:
    def __init__(self, db: AsyncDatabase, clock: Clock) -> None:
        self.collection = db[COLLECTION]
        self._clock = clock

    async def set_password(self, *, username: str, password: str) -> tuple[Admin, bool]:
        """Create the admin, or reset its password (which also ends its open sessions).
        Returns the admin and whether it was created."""
        now = rules.to_millisecond(self._clock.now())  # compared with what MongoDB gives back
        result = await self.collection.find_one_and_update(
            {"username": username.strip().lower()},
            {
                "$set": {"password_hash": await asyncio.to_thread(_hasher.hash, password), "actualizado_en": now},
                "$inc": {"session_version": 1},
                "$setOnInsert": {"creado_en": now},
            },
            upsert=True,
            return_document=True,
        )
        return Admin.from_doc(result), result["creado_en"] == now

    async def create_if_missing(self, *, username: str, password: str) -> bool:
        if await self.collection.count_documents({"username": username.strip().lower()}, limit=1):
            return False
        await self.set_password(username=username, password=password)
        return True

    async def any_exists(self) -> bool:
        return bool(await self.collection.count_documents({}, limit=1))

    async def authenticate(self, *, username: str, password: str) -> Admin | None:
        doc = await self.collection.find_one({"username": username.strip().lower()})
        try:
            # argon2 is deliberately slow: keep it off the event loop.
            await asyncio.to_thread(_hasher.verify, doc["password_hash"] if doc else _DUMMY_HASH, password)
        except (VerificationError, InvalidHashError):
            return None
        return Admin.from_doc(doc) if doc else None

    async def get(self, admin_id: str | ObjectId) -> Admin:
        query = {"_id": object_id(admin_id, "administrador")}
        return Admin.from_doc(await find_or_raise(self.collection, query, "El administrador no existe."))

    async def delete(self, username: str) -> bool:
        return bool((await self.collection.delete_one({"username": username.strip().lower()})).deleted_count)
