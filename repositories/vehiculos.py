"""The ``vehiculos`` collection. Every write that touches an owner runs in a transaction with the
owner's ``n_vehiculos`` counter, so a vehicle can never point at a persona that is gone."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from repositories.base import Page, contains, find_or_raise, object_id, page_bounds, raise_conflict
from repositories.errors import MissingReference, NotFound, StillReferenced

COLLECTION = "vehiculos"
INDEXES = [
    IndexModel([("placa_patente", ASCENDING)], unique=True, name="placa_unique"),
    IndexModel([("persona_id", ASCENDING), ("placa_patente", ASCENDING)], name="persona_placa"),
]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": ["placa_patente", "marca", "color", "persona_id", "n_infracciones"],
        "properties": {
            "placa_patente": {"bsonType": "string", "pattern": "^[A-Z0-9]{5,8}$"},
            "marca": {"bsonType": "string", "minLength": 1, "maxLength": 60},
            "color": {"bsonType": "string", "minLength": 1, "maxLength": 40},
            "persona_id": {"bsonType": "objectId"},
            "n_infracciones": {"bsonType": ["int", "long"], "minimum": 0},
        },
    }
}
DUPLICATE_MESSAGES = {"placa_patente": "Ya existe un vehículo con esa placa patente."}
# On a persona: vehicles transferred away from her while one of their infractions (which names
# her as the owner at the time) was still being written. She cannot be deleted until they settle.
PENDING_FIELD = "vehiculos_con_infracciones_en_curso"

PLATE_PATTERN = re.compile(r"^[A-Z0-9]{5,8}$")
_PLATE_SEPARATORS = re.compile(r"[\s\-·.]+")


def normalize_plate(raw: str) -> str:
    """'ab-cd 12' -> 'ABCD12': plates are stored upper-case without spaces, dashes or dots."""
    return _PLATE_SEPARATORS.sub("", raw).upper()


def is_valid_plate(plate: str) -> bool:
    """A normalised plate has 5 to 8 ASCII letters or digits (Chile: BBBB10; Argentina: AB123CD)."""
    return bool(PLATE_PATTERN.match(plate))


def new_document(*, placa_patente: str, marca: str, color: str, persona_id: ObjectId, now: dt.datetime) -> dict[str, Any]:
    """A new vehicle as stored: the one shape written by create() and by the bulk loader."""
    return {
        "placa_patente": normalize_plate(placa_patente),
        "marca": marca.strip(),
        "color": color.strip(),
        "persona_id": persona_id,
        "n_infracciones": 0,
        "creado_en": now,
    }


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
            doc.get("n_infracciones", 0),
        )


class VehiculoRepository:
    def __init__(self, db: AsyncDatabase) -> None:
        self._db = db
        self.collection = db[COLLECTION]
        self._personas = db["personas"]

    async def _in_transaction(self, callback):
        async with self._db.client.start_session() as session:
            return await session.with_transaction(callback)

    async def _take_owner(self, persona_id: ObjectId, session: AsyncClientSession) -> None:
        result = await self._personas.update_one(
            {"_id": persona_id}, {"$inc": {"n_vehiculos": 1}}, session=session
        )
        if result.matched_count == 0:
            raise MissingReference("La persona propietaria no existe.", field="persona")

    async def create(self, *, placa_patente: str, marca: str, color: str, persona_id: str) -> Vehiculo:
        owner = object_id(persona_id, "persona")
        doc = new_document(
            placa_patente=placa_patente, marca=marca, color=color, persona_id=owner, now=dt.datetime.now(dt.timezone.utc)
        )

        async def write(session: AsyncClientSession) -> None:
            doc.pop("_id", None)  # a retried transaction inserts afresh
            await self._take_owner(owner, session)
            await self.collection.insert_one(doc, session=session)

        try:
            await self._in_transaction(write)
        except DuplicateKeyError as error:
            raise_conflict(error, DUPLICATE_MESSAGES)
        return Vehiculo.from_doc(doc)

    async def get(self, vehiculo_id: str | ObjectId) -> Vehiculo:
        query = {"_id": object_id(vehiculo_id, "vehículo")}
        return Vehiculo.from_doc(await find_or_raise(self.collection, query, f"No existe el vehículo {vehiculo_id}."))

    async def update(
        self, vehiculo_id: str, *, placa_patente: str, marca: str, color: str, persona_id: str
    ) -> Vehiculo:
        oid = object_id(vehiculo_id, "vehículo")
        new_owner = object_id(persona_id, "persona")
        changes = {
            "placa_patente": normalize_plate(placa_patente),
            "marca": marca.strip(),
            "color": color.strip(),
            "persona_id": new_owner,
        }

        async def write(session: AsyncClientSession) -> dict[str, Any]:
            current = await self.collection.find_one({"_id": oid}, session=session)
            if current is None:
                raise NotFound(f"No existe el vehículo {vehiculo_id}.")
            if current["persona_id"] != new_owner:
                await self._take_owner(new_owner, session)
                release: dict[str, Any] = {"$inc": {"n_vehiculos": -1}}
                if await self._infractions_in_flight(current, session):
                    # An infraction naming the old owner may still land: keep her from being deleted.
                    release["$addToSet"] = {PENDING_FIELD: oid}
                await self._personas.update_one({"_id": current["persona_id"]}, release, session=session)
            await self.collection.update_one({"_id": oid}, {"$set": changes}, session=session)
            return {**current, **changes}

        try:
            return Vehiculo.from_doc(await self._in_transaction(write))
        except DuplicateKeyError as error:
            raise_conflict(error, DUPLICATE_MESSAGES)

    async def _infractions_in_flight(self, vehiculo: dict[str, Any], session: AsyncClientSession | None = None) -> bool:
        """Whether infractions of this vehicle were announced (its counter was incremented by
        InfraccionRepository.record) but are not all written yet. In a transaction, a concurrent
        increment conflicts with the transaction's own write of the vehicle, so the answer holds."""
        if not vehiculo.get("n_infracciones"):
            return False
        written = await self._db["infracciones"].count_documents({"vehiculo_id": vehiculo["_id"]}, session=session)
        return written < vehiculo["n_infracciones"]

    async def settled(self, vehiculo_ids: list[ObjectId]) -> list[ObjectId]:
        """Those of ``vehiculo_ids`` with no infraction still in flight (or that no longer exist)."""
        done = []
        for oid in vehiculo_ids:
            vehiculo = await self.collection.find_one({"_id": oid}, {"n_infracciones": 1})
            if vehiculo is None or not await self._infractions_in_flight(vehiculo):
                done.append(oid)
        return done

    async def delete(self, vehiculo_id: str) -> None:
        """Delete a vehicle with no infractions (they are legal records) and release its owner."""
        oid = object_id(vehiculo_id, "vehículo")

        async def write(session: AsyncClientSession) -> None:
            doc = await self.collection.find_one_and_delete({"_id": oid, "n_infracciones": 0}, session=session)
            if doc is None:
                current = await self.collection.find_one({"_id": oid}, session=session)
                if current is None:
                    raise NotFound(f"No existe el vehículo {vehiculo_id}.")
                raise StillReferenced(
                    f"No se puede borrar el vehículo {current['placa_patente']}: tiene "
                    f"{current['n_infracciones']} infracción(es) registrada(s), que son registros legales."
                )
            await self._personas.update_one(
                {"_id": doc["persona_id"]}, {"$inc": {"n_vehiculos": -1}}, session=session
            )

        await self._in_transaction(write)

    async def list_by_persona(self, persona_id: str | ObjectId) -> list[Vehiculo]:
        cursor = self.collection.find(
            {"persona_id": object_id(persona_id, "persona")}, sort=[("placa_patente", ASCENDING)]
        )
        return [Vehiculo.from_doc(doc) async for doc in cursor]

    async def search(self, *, q: str = "", page: int = 1, per_page: int = 20) -> Page[Vehiculo]:
        query: dict[str, Any] = {}
        text = q.strip()
        if text:
            query = {
                "$or": [
                    {"placa_patente": contains(normalize_plate(text) or text)},
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
