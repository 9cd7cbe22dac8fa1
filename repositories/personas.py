"""The ``personas`` collection: owners of vehicles, looked up by e-mail for the public report."""

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
from repositories.vehiculos import PENDING_FIELD, VehiculoRepository

COLLECTION = "personas"
INDEXES = [IndexModel([("correo", ASCENDING)], unique=True, name="correo_unique")]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["nombre", "correo", "n_vehiculos"],
        "properties": {
            "nombre": {"bsonType": "string", "minLength": 1, "maxLength": 120},
            "correo": {"bsonType": "string", "minLength": 3, "maxLength": 254},
            "n_vehiculos": {"bsonType": ["int", "long"], "minimum": 0},
        },
    }
}
DUPLICATE_MESSAGES = {"correo": "Ya existe una persona con ese correo electrónico."}


@dataclasses.dataclass(frozen=True)
class Persona:
    id: str
    nombre: str
    correo: str
    n_vehiculos: int = 0

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Persona:
        return cls(str(doc["_id"]), doc["nombre"], doc["correo"], doc.get("n_vehiculos", 0))


def normalize_email(correo: str) -> str:
    return correo.strip().lower()


def new_document(*, nombre: str, correo: str, now: dt.datetime) -> dict[str, Any]:
    """A new persona as stored: the one shape written by create() and by the bulk loader."""
    return {"nombre": nombre.strip(), "correo": normalize_email(correo), "n_vehiculos": 0, "creado_en": now}


class PersonaRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self.collection = db[COLLECTION]
        self._db = db

    async def create(self, *, nombre: str, correo: str) -> Persona:
        doc = new_document(nombre=nombre, correo=correo, now=dt.datetime.now(dt.timezone.utc))
        return Persona.from_doc(await insert_unique(self.collection, doc, DUPLICATE_MESSAGES))

    async def get(self, persona_id: str | ObjectId) -> Persona:
        query = {"_id": object_id(persona_id, "persona")}
        return Persona.from_doc(await find_or_raise(self.collection, query, f"No existe la persona {persona_id}."))

    async def get_many(self, persona_ids: list[str]) -> dict[str, Persona]:
        """The personas with these ids, by id (one query, for a page of vehicles)."""
        ids = [object_id(persona_id, "persona") for persona_id in set(persona_ids)]
        return {str(doc["_id"]): Persona.from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}})}

    async def get_by_email(self, correo: str) -> Persona:
        message = f"No existe una persona con el correo {correo}."
        doc = await find_or_raise(self.collection, {"correo": normalize_email(correo)}, message, field="correo")
        return Persona.from_doc(doc)

    async def update(self, persona_id: str, *, nombre: str, correo: str) -> Persona:
        try:
            doc = await self.collection.find_one_and_update(
                {"_id": object_id(persona_id, "persona")},
                {"$set": {"nombre": nombre.strip(), "correo": normalize_email(correo)}},
                return_document=ReturnDocument.AFTER,
            )
        except DuplicateKeyError as error:
            raise_conflict(error, DUPLICATE_MESSAGES)
        if doc is None:
            raise NotFound(f"No existe la persona {persona_id}.")
        return Persona.from_doc(doc)

    async def delete(self, persona_id: str) -> None:
        """Delete a persona who owns no vehicle and is named in no infraction.

        The vehicle check is the document's own ``n_vehiculos`` counter, kept exact by the vehicle
        repository's transactions, so "check and delete" is one atomic operation: a vehicle
        created concurrently either increments the counter first (and this delete matches
        nothing) or finds the persona gone (and is refused).

        Infractions name the owner at the time. One being written while its vehicle is
        transferred away could land after this check: the transfer then records the vehicle in
        her PENDING_FIELD (see VehiculoRepository.update), which blocks the delete until it settles."""
        oid = object_id(persona_id, "persona")
        await self._settle_transferred_vehicles(oid)
        infracciones = await self._db["infracciones"].count_documents({"persona_id": oid}, limit=1)
        if infracciones:
            raise StillReferenced(
                "No se puede borrar: la persona figura como propietaria en infracciones registradas."
            )
        result = await self.collection.delete_one({"_id": oid, "n_vehiculos": 0, PENDING_FIELD: {"$in": [None, []]}})
        if result.deleted_count:
            return
        persona = await self.get(oid)  # raises NotFound when it was not there at all
        placas = [
            doc["placa_patente"]
            async for doc in self._db["vehiculos"].find(
                {"persona_id": oid}, {"placa_patente": 1}, sort=[("placa_patente", ASCENDING)]
            )
        ]
        raise StillReferenced(
            f"No se puede borrar a {persona.nombre}: todavía es propietaria de "
            f"{len(placas)} vehículo(s): {', '.join(placas)}.",
            references=placas,
        )

    async def _settle_transferred_vehicles(self, oid: ObjectId) -> None:
        doc = await self.collection.find_one({"_id": oid}, {PENDING_FIELD: 1})
        pending = (doc or {}).get(PENDING_FIELD) or []
        if not pending:
            return
        settled = await VehiculoRepository(self._db).settled(pending)
        if settled:
            await self.collection.update_one({"_id": oid}, {"$pull": {PENDING_FIELD: {"$in": settled}}})
        if len(settled) < len(pending):
            raise StillReferenced(
                "No se puede borrar todavía: se está registrando una infracción de un vehículo que le "
                "perteneció. Intente nuevamente en unos segundos."
            )

    async def search(self, *, q: str = "", page: int = 1, per_page: int = 20) -> Page[Persona]:
        query: dict[str, Any] = {}
        if q.strip():
            query = {"$or": [{"nombre": contains(q.strip())}, {"correo": contains(q.strip())}]}
        skip, limit = page_bounds(page, per_page)
        total = await self.collection.count_documents(query)
        cursor = self.collection.find(query, sort=[("nombre", ASCENDING), ("_id", ASCENDING)], skip=skip, limit=limit)
        return Page([Persona.from_doc(doc) async for doc in cursor], total, max(1, page), per_page)

    async def count(self) -> int:
        return await self.collection.estimated_document_count()
