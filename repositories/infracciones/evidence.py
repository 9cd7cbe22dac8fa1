"""Photos added to an infraction by the officer who loaded it (``POST /api/infracciones/{id}/evidencias``).

The infraction is found before the photo arrives (``evidence_target``: unknown and another
officer's are one 404). The file is then written to GridFS and listed on the infraction with one
conditional update that re-checks everything (the officer, not annulled, the time window, the
number of photos, that these bytes are not listed yet), so two uploads at once cannot exceed the limit or list the same photo
twice; a file that does not get listed is removed (``repositories.evidencias``)."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ReturnDocument

from domain import lifecycle, rules
from domain.errors import Conflict, NotFound

if TYPE_CHECKING:
    from pymongo.asynchronous.collection import AsyncCollection

    from domain.clock import Clock
    from repositories.evidencias import EvidenceStore
    from services.images import Photo

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}
TARGET_FIELDS = {"evidencias": 1, "registrada_en": 1, "estado": 1}


class EvidenceMixin:
    collection: AsyncCollection
    _clock: Clock
    _evidencias: EvidenceStore

    async def evidence_target(self, infraccion_id: str, *, oficial_id: ObjectId) -> dict[str, Any]:
        """The infraction a photo is for, if this officer loaded it (read before the photo arrives);
        another officer's infraction is as unknown as one that does not exist."""
        doc = None
        if ObjectId.is_valid(infraccion_id):  # a malformed id names an infraction that does not exist either
            doc = await self.collection.find_one(self._owned(ObjectId(infraccion_id), oficial_id), TARGET_FIELDS)
        if doc is None:
            raise NotFound(f"No existe una infracción {infraccion_id} cargada por usted.", field="infraccion")
        return doc

    async def add_evidence(
        self, target: dict[str, Any], *, oficial_id: ObjectId, data: bytes, sha256: str, photo: Photo, max_count: int,
        window: dt.timedelta,
    ) -> tuple[dict[str, Any], bool]:
        """List a photo on ``target`` (from ``evidence_target``); the evidence and whether it is new
        (False: the same bytes were listed before, and that evidence is answered)."""
        owned = self._owned(target["_id"], oficial_id)
        listed = self._listed(target, sha256)
        if listed is not None:
            return listed, False
        cutoff = self._clock.now() - window
        self._check_room(target, cutoff, max_count, window)
        entry = await self._store(target["_id"], oficial_id, data, sha256, photo)
        try:
            attached = await self.collection.find_one_and_update(
                {
                    **owned, "registrada_en": {"$gte": cutoff}, "estado": {"$ne": lifecycle.ANULADA},
                    f"evidencias.{max_count - 1}": {"$exists": False}, "evidencias.sha256": {"$ne": sha256},
                },
                {"$push": {"evidencias": entry}},
                projection=TARGET_FIELDS,
                return_document=ReturnDocument.AFTER,
            )
        except Exception:
            await self._remove_unless_listed(owned, entry)
            raise
        if attached is None:  # something changed since the first read: undo the files, say what
            await self._remove_files(entry)
            now = await self.collection.find_one(owned, TARGET_FIELDS)
            listed = self._listed(now or {}, sha256)
            if listed is not None:
                return listed, False
            self._check_room(now or target, cutoff, max_count, window)
            raise Conflict("La infracción cambió mientras se subía la foto. Intente de nuevo.", field="foto")
        return entry, True

    @staticmethod
    def _owned(infraccion_id: ObjectId, oficial_id: ObjectId) -> dict[str, Any]:
        return {"_id": infraccion_id, "oficial_id": oficial_id}

    async def _remove_files(self, entry: dict[str, Any]) -> None:
        await self._evidencias.remove(entry["id"])
        await self._evidencias.remove(entry["miniatura_id"])

    async def _remove_unless_listed(self, owned: dict[str, Any], entry: dict[str, Any]) -> None:
        """The update that lists a photo failed: remove its files, unless the update did happen
        (its answer was lost) and lists them. When that cannot be read either, the files stay: an
        unlisted file is never shown, and removing a listed one would break the infraction."""
        try:
            doc = await self.collection.find_one({**owned, "evidencias.id": entry["id"]}, {"_id": 1})
        except Exception:
            return
        if doc is None:
            await self._remove_files(entry)

    @staticmethod
    def _listed(doc: dict[str, Any], sha256: str) -> dict[str, Any] | None:
        return next((e for e in doc.get("evidencias", []) if e["sha256"] == sha256), None)

    @staticmethod
    def _check_room(doc: dict[str, Any], cutoff: dt.datetime, max_count: int, window: dt.timedelta) -> None:
        if doc.get("estado") == lifecycle.ANULADA:
            raise Conflict("La infracción está anulada: ya no admite fotos.", field="foto")
        if doc["registrada_en"] < cutoff:
            hours = int(window.total_seconds() // 3600)
            raise Conflict(f"Pasaron más de {hours} horas desde que se cargó la infracción: ya no admite fotos.", field="foto")
        if len(doc.get("evidencias", [])) >= max_count:
            raise Conflict(f"La infracción ya tiene el máximo de {max_count} fotos.", field="foto")

    async def _store(self, infraccion_id: ObjectId, oficial_id: ObjectId, data: bytes, sha256: str, photo: Photo) -> dict[str, Any]:
        """Write the photo and its thumbnail; the entry to list on the infraction."""
        file_id, thumbnail_id = ObjectId(), ObjectId()
        metadata = {"infraccion_id": infraccion_id, "oficial_id": oficial_id, "sha256": sha256, "tipo": photo.tipo}
        name = f"{infraccion_id}-{sha256[:16]}"
        await self._evidencias.put(file_id, data, filename=f"{name}.{EXTENSIONS[photo.tipo]}", metadata=metadata)
        try:
            await self._evidencias.put(
                thumbnail_id, photo.miniatura, filename=f"{name}-miniatura.jpg", metadata={**metadata, "tipo": "image/jpeg", "miniatura_de": file_id}
            )
        except Exception:
            await self._evidencias.remove(file_id)
            raise
        return {
            "id": file_id,
            "miniatura_id": thumbnail_id,
            "sha256": sha256,
            "tipo": photo.tipo,
            "bytes": len(data),
            "ancho": photo.ancho,
            "alto": photo.alto,
            "en": rules.to_millisecond(self._clock.now()),
        }
