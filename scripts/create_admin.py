#!/usr/bin/env python3
"""Create an administrator, reset its password, or delete it (a reset or a delete ends its open
sessions at once).

    python scripts/create_admin.py --username NAME [--password PASSWORD]
    python scripts/create_admin.py --delete NAME

The password comes from --password, else the ADMIN_PASSWORD environment variable, else an
interactive prompt. ``--dev-default`` (used by ``make run``) creates the development admin
``admin`` with a random password, only when no administrator exists, and prints it once."""

from __future__ import annotations

import argparse
import getpass
import os
import secrets
import sys

from config import load_settings
from domain.audit import Actor
from services.cli import run_command
from services.database import cli_database

MIN_PASSWORD_LENGTH = 10
DEV_USERNAME = "admin"


def read_password(args: argparse.Namespace) -> str:
    if args.password:
        return args.password
    if os.environ.get("ADMIN_PASSWORD"):
        return os.environ["ADMIN_PASSWORD"]
    if not sys.stdin.isatty():
        raise SystemExit("error: give the password with --password, ADMIN_PASSWORD, or run interactively")
    first = getpass.getpass("Contraseña: ")
    if first != getpass.getpass("Repita la contraseña: "):
        raise SystemExit("error: the passwords do not match")
    return first


async def run(args: argparse.Namespace) -> int:
    config = load_settings()
    async with cli_database(config, Actor.script("create_admin.py")) as repos:
        if args.delete:
            if not await repos.admins.delete(args.delete):
                print(f"error: no administrator is called '{args.delete}'", file=sys.stderr)
                return 1
            print(f"Administrator '{args.delete}' deleted (its sessions were closed).")
            return 0
        if args.dev_default:
            if await repos.admins.any_exists():
                return 0
            password = secrets.token_urlsafe(12)
            note = config.data_dir / "dev-admin.txt"
            # Written first, and private from the start: an admin whose password was lost would
            # block every later --dev-default.
            config.data_dir.mkdir(parents=True, exist_ok=True)
            note.unlink(missing_ok=True)
            with os.fdopen(os.open(note, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as handle:
                handle.write(f"usuario: {DEV_USERNAME}\ncontraseña: {password}\n")
            await repos.admins.set_password(username=DEV_USERNAME, password=password)
            print(f"Development administrator created: user '{DEV_USERNAME}', password '{password}' (also in {note})")
            return 0
        password = read_password(args)
        if len(password) < MIN_PASSWORD_LENGTH:
            print(f"error: the password must have at least {MIN_PASSWORD_LENGTH} characters", file=sys.stderr)
            return 1
        admin, created = await repos.admins.set_password(username=args.username, password=password)
        print(f"Administrator '{admin.username}' {'created' if created else 'updated (its sessions were closed)'}.")
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--username", help="the administrator's user name")
    group.add_argument("--dev-default", action="store_true", help="create the development admin if none exists")
    group.add_argument("--delete", metavar="USERNAME", help="delete this administrator and end its sessions")
    parser.add_argument("--password", help="the password (prefer ADMIN_PASSWORD or the prompt: argv is visible to other users)")
    args = parser.parse_args()
    if args.username is not None:
        args.username = args.username.strip().lower()
        if not args.username:
            parser.error("--username must not be empty")
    return run_command(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
