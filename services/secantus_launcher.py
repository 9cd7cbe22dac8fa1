# SPDX-License-Identifier: GPL-2.0-only
"""Starts SecantusDB (``python -m secantus``, same arguments) with one defect of 0.7.0b3 fixed.

This file imports SecantusDB, so it is GPL-2.0-only like SecantusDB itself. It is a separate
program: ``services/devdb.py`` runs it as a child process and the application never imports it
(``tests/test_delivery.py`` checks that no other module imports ``secantus``).

The defect: SecantusDB's TTL sweeper (a thread that runs every 60 s) reads the index catalogue and
parks until the next sweep with a cursor still positioned, which keeps a WiredTiger read snapshot
open. Every update made after that snapshot keeps its old versions, so under sustained concurrent
updates of the same documents (the officers' load, which bumps a vehicle's infraction counter)
page reads wait on one another until the whole server stalls, from the first sweep on. SecantusDB
documents the same wedge for idle connections and releases their snapshot after each command
(``Storage.release_thread_snapshot``); the sweeper does not. Here it does, after each sweep.
"""

from __future__ import annotations

import sys

from secantus import cli
from secantus.storage import Storage

_sweep = Storage.prune_ttl_all_collections


def _sweep_then_release_snapshot(self: Storage, **kwargs):
    try:
        return _sweep(self, **kwargs)
    finally:
        self.release_thread_snapshot()


if __name__ == "__main__":
    Storage.prune_ttl_all_collections = _sweep_then_release_snapshot
    sys.exit(cli.main())
