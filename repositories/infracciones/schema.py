"""What an infraction document is: the collection, its indexes and validator, the one builder of a
new document (used by the API, by corrections and by the bulk loader), and the record type.

The recorded facts (plate, vehicle and owner at the time, officer, time, comments) are written
once. Only the status (``estado`` and its ``historial``) and the link to a replacement
(``reemplazada_por``) change afterwards, and nothing deletes an infraction."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, NamedTuple

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel

from domain import lifecycle, rules

COLLECTION = "infracciones"
# The list's orders (newest or oldest first) are these indexes read forwards or backwards; each
# filter that narrows the list most has its own pair, so filtered pages are index seeks too.
LIST_FILTERS = {
    "placa": "placa_patente",
    "persona": "persona_id",
    "oficial": "oficial_id",
    "codigo": "infraccion.codigo",
    "estado": "estado",
    "gravedad": "infraccion.gravedad",
}
SORT_FIELDS = {"infraccion": "timestamp", "registro": "registrada_en"}
INDEXES = [
    IndexModel([("vehiculo_id", ASCENDING), ("timestamp", DESCENDING), ("_id", DESCENDING)], name="vehiculo_timestamp"),
    # A retry without an Idempotency-Key is the same observation (officer, plate, time, offence
    # code) loaded again; two offences seen at once are two infractions. Only loads through the
    # API: a correction may repeat its original's plate and time.
    IndexModel(
        [("oficial_id", ASCENDING), ("placa_patente", ASCENDING), ("timestamp", ASCENDING), ("infraccion.codigo", ASCENDING)],
        unique=True,
        partialFilterExpression={"carga.via": "api"},
        name="misma_observacion_codigo",
    ),
    IndexModel(
        [("clave_idempotencia", ASCENDING)],
        unique=True,
        partialFilterExpression={"clave_idempotencia": {"$exists": True}},
        name="idempotencia_unique",
    ),
    *(IndexModel([(field, DESCENDING), ("_id", DESCENDING)], name=f"lista_{key}") for key, field in SORT_FIELDS.items()),
    *(
        IndexModel([(field, ASCENDING), (sort, DESCENDING), ("_id", DESCENDING)], name=f"{name}_{key}")
        for name, field in LIST_FILTERS.items()
        for key, sort in SORT_FIELDS.items()
    ),
]
# Replaced by persona_infraccion, lista_registro and misma_observacion_codigo.
RETIRED_INDEXES = ("persona", "registrada_en", "same_observation_unique", "misma_observacion_api")
# The version is explicit because the server fills it in, and an implicit one would conflict on the next start.
INDEXES.append(IndexModel([("ubicacion", "2dsphere")], name="ubicacion", sparse=True, **{"2dsphereIndexVersion": 3}))
VALIDATOR = {
    "$jsonSchema": {
        "bsonType": "object",
        "required": [
            "vehiculo_id", "placa_patente", "persona_id", "oficial_id", "timestamp", "comentarios", "registrada_en",
            "estado",
        ],
        "properties": {
            "vehiculo_id": {"bsonType": "objectId"},
            "placa_patente": {"bsonType": "string", "pattern": rules.PLATE_PATTERN},
            "persona_id": {"bsonType": "objectId"},
            "oficial_id": {"bsonType": "objectId"},
            "timestamp": {"bsonType": "date"},
            "comentarios": {"bsonType": "string", "maxLength": rules.COMENTARIOS_MAX},
            "registrada_en": {"bsonType": "date"},
            "estado": {"enum": list(lifecycle.STATES)},
            "historial": {"bsonType": "array"},
            "infraccion": {"bsonType": "object", "required": ["codigo", "version", "descripcion", "gravedad", "multa_utm"]},
            "ubicacion": {"bsonType": "object", "required": ["type", "coordinates"]},
            "evidencias": {"bsonType": "array", "maxItems": 20},
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
    carga: dict[str, Any],
    persona_id: ObjectId | None = None,
    infraccion: dict[str, Any] | None = None,
    ubicacion: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An infraction as stored, from its vehicle and officer documents: the one shape written by
    the API, by a correction and by the bulk loader. Owner (unless given), vehicle and officer are
    captured as they are now; ``carga`` says how it was loaded (``via``, and who and from where);
    ``infraccion`` is the catalogue version it was issued under, copied; ``ubicacion`` a GeoJSON point
    with its ``precision_m``."""
    doc = {
        "vehiculo_id": vehiculo["_id"],
        "placa_patente": placa_patente,
        "persona_id": persona_id or vehiculo["persona_id"],
        "vehiculo": {"marca": vehiculo["marca"], "color": vehiculo["color"]},
        "oficial_id": oficial["_id"],
        "oficial": {"numero": oficial["numero"], "nombre": oficial["nombre"]},
        "timestamp": timestamp,
        "comentarios": comentarios,
        "registrada_en": now,
        "estado": lifecycle.REGISTRADA,
        "historial": [],
        "carga": carga,
    }
    if infraccion is not None:
        doc["infraccion"] = infraccion
    if ubicacion is not None:
        doc["ubicacion"] = ubicacion
    return doc


@dataclasses.dataclass(frozen=True)
class StatusChange:
    estado: str
    en: dt.datetime
    por: str
    motivo: str

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> StatusChange:
        return cls(doc["estado"], doc["en"], doc["por"]["nombre"], doc["motivo"])


@dataclasses.dataclass(frozen=True)
class Infraccion:
    """An infraction as read. Every stored one has the recorded facts with their snapshots, a status
    and a provenance (``migrate`` gave the last two to the oldest); the rest is optional."""

    id: str
    placa_patente: str
    timestamp: dt.datetime
    comentarios: str
    registrada_en: dt.datetime
    marca: str
    color: str
    oficial_numero: int
    oficial_nombre: str
    estado: str
    vehiculo_id: str
    persona_id: str
    oficial_id: str
    historial: tuple[StatusChange, ...]
    carga: dict[str, Any]
    reemplaza_a: str | None
    reemplazada_por: str | None
    infraccion: dict[str, Any] | None  # the catalogue version it was issued under, as copied
    ubicacion: dict[str, Any] | None  # GeoJSON point and precision_m
    evidencias: tuple[dict[str, Any], ...]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Infraccion:
        vehiculo, oficial = doc["vehiculo"], doc["oficial"]
        return cls(
            str(doc["_id"]), doc["placa_patente"], doc["timestamp"], doc["comentarios"], doc["registrada_en"],
            vehiculo["marca"], vehiculo["color"], oficial["numero"], oficial["nombre"],
            doc["estado"], str(doc["vehiculo_id"]), str(doc["persona_id"]), str(doc["oficial_id"]),
            tuple(StatusChange.from_doc(change) for change in doc["historial"]),
            doc["carga"],
            str(doc["reemplaza_a"]) if "reemplaza_a" in doc else None,
            str(doc["reemplazada_por"]) if "reemplazada_por" in doc else None,
            doc.get("infraccion"),
            doc.get("ubicacion"),
            tuple(doc.get("evidencias", ())),
        )

    @property
    def latitud(self) -> float | None:
        return self.ubicacion["coordinates"][1] if self.ubicacion else None

    @property
    def longitud(self) -> float | None:
        return self.ubicacion["coordinates"][0] if self.ubicacion else None


# What the public report reads of an infraction (the report's $project): no owner, officer, place,
# photos or who loaded it, and of the offence only what the answer shows.
REPORT_FIELDS = {
    "vehiculo_id": 1, "placa_patente": 1, "timestamp": 1, "comentarios": 1, "estado": 1,
    "infraccion.codigo": 1, "infraccion.descripcion": 1, "infraccion.gravedad": 1,
}


class ReportItem(NamedTuple):
    """An infraction as the public report shows it, with its vehicle as it is now."""

    id: str
    placa_patente: str
    marca: str
    color: str
    timestamp: dt.datetime
    comentarios: str
    estado: str
    infraccion: dict[str, Any] | None  # codigo, descripcion and gravedad, when it was loaded with one

    @classmethod
    def from_doc(cls, doc: dict[str, Any], vehiculo: dict[str, Any]) -> ReportItem:
        return cls(
            str(doc["_id"]), doc["placa_patente"], vehiculo["marca"], vehiculo["color"], doc["timestamp"], doc["comentarios"],
            doc["estado"], doc.get("infraccion"),
        )


@dataclasses.dataclass(frozen=True)
class Report:
    total: int
    infracciones: list[ReportItem]
