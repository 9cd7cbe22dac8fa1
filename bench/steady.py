#!/usr/bin/env python3
"""Run a server script with its periodic background work put off to once an hour, so that what a
measured window counts does not depend on how long the window lasts (``bench/instructions.py``
runs ours and the floor under it, under callgrind and under cProfile alike).

Under Valgrind a 400-request window lasts one to two minutes, and longer when the machine is busy;
whatever runs on a timer is then counted in proportion to the machine's load, not to the requests.
Put off here, none of it on any request's path:

- PyMongo's executors (the two server monitors and the client's pool maintenance and cursor
  kills) wake every ``MIN_HEARTBEAT_INTERVAL`` (0.5 s) to look for a request to check early, and
  the client's runs every ``KILL_CURSOR_FREQUENCY`` (1 s). The heartbeats themselves are already
  put off by the benchmark's URI (``heartbeatFrequencyMS``);
- our catalogue copy is read again every ``CatalogCache.REFRESH / 2`` (one minute).

    python bench/steady.py <python> <script> [args...]   (the interpreter argument is ignored)
"""

from __future__ import annotations

import datetime as dt
import os
import runpy
import sys

HOUR = 3600.0


def put_off_background() -> None:
    from pymongo import common

    common.MIN_HEARTBEAT_INTERVAL = HOUR
    common.KILL_CURSOR_FREQUENCY = HOUR
    common.EVENTS_QUEUE_FREQUENCY = HOUR
    try:
        from repositories.catalogo import CatalogCache
    except ImportError:  # not our server's tree
        return
    CatalogCache.REFRESH = dt.timedelta(seconds=2 * HOUR)


def run(script: str) -> None:
    """``python <script>`` as if run directly (its folder first on the path), background put off."""
    sys.argv = sys.argv[2:]
    sys.path[0] = os.path.dirname(os.path.abspath(script))
    put_off_background()
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    run(sys.argv[2])
