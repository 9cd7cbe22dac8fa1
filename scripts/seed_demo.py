#!/usr/bin/env python3
"""Fill the database with realistic, reproducible demo data (the same --seed gives the same data):

    python scripts/seed_demo.py --personas 2000 --vehiculos 3000 --oficiales 50 --infracciones 20000 --drop

Uses MONGODB_URI, or the embedded database of a running development server, or its files
(like scripts/issue_token.py). --drop empties every collection except the administrators first."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from typing import Any

from pymongo.errors import BulkWriteError
from tqdm import tqdm

from config import load_settings
from domain.audit import Actor
from services.cli import run_command
from services.database import cli_database
from services.demo_data import seed


def non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return number


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--personas", type=non_negative, default=200)
    parser.add_argument("--vehiculos", type=non_negative, default=300)
    parser.add_argument("--oficiales", type=non_negative, default=20)
    parser.add_argument("--infracciones", type=non_negative, default=2000)
    parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same data")
    parser.add_argument("--drop", action="store_true", help="empty personas, vehículos, oficiales, infracciones and tokens first")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.vehiculos and not args.personas:
        parser.error("los vehículos necesitan al menos una persona (--personas)")
    if args.infracciones and not (args.vehiculos and args.oficiales):
        parser.error("las infracciones necesitan al menos un vehículo y un oficial (--vehiculos, --oficiales)")
    return args


async def run(args: argparse.Namespace) -> int:
    config = load_settings()
    with ExitStack() as bars:

        def progress(label: str, total: int) -> Any:
            if args.quiet or not total:
                return None
            return bars.enter_context(tqdm(total=total, desc=label, unit=" doc", file=sys.stderr))

        async with cli_database(config, Actor.script("seed_demo.py")) as repos:
            try:
                summary = await seed(
                    repos.db,
                    personas=args.personas,
                    vehiculos=args.vehiculos,
                    oficiales=args.oficiales,
                    infracciones=args.infracciones,
                    seed=args.seed,
                    drop=args.drop,
                    progress=progress,
                    clock=repos.clock,
                )
            except BulkWriteError as error:
                if any(e.get("code") == 11000 for e in error.details.get("writeErrors", [])):
                    print("error: ya hay datos que chocan con los generados (correo, placa o número repetido); "
                          "use --drop o otra --seed", file=sys.stderr)
                    return 1
                raise
    print(
        f"cargados: {len(summary.personas)} personas, {len(summary.vehiculos)} vehículos, "
        f"{len(summary.oficiales)} oficiales, {summary.infracciones} infracciones",
        file=sys.stderr,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_command(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
