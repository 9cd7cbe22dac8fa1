"""The ``infracciones`` collection: legal records, written once and never deleted.

Recording one takes three commands and no transaction:
1. ``OficialRepository.count_infraction``: the officer is matched on (número, active, live token
   ``jti``) and its counter incremented: the token check and the officer's delete guard in one write;
2. ``VehiculoRepository.count_infraction``: the vehicle is matched on its plate and its counter
   incremented (its delete guard);
3. the infraction is inserted with write concern majority (set on the client).
A counter is only given back when the insert certainly did not happen, so counters can run high
(refusing a delete that would have been safe) but never low (allowing a dangling reference)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from domain import rules
from domain.clock import Clock
from domain.errors import Conflict, CredentialNotLive, NotFound
from repositories.base import duplicate_field
from repositories.oficiales import OficialRepository
from repositories.personas import PersonaRepository
from repositories.vehiculos import VehiculoRepository

COLLECTION = "infracciones"
INDEXES = [
    IndexModel([("vehiculo_id", ASCENDING), ("timestamp", DESCENDING), ("_id", DESCENDING)], name="vehiculo_timestamp"),
    IndexModel(
        [("oficial_id", ASCENDING), ("placa_patente", ASCENDING), ("timestamp", ASCENDING)],
        unique=True,
        name="same_observation_unique",
    ),
    IndexModel(
        [("clave_idempotencia", ASCENDING)],
        unique=True,
        partialFilterExpression={"clave_idempotencia": {"$exists": True}},
        name="idempotencia_unique",
    ),
    IndexModel([("persona_id", ASCENDING)], name="persona"),
    IndexModel([("registrada_en", DESCENDING)], name="registrada_en"),
]
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": [
            "vehiculo_id", "placa_patente", "persona_id", "oficial_id", "timestamp", "comentarios", "registrada_en",
        ],
        "properties": {
            "vehiculo_id": {"bsonType": "objectId"},
            "placa_patente": {"bsonType": "string", "pattern": rules.PLATE_PATTERN},
            "persona_id": {"bsonType": "objectId"},
            "oficial_id": {"bsonType": "objectId"},
            "timestamp": {"bsonType": "date"},
            "comentarios": {"bsonType": "string", "maxLength": rules.COMENTARIOS_MAX},
            "registrada_en": {"bsonType": "date"},
        },
    }
}


def new_document(
    *,
    vehiculo: dict[str, Any],
    oficial: dict[str, Any],
    placa_patente: str,
    timestamp: dt.datetime,
    comentarios: str,
    now: dt.datetime,
) -> dict[str, Any]:
    """An infraction as stored, from its vehicle and officer documents: the one shape written by
    record() and by the bulk loader. Owner, vehicle and officer are captured as they are now."""
    return {
        "vehiculo_id": vehiculo["_id"],
        "placa_patente": placa_patente,
        "persona_id": vehiculo["persona_id"],
        "vehiculo": {"marca": vehiculo["marca"], "color": vehiculo["color"]},
        "oficial_id": oficial["_id"],
        "oficial": {"numero": oficial["numero"], "nombre": oficial["nombre"]},
        "timestamp": timestamp,
        "comentarios": comentarios,
        "registrada_en": now,
    }


@dataclasses.dataclass(frozen=True)
class Infraccion:
    id: str
    placa_patente: str
    timestamp: dt.datetime
    comentarios: str
    registrada_en: dt.datetime
    marca: str
    color: str
    oficial_numero: int
    oficial_nombre: str

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Infraccion:
        vehiculo = doc.get("vehiculo", {})
        oficial = doc.get("oficial", {})
        return cls(
            str(doc["_id"]),
            doc["placa_patente"],
            doc["timestamp"],
            doc["comentarios"],
            doc["registrada_en"],
            vehiculo.get("marca", ""),
            vehiculo.get("color", ""),
            oficial.get("numero", 0),
            oficial.get("nombre", ""),
        )


@dataclasses.dataclass(frozen=True)
class Report:
    total: int
    infracciones: list[Infraccion]


class InfraccionRepository:
    def __init__(
        self, db: AsyncDatabase, clock: Clock, *, oficiales: OficialRepository, vehiculos: VehiculoRepository,
        personas: PersonaRepository,
    ) -> None:
        self.collection = db[COLLECTION]
        self._clock = clock
        self._oficiales = oficiales
        self._vehiculos = vehiculos
        self._personas = personas

    async def record(
        self,
        *,
        numero_oficial: int,
        jti: str,
        placa_patente: str,
        timestamp: dt.datetime,
        comentarios: str,
        clave_idempotencia: str | None = None,
    ) -> tuple[Infraccion, bool]:
        """Record an infraction; returns it and whether it was created (False: a retry of one
        already recorded). Raises CredentialNotLive, NotFound (plate) or Conflict (key reused)."""
        oficial = await self._oficiales.count_infraction(numero=numero_oficial, jti=jti)
        if oficial is None:
            raise CredentialNotLive()
        vehiculo = await self._vehiculos.count_infraction(placa_patente)
        if vehiculo is None:
            await self._oficiales.give_back_infraction(oficial["_id"])
            raise NotFound(f"No existe un vehículo con la placa patente {placa_patente}.", field="placa_patente")

        doc = new_document(
            vehiculo=vehiculo,
            oficial=oficial,
            placa_patente=placa_patente,
            timestamp=timestamp,
            comentarios=comentarios,
            now=rules.to_millisecond(self._clock.now()),
        )
        if clave_idempotencia is not None:
            doc["clave_idempotencia"] = f"{oficial['_id']}:{clave_idempotencia}"
        try:
            await self.collection.insert_one(doc)
        except DuplicateKeyError as error:
            # A retry: nothing new was written, so give both counters back and answer with the original.
            await self._give_back(oficial_id=oficial["_id"], vehiculo_id=vehiculo["_id"])
            return await self._original(error, doc), False
        return Infraccion.from_doc(doc), True

    async def _give_back(self, *, oficial_id: ObjectId, vehiculo_id: ObjectId) -> None:
        await self._oficiales.give_back_infraction(oficial_id)
        await self._vehiculos.give_back_infraction(vehiculo_id)

    async def _original(self, error: DuplicateKeyError, attempted: dict[str, Any]) -> Infraccion:
        if duplicate_field(error) == "clave_idempotencia":
            original = await self.collection.find_one({"clave_idempotencia": attempted["clave_idempotencia"]})
            same = original is not None and all(
                original[k] == attempted[k] for k in ("placa_patente", "timestamp", "comentarios")
            )
            if not same:
                raise Conflict(
                    "La clave de idempotencia ya se usó para otra infracción con datos distintos.",
                    field="clave_idempotencia",
                ) from error
        else:
            original = await self.collection.find_one(
                {k: attempted[k] for k in ("oficial_id", "placa_patente", "timestamp")}
            )
        if original is None:  # pragma: no cover - the unique index just said it exists
            raise error
        return Infraccion.from_doc(original)

    async def report(self, *, correo: str, limit: int, offset: int) -> Report:
        """Infractions of every vehicle currently in the persona's name, newest first, in two
        commands. An address nobody has gets the same answer as a persona without vehicles."""
        persona = await self._personas.with_vehicles(rules.normalize_email(correo))
        vehiculos = {v["_id"]: v for v in persona["vehiculos"]} if persona else {}
        if not vehiculos:
            return Report(0, [])
        faceted = await (
            await self.collection.aggregate(
                [
                    {"$match": {"vehiculo_id": {"$in": list(vehiculos)}}},
                    {"$sort": {"timestamp": -1, "_id": -1}},
                    {
                        "$facet": {
                            "total": [{"$count": "n"}],
                            "items": [{"$skip": offset}, {"$limit": limit}],
                        }
                    },
                ]
            )
        ).to_list(1)
        total = faceted[0]["total"][0]["n"] if faceted and faceted[0]["total"] else 0
        items = []
        for doc in faceted[0]["items"] if faceted else []:
            current = vehiculos[doc["vehiculo_id"]]  # the report shows the vehicle as it is now
            doc["vehiculo"] = {"marca": current["marca"], "color": current["color"]}
            items.append(Infraccion.from_doc(doc))
        return Report(total, items)

    async def latest(self, *, limit: int = 10) -> list[Infraccion]:
        cursor = self.collection.find({}, sort=[("registrada_en", DESCENDING)], limit=limit)
        return [Infraccion.from_doc(doc) async for doc in cursor]

    async def count_since(self, since: dt.datetime) -> int:
        return await self.collection.count_documents({"registrada_en": {"$gte": since}})

    async def count(self) -> int:
        return await self.collection.estimated_document_count()

    async def count_for_vehicle(self, vehiculo_id: ObjectId, *, session: AsyncClientSession | None = None) -> int:
        return await self.collection.count_documents({"vehiculo_id": vehiculo_id}, session=session)

    async def names_owner(self, persona_id: ObjectId) -> bool:
        """Whether some infraction names this persona as the vehicle's owner at the time."""
        return bool(await self.collection.count_documents({"persona_id": persona_id}, limit=1))
