"""Moving an infraction through its statuses (``domain.lifecycle``), and correcting one by
annulling it and recording its replacement. Each is one transaction with its audit entries.

A move names the status it starts from (the one the administrator saw) and matches it in the same
write: when two administrators act at once, the second finds the status changed and is refused,
rather than having a decision taken on a status they never saw."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession

from domain import audit, lifecycle, rules
from domain.errors import Conflict, NotFound
from repositories.base import in_transaction, object_id
from repositories.infracciones.schema import COLLECTION, Infraccion, new_document

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection
    from pymongo.asynchronous.database import AsyncDatabase

    from domain.clock import Clock
    from repositories.auditoria import AuditLog
    from repositories.oficiales import OficialRepository
    from repositories.vehiculos import VehiculoRepository


class StatesMixin:
    _db: AsyncDatabase
    collection: AsyncCollection
    _clock: Clock
    _audit: AuditLog
    _oficiales: OficialRepository
    _vehiculos: VehiculoRepository

    def _change(self, estado: str, motivo: str) -> dict[str, Any]:
        actor = self._audit.actor
        return {"estado": estado, "en": rules.to_millisecond(self._clock.now()), "por": {"tipo": actor.tipo, "nombre": actor.nombre}, "motivo": motivo.strip()}

    async def _move(
        self, session: AsyncClientSession, doc: dict[str, Any], to: str, motivo: str, extra: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Move ``doc`` to ``to`` if it is still in the status it was read in."""
        lifecycle.move(doc["estado"], to, motivo)
        moved = await self.collection.find_one_and_update(
            {"_id": doc["_id"], "estado": doc["estado"]},
            {"$set": {"estado": to, **(extra or {})}, "$push": {"historial": self._change(to, motivo)}},
            return_document=ReturnDocument.AFTER,
            session=session,
        )
        if moved is None:
            raise Conflict("Otra persona cambió el estado de esta infracción recién. Recargue la página y revise su estado actual.")
        return moved

    async def _current(self, session: AsyncClientSession, oid: ObjectId, seen: str) -> dict[str, Any]:
        """The infraction, if it is still in the status ``seen`` by whoever decided the move."""
        doc = await self.collection.find_one({"_id": oid}, session=session)
        if doc is None:
            raise NotFound(f"No existe la infracción {oid}.")
        if doc["estado"] != seen:
            raise Conflict(
                f"Otra persona cambió el estado de esta infracción recién: ahora está {lifecycle.LABELS[doc['estado']].lower()}. "
                "Revise su estado actual antes de decidir.",
                field="estado",
            )
        return doc

    async def transition(self, infraccion_id: str, *, desde: str, to: str, motivo: str = "") -> Infraccion:
        """Move an infraction from ``desde`` (the status the administrator saw) to ``to``."""
        oid = object_id(infraccion_id, "infracción")

        async def write(session: AsyncClientSession) -> dict[str, Any]:
            doc = await self._current(session, oid, desde)
            moved = await self._move(session, doc, to, motivo)
            await self._audit.record(
                session, accion=audit.CAMBIAR_ESTADO, coleccion=COLLECTION, documento_id=oid,
                antes={"estado": doc["estado"]}, despues={"estado": to, **({"motivo": motivo.strip()} if motivo.strip() else {})},
            )
            return moved

        return Infraccion.from_doc(await in_transaction(self._db, write))

    async def replace(
        self, infraccion_id: str, *, desde: str, motivo: str, placa_patente: str, timestamp: dt.datetime, comentarios: str
    ) -> Infraccion:
        """Annul an infraction recorded wrongly and record its correction, linked both ways; the
        replacement keeps the officer who observed it. Returns the replacement."""
        oid = object_id(infraccion_id, "infracción")
        placa = rules.plate_or_raise(placa_patente)
        comments = rules.text_or_raise(comentarios, field="comentarios", maximum=rules.COMENTARIOS_MAX, required=False)

        async def write(session: AsyncClientSession) -> dict[str, Any]:
            original = await self._current(session, oid, desde)
            lifecycle.move(original["estado"], lifecycle.ANULADA, motivo)  # refuse before writing anything
            vehiculo = await self._vehiculos.count_infraction(placa, session=session)
            if vehiculo is None:
                raise NotFound(f"No existe un vehículo con la placa patente {placa}.", field="placa_patente")
            await self._oficiales.count_infraction_by_id(original["oficial_id"], session=session)
            doc = self._replacement(original, vehiculo, placa, timestamp, comments)
            await self.collection.insert_one(doc, session=session)
            annulled = await self._move(session, original, lifecycle.ANULADA, motivo, {"reemplazada_por": doc["_id"]})
            await self._audit.record(
                session, accion=audit.REEMPLAZAR, coleccion=COLLECTION, documento_id=oid,
                antes={"estado": original["estado"]}, despues={"estado": annulled["estado"], "reemplazada_por": doc["_id"], "motivo": motivo.strip()},
            )
            await self._audit.record(session, accion=audit.CREAR, coleccion=COLLECTION, documento_id=doc["_id"], despues=doc)
            return doc

        return Infraccion.from_doc(await in_transaction(self._db, write))

    def _replacement(
        self, original: dict[str, Any], vehiculo: dict[str, Any], placa: str, timestamp: dt.datetime, comentarios: str
    ) -> dict[str, Any]:
        actor = self._audit.actor
        same_vehicle = vehiculo["_id"] == original["vehiculo_id"]
        doc = new_document(
            vehiculo=vehiculo,
            oficial={"_id": original["oficial_id"], **original["oficial"]},
            placa_patente=placa,
            timestamp=timestamp,
            comentarios=comentarios,
            now=rules.to_millisecond(self._clock.now()),
            carga={"via": "correccion", "por": {"tipo": actor.tipo, "nombre": actor.nombre}, "request_id": actor.request_id, "cliente": actor.cliente},
            # the owner at the time stays the original's when the vehicle is the same one
            persona_id=original["persona_id"] if same_vehicle else None,
        )
        doc["_id"] = ObjectId()
        doc["reemplaza_a"] = original["_id"]
        return doc
