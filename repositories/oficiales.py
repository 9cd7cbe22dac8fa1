"""The ``oficiales`` collection. An officer document also carries the ``jti`` of each of its live
tokens (``token_jtis``), so one atomic read proves "token not revoked, officer exists and is
active" and deactivating or deleting an officer kills every token at once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from repositories.base import Page, contains, find_or_raise, insert_unique, object_id, page_bounds, raise_conflict
from repositories.errors import NotFound, StillReferenced

COLLECTION = "oficiales"
INDEXES = [IndexModel([("numero", ASCENDING)], unique=True, name="numero_unique")]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["nombre", "numero", "activo", "n_infracciones", "token_jtis"],
        "properties": {
            "nombre": {"bsonType": "string", "minLength": 1, "maxLength": 120},
            "numero": {"bsonType": ["int", "long"], "minimum": 1},
            "activo": {"bsonType": "bool"},
            "n_infracciones": {"bsonType": ["int", "long"], "minimum": 0},
            "token_jtis": {"bsonType": "array", "items": {"bsonType": "string"}},
        },
    }
}
DUPLICATE_MESSAGES = {"numero": "Ya existe un oficial con ese número."}
MAX_BADGE_NUMBER = 2**53  # survives JSON clients that read numbers as doubles


def new_document(*, nombre: str, numero: int, activo: bool, now: dt.datetime) -> dict[str, Any]:
    """A new officer as stored: the one shape written by create() and by the bulk loader."""
    return {
        "nombre": nombre.strip(),
        "numero": numero,
        "activo": activo,
        "n_infracciones": 0,
        "token_jtis": [],
        "creado_en": now,
    }


@dataclasses.dataclass(frozen=True)
class Oficial:
    id: str
    nombre: str
    numero: int
    activo: bool = True
    n_infracciones: int = 0

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Oficial:
        return cls(str(doc["_id"]), doc["nombre"], doc["numero"], doc["activo"], doc.get("n_infracciones", 0))


class OficialRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db
        self.collection = db[COLLECTION]
        self._tokens = db["tokens"]

    async def create(self, *, nombre: str, numero: int, activo: bool = True) -> Oficial:
        doc = new_document(nombre=nombre, numero=numero, activo=activo, now=dt.datetime.now(dt.timezone.utc))
        return Oficial.from_doc(await insert_unique(self.collection, doc, DUPLICATE_MESSAGES))

    async def get(self, oficial_id: str | ObjectId) -> Oficial:
        query = {"_id": object_id(oficial_id, "oficial")}
        return Oficial.from_doc(await find_or_raise(self.collection, query, f"No existe el oficial {oficial_id}."))

    async def get_by_numero(self, numero: int) -> Oficial:
        message = f"No existe un oficial con el número {numero}."
        return Oficial.from_doc(await find_or_raise(self.collection, {"numero": numero}, message, field="numero"))

    async def update(self, oficial_id: str, *, nombre: str, numero: int, activo: bool) -> Oficial:
        oid = object_id(oficial_id, "oficial")
        current = await self.get(oid)
        fields = {"nombre": nombre.strip(), "numero": numero, "activo": activo}
        # Deactivation kills every token at once; so does a new número, since tokens carry the old one.
        revoke = "oficial desactivado" if not activo else "número cambiado" if numero != current.numero else None
        return await self._set(oid, fields, revoke)

    async def set_active(self, oficial_id: str, activo: bool) -> Oficial:
        """Only the flag is written, so an edit of the name made meanwhile is not overwritten."""
        oid = object_id(oficial_id, "oficial")
        return await self._set(oid, {"activo": activo}, None if activo else "oficial desactivado")

    async def _set(self, oid: ObjectId, fields: dict[str, Any], revoke: str | None) -> Oficial:
        changes = {"$set": {**fields, "token_jtis": []} if revoke else fields}
        try:
            doc = await self.collection.find_one_and_update(
                {"_id": oid}, changes, return_document=ReturnDocument.AFTER
            )
        except DuplicateKeyError as error:
            raise_conflict(error, DUPLICATE_MESSAGES)
        if doc is None:
            raise NotFound(f"No existe el oficial {oid}.")
        if revoke:
            await self._mark_tokens_revoked(oid, revoke)
        return Oficial.from_doc(doc)

    async def delete(self, oficial_id: str) -> None:
        """Delete an officer who never registered an infraction; its tokens die with it.

        ``n_infracciones`` is incremented atomically (with the token check) before an infraction is
        written, so this conditional delete can never leave an infraction without its officer."""
        oid = object_id(oficial_id, "oficial")
        result = await self.collection.delete_one({"_id": oid, "n_infracciones": 0})
        if result.deleted_count == 0:
            current = await self.get(oid)
            raise StillReferenced(
                f"No se puede borrar al oficial {current.numero}: registró {current.n_infracciones} "
                "infracción(es), que son registros legales. Puede desactivarlo en su lugar."
            )
        await self._mark_tokens_revoked(oid, "oficial borrado")

    async def _mark_tokens_revoked(self, oid: ObjectId, reason: str) -> None:
        await self._tokens.update_many(
            {"oficial_id": oid, "revocado_en": None},
            {"$set": {"revocado_en": dt.datetime.now(dt.timezone.utc), "motivo_revocacion": reason}},
        )

    async def search(self, *, q: str = "", page: int = 1, per_page: int = 20) -> Page[Oficial]:
        text = q.strip()
        query: dict[str, Any] = {}
        if text.isdigit():
            query = {"$or": [{"numero": int(text)}, {"nombre": contains(text)}]}
        elif text:
            query = {"nombre": contains(text)}
        skip, limit = page_bounds(page, per_page)
        total = await self.collection.count_documents(query)
        cursor = self.collection.find(query, sort=[("numero", ASCENDING)], skip=skip, limit=limit)
        return Page([Oficial.from_doc(doc) async for doc in cursor], total, max(1, page), per_page)

    async def count(self) -> int:
        return await self.collection.estimated_document_count()
