"""The offence catalogue the project ships (``domain/catalogo_inicial.json``), loaded idempotently:
by ``scripts/load_catalogo.py``, and by the server's first start on an empty catalogue."""

from __future__ import annotations

import datetime as dt
import json
import logging
from decimal import Decimal
from pathlib import Path

from domain import rules
from domain.catalogo import Version
from repositories import Repositories

SHIPPED = Path(__file__).resolve().parent.parent / "domain" / "catalogo_inicial.json"
log = logging.getLogger("transito.catalogo")


def shipped_versions(zone: dt.tzinfo, path: Path = SHIPPED) -> list[Version]:
    """The shipped codes, each as its version 1, in force from the file's date (local midnight)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    since = rules.local_midnight(dt.date.fromisoformat(data["vigente_desde"]), zone)
    return [
        Version(
            entry["codigo"], 1, entry["descripcion"], entry["gravedad"], Decimal(entry["multa_min_utm"]),
            Decimal(entry["multa_max_utm"]), entry["articulo"], since,
        )
        for entry in data["infracciones"]
    ]


async def load(repos: Repositories, zone: dt.tzinfo, *, only_if_empty: bool = False) -> int:
    """Add the shipped versions that are missing; how many. ``only_if_empty``: leave a catalogue
    that already has codes alone (the server's start-up)."""
    if only_if_empty and await repos.catalogo.collection.estimated_document_count():
        return 0
    added = await repos.catalogo.load(shipped_versions(zone))
    if added:
        log.info("loaded %s offence codes from %s", added, SHIPPED.name)
    return added
