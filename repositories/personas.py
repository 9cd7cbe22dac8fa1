"""The ``personas`` collection: owners of vehicles, looked up by e-mail for the public report.

Invariants kept here:
- ``correo`` is unique in its one normalised form (``domain.rules.normalize_email``);
- ``n_vehiculos`` is exactly the number of vehicles in her name: vehicle writes change it through
  ``take_vehicle`` / ``release_vehicle`` in the same transaction as the vehicle, so deleting her is
  one atomic ``delete_one({_id, n_vehiculos: 0})``;
- ``PENDING_FIELD`` lists vehicles transferred away from her while one of their infractions (which
  names her as the owner at the time) was still being written: she cannot be deleted until they settle."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from domain import audit, rules
from domain.clock import Clock
from domain.errors import InvalidValue, MissingReference, NotFound, StillReferenced
from repositories import vehiculos as vehiculos_module
from repositories.auditoria import AuditLog
from repositories.base import Page, contains, find_or_raise, in_transaction, insert_unique, object_id, page_bounds, raise_conflict

if TYPE_CHECKING:
    from repositories.infracciones import InfraccionRepository
    from repositories.vehiculos import VehiculoRepository

COLLECTION = "personas"
VEHICLE_COUNTER = "n_vehiculos"
PENDING_FIELD = "vehiculos_con_infracciones_en_curso"
INDEXES = [IndexModel([("correo", ASCENDING)], unique=True, name="correo_unique")]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["nombre", "correo", VEHICLE_COUNTER],
        "properties": {
            "nombre": {"bsonType": "string", "minLength": 1, "maxLength": rules.NOMBRE_MAX},
            "correo": {"bsonType": "string", "minLength": 3, "maxLength": rules.CORREO_MAX},
            VEHICLE_COUNTER: {"bsonType": ["int", "long"], "minimum": 0},
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
        return cls(str(doc["_id"]), doc["nombre"], doc["correo"], doc.get(VEHICLE_COUNTER, 0))


def _fields(nombre: str, correo: str) -> dict[str, Any]:
    return {
        "nombre": rules.text_or_raise(nombre, field="nombre", maximum=rules.NOMBRE_MAX),
        "correo": rules.normalize_email(correo),
    }


def new_document(*, nombre: str, correo: str, now: dt.datetime) -> dict[str, Any]:
    """A new persona as stored: the one shape written by create() and by the bulk loader."""
    return {**_fields(nombre, correo), VEHICLE_COUNTER: 0, "creado_en": now}


def vehicles_added(counts: Mapping[ObjectId, int]) -> list[UpdateOne]:
    """The counter updates for ``counts`` new vehicles per owner (the bulk loader's writes)."""
    return [UpdateOne({"_id": oid}, {"$inc": {VEHICLE_COUNTER: n}}) for oid, n in counts.items()]


class PersonaRepository:
    def __init__(self, db: AsyncDatabase, clock: Clock, audit: AuditLog) -> None:
        self._db = db
        self.collection = db[COLLECTION]
        self._clock = clock
        self._audit = audit
        self._vehiculos: VehiculoRepository | None = None
        self._infracciones: InfraccionRepository | None = None

    def connect(self, *, vehiculos: VehiculoRepository, infracciones: InfraccionRepository) -> None:
        """The records that point at a persona, which her delete guard looks at."""
        self._vehiculos = vehiculos
        self._infracciones = infracciones

    async def create(self, *, nombre: str, correo: str) -> Persona:
        doc = new_document(nombre=nombre, correo=correo, now=rules.to_millisecond(self._clock.now()))

        async def write(session: AsyncClientSession) -> dict[str, Any]:
            doc.pop("_id", None)  # a retried transaction inserts afresh
            await insert_unique(self.collection, doc, DUPLICATE_MESSAGES, session=session)
            await self._audit.record(session, accion=audit.CREAR, coleccion=COLLECTION, documento_id=doc["_id"], despues=doc)
            return doc

        return Persona.from_doc(await in_transaction(self._db, write))

    async def get(self, persona_id: str | ObjectId) -> Persona:
        query = {"_id": object_id(persona_id, "persona")}
        return Persona.from_doc(await find_or_raise(self.collection, query, f"No existe la persona {persona_id}."))

    async def get_many(self, persona_ids: list[str]) -> dict[str, Persona]:
        """The personas with these ids, by id (one query, for a page of vehicles)."""
        ids = [object_id(persona_id, "persona") for persona_id in set(persona_ids)]
        return {str(doc["_id"]): Persona.from_doc(doc) async for doc in self.collection.find({"_id": {"$in": ids}})}

    async def get_by_email(self, correo: str) -> Persona:
        normalized = rules.normalize_email(correo)
        message = f"No existe una persona con el correo {normalized}."
        doc = await find_or_raise(self.collection, {"correo": normalized}, message, field="correo")
        return Persona.from_doc(doc)

    async def find_by_email(self, correo: str) -> Persona | None:
        """The persona with this e-mail, or None (also for a malformed one)."""
        try:
            normalized = rules.normalize_email(correo)
        except InvalidValue:
            return None
        doc = await self.collection.find_one({"correo": normalized})
        return Persona.from_doc(doc) if doc else None

    async def with_vehicles(self, correo: str) -> dict[str, Any] | None:
        """The vehicles (ids, makes and colours) of the persona with this normalised e-mail, in one
        command, as ``{"vehiculos": [...]}``; None when no persona has it."""
        pipeline = [
            {"$match": {"correo": correo}},
            {"$limit": 1},
            {
                "$lookup": {
                    "from": vehiculos_module.COLLECTION,
                    "localField": "_id",
                    "foreignField": "persona_id",
                    "as": "vehiculos",
                }
            },
            {"$project": {"_id": 0, "vehiculos._id": 1, "vehiculos.marca": 1, "vehiculos.color": 1}},
        ]
        found = await (await self.collection.aggregate(pipeline)).to_list(1)
        return found[0] if found else None

    async def update(self, persona_id: str, *, nombre: str, correo: str) -> Persona:
        oid = object_id(persona_id, "persona")
        fields = _fields(nombre, correo)

        async def write(session: AsyncClientSession) -> dict[str, Any]:
            before = await self.collection.find_one_and_update({"_id": oid}, {"$set": fields}, session=session)
            if before is None:
                raise NotFound(f"No existe la persona {persona_id}.")
            after = {**before, **fields}
            if after != before:
                await self._audit.record(session, accion=audit.EDITAR, coleccion=COLLECTION, documento_id=oid, antes=before, despues=after)
            return after

        try:
            return Persona.from_doc(await in_transaction(self._db, write))
        except DuplicateKeyError as error:
            raise_conflict(error, DUPLICATE_MESSAGES)

    # -- the vehicle counter, written in the vehicle's transaction -----------------------------------
    async def take_vehicle(self, persona_id: ObjectId, session: AsyncClientSession) -> None:
        result = await self.collection.update_one({"_id": persona_id}, {"$inc": {VEHICLE_COUNTER: 1}}, session=session)
        if result.matched_count == 0:
            raise MissingReference("La persona propietaria no existe.", field="persona")

    async def release_vehicle(
        self, persona_id: ObjectId, vehiculo_id: ObjectId, *, infraction_in_flight: bool, session: AsyncClientSession
    ) -> None:
        release: dict[str, Any] = {"$inc": {VEHICLE_COUNTER: -1}}
        if infraction_in_flight:
            # An infraction naming her as the owner may still land: keep her from being deleted.
            release["$addToSet"] = {PENDING_FIELD: vehiculo_id}
        await self.collection.update_one({"_id": persona_id}, release, session=session)

    # -- delete ----------------------------------------------------------------------------------
    async def delete(self, persona_id: str) -> None:
        """Delete a persona who owns no vehicle and is named in no infraction.

        The vehicle check is the document's own counter, so "check and delete" is one atomic
        operation: a vehicle created concurrently either increments the counter first (and this
        delete matches nothing) or finds the persona gone (and is refused). Infractions name the
        owner at the time; one still being written when its vehicle was transferred away is
        covered by PENDING_FIELD (see VehiculoRepository.update)."""
        assert self._vehiculos is not None and self._infracciones is not None, "connect() the repository first"
        oid = object_id(persona_id, "persona")
        await self._settle_transferred_vehicles(oid)
        if await self._infracciones.names_owner(oid):
            raise StillReferenced("No se puede borrar: la persona figura como propietaria en infracciones registradas.")
        if await in_transaction(self._db, lambda session: self._delete_if_free(oid, session)):
            return
        persona = await self.get(oid)  # raises NotFound when it was not there at all
        placas = await self._vehiculos.plates_of(oid)
        raise StillReferenced(
            f"No se puede borrar a {persona.nombre}: todavía es propietaria de "
            f"{len(placas)} vehículo(s): {', '.join(placas)}.",
            references=placas,
        )

    async def _delete_if_free(self, oid: ObjectId, session: AsyncClientSession) -> bool:
        """One atomic check and delete (with its audit entry); False when she still owns something."""
        free = {"_id": oid, VEHICLE_COUNTER: 0, PENDING_FIELD: {"$in": [None, []]}}
        deleted = await self.collection.find_one_and_delete(free, session=session)
        if deleted is None:
            return False
        await self._audit.record(session, accion=audit.BORRAR, coleccion=COLLECTION, documento_id=oid, antes=deleted)
        return True

    async def _settle_transferred_vehicles(self, oid: ObjectId) -> None:
        assert self._vehiculos is not None
        doc = await self.collection.find_one({"_id": oid}, {PENDING_FIELD: 1})
        pending = (doc or {}).get(PENDING_FIELD) or []
        if not pending:
            return
        settled = await self._vehiculos.settled(pending)
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
