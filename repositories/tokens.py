"""The ``tokens`` collection: one record per officer token (the JWT itself is never stored), so
tokens can be listed and revoked. Revocation takes effect by pulling the ``jti`` from the
officer's ``token_jtis``, which is what the API checks."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.database import AsyncDatabase

from repositories.base import object_id
from repositories.errors import NotFound

COLLECTION = "tokens"
INDEXES = [
    IndexModel([("jti", ASCENDING)], unique=True, name="jti_unique"),
    IndexModel([("oficial_id", ASCENDING), ("creado_en", DESCENDING)], name="oficial_creado"),
]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["jti", "oficial_id", "creado_en", "expira_en"],
        "properties": {
            "jti": {"bsonType": "string"},
            "oficial_id": {"bsonType": "objectId"},
            "etiqueta": {"bsonType": "string", "maxLength": 80},
            "creado_en": {"bsonType": "date"},
            "expira_en": {"bsonType": "date"},
        },
    }
}


@dataclasses.dataclass(frozen=True)
class TokenRecord:
    id: str
    jti: str
    oficial_id: str
    etiqueta: str
    creado_en: dt.datetime
    expira_en: dt.datetime
    revocado_en: dt.datetime | None
    motivo_revocacion: str | None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> TokenRecord:
        return cls(
            str(doc["_id"]),
            doc["jti"],
            str(doc["oficial_id"]),
            doc.get("etiqueta", ""),
            doc["creado_en"],
            doc["expira_en"],
            doc.get("revocado_en"),
            doc.get("motivo_revocacion"),
        )

    def status(self, now: dt.datetime) -> str:
        if self.revocado_en is not None:
            return "revocado"
        if self.expira_en <= now:
            return "expirado"
        return "vigente"


class TokenRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db[COLLECTION]
        self._oficiales = db["oficiales"]

    async def register(
        self, *, oficial_id: str | ObjectId, jti: str, creado_en: dt.datetime, expira_en: dt.datetime, etiqueta: str
    ) -> TokenRecord:
        """Record a new token and make it live on its officer, who must exist and be active."""
        oficial_id = object_id(oficial_id, "oficial")
        doc = {
            "jti": jti,
            "oficial_id": oficial_id,
            "etiqueta": etiqueta,
            "creado_en": creado_en,
            "expira_en": expira_en,
            "revocado_en": None,
        }
        await self.collection.insert_one(doc)
        expired = [
            d["jti"]
            async for d in self.collection.find(
                {"oficial_id": oficial_id, "expira_en": {"$lte": creado_en}}, {"jti": 1}
            )
        ]
        result = await self._oficiales.update_one({"_id": oficial_id, "activo": True}, {"$push": {"token_jtis": jti}})
        if expired:  # keep the live list short: MongoDB cannot $push and $pull one field at once
            await self._oficiales.update_one({"_id": oficial_id}, {"$pull": {"token_jtis": {"$in": expired}}})
        if result.matched_count == 0:
            await self.collection.delete_one({"_id": doc["_id"]})
            raise NotFound("El oficial no existe o está inactivo: no se le puede emitir un token.")
        return TokenRecord.from_doc(doc)

    async def revoke(self, token_id: str, *, reason: str = "revocado por un administrador") -> TokenRecord:
        oid = object_id(token_id, "token")
        doc = await self.collection.find_one({"_id": oid})
        if doc is None:
            raise NotFound("El token no existe.")
        # Pull first: that is what makes the revocation effective for the API.
        await self._oficiales.update_one({"_id": doc["oficial_id"]}, {"$pull": {"token_jtis": doc["jti"]}})
        if doc.get("revocado_en") is None:
            doc["revocado_en"] = dt.datetime.now(dt.timezone.utc)
            doc["motivo_revocacion"] = reason
            await self.collection.update_one(
                {"_id": oid}, {"$set": {"revocado_en": doc["revocado_en"], "motivo_revocacion": reason}}
            )
        return TokenRecord.from_doc(doc)

    async def list_for_officer(self, oficial_id: str | ObjectId, *, limit: int = 100) -> list[TokenRecord]:
        cursor = self.collection.find(
            {"oficial_id": object_id(oficial_id, "oficial")}, sort=[("creado_en", DESCENDING)], limit=limit
        )
        return [TokenRecord.from_doc(doc) async for doc in cursor]
