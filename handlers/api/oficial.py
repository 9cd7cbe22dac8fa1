"""What the officers' app reads with its token: who it is enrolled as (``GET /api/yo``) and the
offence catalogue for its offline copy (``GET /api/catalogo``, revalidated with an ETag)."""

from __future__ import annotations

import hashlib

from domain import catalogo
from handlers.api.base import OfficerApiHandler, iso_utc


class YoHandler(OfficerApiHandler):
    """GET /api/yo: the officer and the token the app is enrolled with."""

    async def get(self) -> None:
        token = await self.repos.tokens.find_by_jti(self.claims.jti)
        self.write_json(
            {
                "oficial": {"numero": self.oficial["numero"], "nombre": self.oficial["nombre"]},
                "token": {"etiqueta": token.etiqueta if token else "", "expira_en": iso_utc(token.expira_en) if token else None},
            }
        )


class CatalogoHandler(OfficerApiHandler):
    """GET /api/catalogo: the codes in force now, from this process's copy of the catalogue. The
    answer carries an ETag; an app that sends it back (If-None-Match) gets 304 when nothing changed."""

    async def get(self) -> None:
        now = self.clock.now()
        codes = []
        for versions in (await self.repos.catalog_cache.fresh(self.repos.catalogo)).values():  # read again only if stale
            current = catalogo.in_force(versions, now)
            if current is not None:
                codes.append(
                    {
                        **current.snapshot(),
                        "gravedad_nombre": catalogo.SEVERITIES[current.gravedad].label,
                        "vigente_desde": iso_utc(current.vigente_desde),
                    }
                )
        codes.sort(key=lambda code: code["codigo"])
        self.set_header("Cache-Control", "private, no-cache")  # keep it, but ask again (a 304 when unchanged)
        self.write_json({"codigos": codes})

    def compute_etag(self) -> str | None:
        body = b"".join(self._write_buffer)
        return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


default_handlers = [
    (r"/api/yo", YoHandler),
    (r"/api/catalogo", CatalogoHandler),
]
