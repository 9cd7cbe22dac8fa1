"""``POST /api/infracciones/{id}/evidencias``: the officer who loaded an infraction adds a photo.

The body is the photo's bytes (JPEG or PNG, recognised by their content); its SHA-256 is computed
while they arrive, and it is only stored once it has arrived whole and decodes as an image."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import tornado.web

from config import Settings
from domain.errors import InvalidValue
from handlers.api.base import ApiError, OfficerApiHandler, iso_utc
from services.images import checked_photo


def evidence_json(entry: dict[str, Any], infraccion_id: str) -> dict[str, Any]:
    return {
        "id": str(entry["id"]),
        "infraccion_id": infraccion_id,
        "sha256": entry["sha256"],
        "tipo": entry["tipo"],
        "bytes": entry["bytes"],
        "ancho": entry["ancho"],
        "alto": entry["alto"],
        "registrada_en": iso_utc(entry["en"]),
    }


@tornado.web.stream_request_body
class EvidenciaHandler(OfficerApiHandler):
    """The photo is read as it arrives (hashing it chunk by chunk), never beyond its limit."""

    REQUEST_FIELDS = {"foto": "cuerpo", "infraccion": "id"}
    target: dict[str, Any]

    def initialize(self, **kwargs: Any) -> None:
        super().initialize(**kwargs)
        self._body_arrived = False
        self._hash = hashlib.sha256()
        self._chunks: list[bytes] = []

    @classmethod
    def body_limit(cls, config: Settings) -> int:
        return config.evidence_max_bytes

    async def prepare(self) -> None:
        """Refuse before the photo is received: a token that is not live, an infraction that is not
        this officer's (Tornado reads the body only once this is done)."""
        await super().prepare()
        self.target = await self.repos.infracciones.evidence_target(self.path_args[0], oficial_id=self.oficial["_id"])

    def data_received(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self._chunks.append(chunk)

    def on_connection_close(self) -> None:
        super().on_connection_close()
        if not self._body_arrived:  # Tornado abandons the request without finishing it
            self._chunks = []
            self.stop_counting()

    async def post(self, infraccion_id: str) -> None:
        self._body_arrived = True
        data = b"".join(self._chunks)
        if not data:
            raise ApiError(400, "Envíe la foto en el cuerpo de la solicitud (una imagen JPEG o PNG).")
        try:
            photo = await checked_photo(data)
        except InvalidValue as error:
            raise ApiError(400, error.message, errors=[{"campo": "cuerpo", "mensaje": error.message}]) from None
        entry, created = await self.repos.infracciones.add_evidence(
            self.target,
            oficial_id=self.oficial["_id"],
            data=data,
            sha256=self._hash.hexdigest(),
            photo=photo,
            max_count=self.config.evidence_max_photos,
            window=dt.timedelta(hours=self.config.evidence_window_hours),
        )
        if not created:
            self.set_header("Idempotent-Replayed", "true")
        # The id as every other answer writes it: ObjectId also takes upper-case hexadecimal.
        self.write_json(evidence_json(entry, infraccion_id.lower()), status=201 if created else 200)


default_handlers = [
    (r"/api/infracciones/([^/]+)/evidencias", EvidenciaHandler),
]
