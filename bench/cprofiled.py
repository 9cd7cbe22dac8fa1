#!/usr/bin/env python3
"""Run a server script under cProfile, switched on by SIGUSR1 and off by SIGUSR2 (each SIGUSR2
writes ``$BENCH_CPROFILE_OUT.<k>.pstats``, k = 1, 2, ...), with its background put off as under
callgrind (``bench/steady.py``). Used by ``bench/instructions.py --cprofile``; the server itself
is not changed.

    python bench/cprofiled.py <python> <script> [args...]   (the interpreter argument is ignored)
"""

from __future__ import annotations

import cProfile
import os
import signal
import sys
import time
from typing import Any

import steady  # bench/steady.py: this script's folder is first on the path

out = os.environ["BENCH_CPROFILE_OUT"]
state: dict[str, Any] = {"profiler": None, "written": 0}


def on(signum: int, frame: Any) -> None:
    # The event loop's thread's CPU time (with the kernel's share of its system calls), not wall
    # time: on a busy machine a system call that gets preempted would otherwise look expensive.
    state["profiler"] = cProfile.Profile(time.thread_time)
    state["profiler"].enable()


def off(signum: int, frame: Any) -> None:
    profiler = state["profiler"]
    if profiler is None:
        return
    profiler.disable()
    state["profiler"] = None
    state["written"] += 1
    path = f"{out}.{state['written']}.pstats"
    profiler.dump_stats(path + ".tmp")
    os.replace(path + ".tmp", path)  # appears complete


signal.signal(signal.SIGUSR1, on)
signal.signal(signal.SIGUSR2, off)
steady.run(sys.argv[2])
