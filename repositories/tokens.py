"""The ``tokens`` collection: one record per officer token (the JWT itself is never stored), so
tokens can be listed and revoked. A token is live while its ``jti`` is in its officer's live list
(``OficialRepository.add_live_token``), which is what the API checks; this record says when it was
made, when it expires and, once revoked, when and why."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from domain import audit, rules
from domain.clock import Clock
from domain.errors import NotFound
from repositories.auditoria import AuditLog
from repositories.base import in_transaction, object_id
from repositories.oficiales import OficialRepository

COLLECTION = "tokens"
INDEXES = [
    IndexModel([("jti", ASCENDING)], unique=True, name="jti_unique"),
    IndexModel([("oficial_id", ASCENDING), ("creado_en", DESCENDING)], name="oficial_creado"),
]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["jti", "oficial_id", "etiqueta", "creado_en", "expira_en"],
        "properties": {
            "jti": {"bsonType": "string"},
            "oficial_id": {"bsonType": "objectId"},
            "etiqueta": {"bsonType": "string", "maxLength": rules.ETIQUETA_MAX},
            "creado_en": {"bsonType": "date"},
            "expira_en": {"bsonType": "date"},
        },
    }
}


@dataclasses.dataclass(frozen=True)
class TokenRecord:
    id: str
    jti: str
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
            doc["etiqueta"],
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
    def __init__(self, db: AsyncDatabase, clock: Clock, audit: AuditLog, *, oficiales: OficialRepository) -> None:
        self._db = db
        self.collection = db[COLLECTION]
        self._clock = clock
        self._audit = audit
        self._oficiales = oficiales

    async def register(
        self, *, oficial_id: str | ObjectId, jti: str, creado_en: dt.datetime, expira_en: dt.datetime, etiqueta: str
    ) -> TokenRecord:
        """Record a new token and make it live on its officer, who must exist and be active."""
        oficial_id = object_id(oficial_id, "oficial")
        doc = {
            "jti": jti,
            "oficial_id": oficial_id,
            "etiqueta": rules.text_or_raise(etiqueta, field="etiqueta", maximum=rules.ETIQUETA_MAX, required=False),
            "creado_en": creado_en,
            "expira_en": expira_en,
            "revocado_en": None,
        }

        async def write(session: AsyncClientSession) -> None:
            await self.collection.insert_one(doc, session=session)
            if not await self._oficiales.add_live_token(oficial_id, jti, session=session):
                raise NotFound("El oficial no existe o está inactivo: no se le puede emitir un token.")
            expired = [
                d["jti"]
                async for d in self.collection.find(
                    {"oficial_id": oficial_id, "expira_en": {"$lte": creado_en}}, {"jti": 1}, session=session
                )
            ]
            if expired:  # keep the live list short (MongoDB cannot $push and $pull one field in one update)
                await self._oficiales.drop_live_tokens(oficial_id, expired, session=session)
            await self._audit.record(session, accion=audit.EMITIR_TOKEN, coleccion=COLLECTION, documento_id=doc["_id"], despues=doc)

        await in_transaction(self._db, write)
        return TokenRecord.from_doc(doc)

    async def revoke(self, token_id: str, *, oficial_id: str, reason: str = "revocado por un administrador") -> TokenRecord:
        """Revoke one of this officer's tokens (a token of another officer is not found)."""
        query = {"_id": object_id(token_id, "token"), "oficial_id": object_id(oficial_id, "oficial")}

        async def write(session: AsyncClientSession) -> dict[str, Any]:
            doc = await self.collection.find_one(query, session=session)
            if doc is None:
                raise NotFound("El token no existe.")
            # Dropped from the live list: that is what makes the revocation effective for the API.
            await self._oficiales.drop_live_tokens(doc["oficial_id"], [doc["jti"]], session=session)
            if doc.get("revocado_en") is not None:
                return doc  # revoked before: nothing changes
            revoked = {**doc, "revocado_en": rules.to_millisecond(self._clock.now()), "motivo_revocacion": reason}
            await self.collection.update_one(
                {"_id": doc["_id"]}, {"$set": {"revocado_en": revoked["revocado_en"], "motivo_revocacion": reason}}, session=session
            )
            await self._audit.record(session, accion=audit.REVOCAR_TOKEN, coleccion=COLLECTION, documento_id=doc["_id"], antes=doc, despues=revoked)
            return revoked

        return TokenRecord.from_doc(await in_transaction(self._db, write))

    async def mark_revoked_for_officer(self, oficial_id: ObjectId, reason: str, *, session: AsyncClientSession) -> None:
        """Record why every still-unrevoked token of an officer died (its live list was emptied)."""
        await self.collection.update_many(
            {"oficial_id": oficial_id, "revocado_en": None},
            {"$set": {"revocado_en": rules.to_millisecond(self._clock.now()), "motivo_revocacion": reason}},
            session=session,
        )

    async def find_by_jti(self, jti: str) -> TokenRecord | None:
        """The record of the token with this id (which an infraction loaded through the API names)."""
        doc = await self.collection.find_one({"jti": jti})
        return TokenRecord.from_doc(doc) if doc else None

    async def list_for_officer(self, oficial_id: str | ObjectId, *, limit: int = 100) -> list[TokenRecord]:
        cursor = self.collection.find(
            {"oficial_id": object_id(oficial_id, "oficial")}, sort=[("creado_en", DESCENDING)], limit=limit
        )
        return [TokenRecord.from_doc(doc) async for doc in cursor]
