#!/usr/bin/env python3
"""Issue a bearer token for an officer. The token alone goes to stdout, a summary to stderr:

    TOKEN=$(python scripts/issue_token.py --officer 42 --days 30 --label "tablet patrulla 7")

An unknown or inactive officer gives a message and exit status 1."""

from __future__ import annotations

import argparse
import sys

from config import load_settings
from domain.audit import Actor
from domain.errors import NotFound
from services.cli import run_command
from services.database import cli_database
from services.tokens import DEFAULT_DAYS, MAX_DAYS, TokenService


async def run(args: argparse.Namespace) -> int:
    config = load_settings()
    async with cli_database(config, Actor.script("issue_token.py")) as repos:
        try:
            oficial = await repos.oficiales.get_by_numero(args.officer)
            issued = await TokenService(config.jwt_secret).issue(
                repos, numero=args.officer, days=args.days, label=args.label
            )
        except NotFound as error:
            print(f"error: {error.message}", file=sys.stderr)
            return 1
    print(issued.token)
    print(
        f"token para el oficial N° {oficial.numero} ({oficial.nombre}), vence {issued.record.expira_en:%Y-%m-%d %H:%M} UTC",
        file=sys.stderr,
    )
    return 0


def days(value: str) -> int:
    number = int(value)
    if not 1 <= number <= MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_DAYS}")
    return number


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--officer", type=int, required=True, help="the officer's número")
    parser.add_argument("--days", type=days, default=DEFAULT_DAYS, help=f"lifetime in days (default {DEFAULT_DAYS})")
    parser.add_argument("--label", default="", help="a label for the token, e.g. the device")
    args = parser.parse_args()
    return run_command(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
