#!/usr/bin/env python3
"""Load the offence catalogue the project ships (domain/catalogo_inicial.json). Idempotent: codes
already there are left as they are (a version is never changed), missing ones are added.

    python scripts/load_catalogo.py

Uses the same settings as the server (MONGODB_URI, ...; the development database otherwise)."""

from __future__ import annotations

import sys

from config import load_settings
from domain.audit import Actor
from services import initial_catalogue
from services.cli import run_command
from services.database import cli_database


async def run() -> int:
    config = load_settings()
    async with cli_database(config, Actor.script("load_catalogo.py")) as repos:
        added = await initial_catalogue.load(repos, config.zone)
    print(f"{added} offence code(s) added; the others were already there.", file=sys.stderr)
    return 0


def main() -> int:
    return run_command(run)


if __name__ == "__main__":
    sys.exit(main())
