"""The ``vehiculos`` collection.

Invariants kept here:
- ``placa_patente`` is unique in its normalised form (``domain.rules.plate_or_raise``);
- a vehicle always points at an existing persona: every write that touches an owner runs in a
  transaction with the owner's counter (``PersonaRepository.take_vehicle`` / ``release_vehicle``);
- ``n_infracciones`` is never lower than the infractions that name the vehicle: it is incremented
  (``count_infraction``) before an infraction is written and given back only when the write
  certainly did not happen, so a vehicle with infractions is never deleted."""

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
from domain.errors import NotFound, StillReferenced
from repositories.auditoria import AuditLog
from repositories.base import Page, contains, find_or_raise, in_transaction, object_id, page_bounds, raise_conflict

if TYPE_CHECKING:
    from repositories.infracciones import InfraccionRepository
    from repositories.personas import PersonaRepository

COLLECTION = "vehiculos"
INFRACTION_COUNTER = "n_infracciones"
INDEXES = [
    IndexModel([("placa_patente", ASCENDING)], unique=True, name="placa_unique"),
    IndexModel([("persona_id", ASCENDING), ("placa_patente", ASCENDING)], name="persona_placa"),
]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["placa_patente", "marca", "color", "persona_id", INFRACTION_COUNTER],
        "properties": {
            "placa_patente": {"bsonType": "string", "pattern": rules.PLATE_PATTERN},
            "marca": {"bsonType": "string", "minLength": 1, "maxLength": rules.MARCA_MAX},
            "color": {"bsonType": "string", "minLength": 1, "maxLength": rules.COLOR_MAX},
            "persona_id": {"bsonType": "objectId"},
            INFRACTION_COUNTER: {"bsonType": ["int", "long"], "minimum": 0},
        },
    }
}
DUPLICATE_MESSAGES = {"placa_patente": "Ya existe un vehículo con esa placa patente."}


def _fields(placa_patente: str, marca: str, color: str, persona_id: ObjectId) -> dict[str, Any]:
    return {
        "placa_patente": rules.plate_or_raise(placa_patente),
        "marca": rules.text_or_raise(marca, field="marca", maximum=rules.MARCA_MAX),
        "color": rules.text_or_raise(color, field="color", maximum=rules.COLOR_MAX),
        "persona_id": persona_id,
    }


def new_document(*, placa_patente: str, marca: str, color: str, persona_id: ObjectId, now: dt.datetime) -> dict[str, Any]:
    """A new vehicle as stored: the one shape written by create() and by the bulk loader."""
    return {**_fields(placa_patente, marca, color, persona_id), INFRACTION_COUNTER: 0, "creado_en": now}


def infractions_added(counts: Mapping[ObjectId, int]) -> list[UpdateOne]:
    """The counter updates for ``counts`` new infractions per vehicle (the bulk loader's writes)."""
    return [UpdateOne({"_id": oid}, {"$inc": {INFRACTION_COUNTER: n}}) for oid, n in counts.items()]


@dataclasses.dataclass(frozen=True)
class Vehiculo:
    id: str
    placa_patente: str
    marca: str
    color: str
    persona_id: str
    n_infracciones: int = 0

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Vehiculo:
        return cls(
            str(doc["_id"]),
            doc["placa_patente"],
            doc["marca"],
            doc["color"],
            str(doc["persona_id"]),
            doc.get(INFRACTION_COUNTER, 0),
        )


class VehiculoRepository:
    def __init__(self, db: AsyncDatabase, clock: Clock, audit: AuditLog, *, personas: PersonaRepository) -> None:
        self._db = db
        self._clock = clock
        self._audit = audit
        self.collection = db[COLLECTION]
        self._personas = personas
        self._infracciones: InfraccionRepository | None = None

    def connect(self, *, infracciones: InfraccionRepository) -> None:
        """The infractions that point at a vehicle, which a transfer looks at."""
        self._infracciones = infracciones

    async def create(self, *, placa_patente: str, marca: str, color: str, persona_id: str) -> Vehiculo:
        owner = object_id(persona_id, "persona")
        now = rules.to_millisecond(self._clock.now())
        doc = new_document(placa_patente=placa_patente, marca=marca, color=color, persona_id=owner, now=now)

        async def write(session: AsyncClientSession) -> None:
            doc.pop("_id", None)  # a retried transaction inserts afresh
            await self._personas.take_vehicle(owner, session)
            await self.collection.insert_one(doc, session=session)
            await self._audit.record(session, accion=audit.CREAR, coleccion=COLLECTION, documento_id=doc["_id"], despues=doc)

        try:
            await in_transaction(self._db, write)
        except DuplicateKeyError as error:
            raise_conflict(error, DUPLICATE_MESSAGES)
        return Vehiculo.from_doc(doc)

    async def get(self, vehiculo_id: str | ObjectId) -> Vehiculo:
        query = {"_id": object_id(vehiculo_id, "vehículo")}
        return Vehiculo.from_doc(await find_or_raise(self.collection, query, f"No existe el vehículo {vehiculo_id}."))

    async def update(self, vehiculo_id: str, *, placa_patente: str, marca: str, color: str, persona_id: str) -> Vehiculo:
        oid = object_id(vehiculo_id, "vehículo")
        new_owner = object_id(persona_id, "persona")
        changes = _fields(placa_patente, marca, color, new_owner)

        async def write(session: AsyncClientSession) -> dict[str, Any]:
            current = await self.collection.find_one({"_id": oid}, session=session)
            if current is None:
                raise NotFound(f"No existe el vehículo {vehiculo_id}.")
            if current["persona_id"] != new_owner:
                await self._personas.take_vehicle(new_owner, session)
                in_flight = await self._infractions_in_flight(current, session)
                await self._personas.release_vehicle(current["persona_id"], oid, infraction_in_flight=in_flight, session=session)
            await self.collection.update_one({"_id": oid}, {"$set": changes}, session=session)
            after = {**current, **changes}
            if after != current:
                await self._audit.record(session, accion=audit.EDITAR, coleccion=COLLECTION, documento_id=oid, antes=current, despues=after)
            return after

        try:
            return Vehiculo.from_doc(await in_transaction(self._db, write))
        except DuplicateKeyError as error:
            raise_conflict(error, DUPLICATE_MESSAGES)

    async def _infractions_in_flight(self, vehiculo: dict[str, Any], session: AsyncClientSession | None = None) -> bool:
        """Whether infractions of this vehicle were announced (its counter was incremented by
        ``count_infraction``) but are not all written yet. In a transaction, a concurrent increment
        conflicts with the transaction's own write of the vehicle, so the answer holds."""
        assert self._infracciones is not None, "connect() the repository first"
        if not vehiculo.get(INFRACTION_COUNTER):
            return False
        written = await self._infracciones.count_for_vehicle(vehiculo["_id"], session=session)
        return written < vehiculo[INFRACTION_COUNTER]

    async def settled(self, vehiculo_ids: list[ObjectId]) -> list[ObjectId]:
        """Those of ``vehiculo_ids`` with no infraction still in flight (or that no longer exist)."""
        done = []
        for oid in vehiculo_ids:
            vehiculo = await self.collection.find_one({"_id": oid}, {INFRACTION_COUNTER: 1})
            if vehiculo is None or not await self._infractions_in_flight(vehiculo):
                done.append(oid)
        return done

    async def delete(self, vehiculo_id: str) -> None:
        """Delete a vehicle with no infractions (they are legal records) and release its owner."""
        oid = object_id(vehiculo_id, "vehículo")

        async def write(session: AsyncClientSession) -> None:
            doc = await self.collection.find_one_and_delete({"_id": oid, INFRACTION_COUNTER: 0}, session=session)
            if doc is None:
                current = await self.collection.find_one({"_id": oid}, session=session)
                if current is None:
                    raise NotFound(f"No existe el vehículo {vehiculo_id}.")
                raise StillReferenced(
                    f"No se puede borrar el vehículo {current['placa_patente']}: tiene "
                    f"{current[INFRACTION_COUNTER]} infracción(es) registrada(s), que son registros legales."
                )
            await self._personas.release_vehicle(doc["persona_id"], oid, infraction_in_flight=False, session=session)
            await self._audit.record(session, accion=audit.BORRAR, coleccion=COLLECTION, documento_id=oid, antes=doc)

        await in_transaction(self._db, write)

    # -- the infraction counter, written before an infraction ------------------------------------
    async def count_infraction(self, placa_patente: str, *, session: AsyncClientSession | None = None) -> dict[str, Any] | None:
        """Announce an infraction of the vehicle with this plate; its make, colour and owner, or None."""
        return await self.collection.find_one_and_update(
            {"placa_patente": placa_patente},
            {"$inc": {INFRACTION_COUNTER: 1}},
            projection={"marca": 1, "color": 1, "persona_id": 1},
            session=session,
        )

    async def give_back_infraction(self, vehiculo_id: ObjectId) -> None:
        """Undo ``count_infraction`` for an infraction that was certainly not written."""
        await self.collection.update_one({"_id": vehiculo_id}, {"$inc": {INFRACTION_COUNTER: -1}})

    # -- reads -------------------------------------------------------------------------------------
    async def list_by_persona(self, persona_id: str | ObjectId) -> list[Vehiculo]:
        cursor = self.collection.find({"persona_id": object_id(persona_id, "persona")}, sort=[("placa_patente", ASCENDING)])
        return [Vehiculo.from_doc(doc) async for doc in cursor]

    async def plates_of(self, persona_id: ObjectId) -> list[str]:
        cursor = self.collection.find({"persona_id": persona_id}, {"placa_patente": 1}, sort=[("placa_patente", ASCENDING)])
        return [doc["placa_patente"] async for doc in cursor]

    async def search(self, *, q: str = "", page: int = 1, per_page: int = 20) -> Page[Vehiculo]:
        query: dict[str, Any] = {}
        text = q.strip()
        if text:
            query = {
                "$or": [
                    {"placa_patente": contains(rules.normalize_plate(text) or text)},
                    {"marca": contains(text)},
                    {"color": contains(text)},
                ]
            }
        skip, limit = page_bounds(page, per_page)
        total = await self.collection.count_documents(query)
        cursor = self.collection.find(query, sort=[("placa_patente", ASCENDING)], skip=skip, limit=limit)
        return Page([Vehiculo.from_doc(doc) async for doc in cursor], total, max(1, page), per_page)

    async def count(self) -> int:
        return await self.collection.estimated_document_count()
