"""A small pre-fork supervisor for ``server.py --workers N``.

The parent binds the listening sockets, then forks N workers that share them; each worker builds
its own event loop and MongoDB client after the fork (a client must never cross a fork). The
parent forwards SIGTERM and SIGINT to the workers, waits for all of them and exits after them
(``tornado.process.fork_processes`` does not forward signals). A worker that crashes is
restarted, unless workers keep crashing, which stops everything with status 1.

The parent also owns the Prometheus multi-process directory: created before forking, each dead
worker's live gauges marked dead, removed at the end."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import time
from typing import Callable

from services.metrics import MULTIPROC_ENV

log = logging.getLogger("transito.workers")
MAX_CRASHES = 5
CRASH_WINDOW_SECONDS = 30.0
POLL_SECONDS = 0.2


def supervise(count: int, run_worker: Callable[[int], int]) -> int:
    """Run ``run_worker(index)`` in ``count`` forked processes until they stop; the exit status."""
    metrics_dir = tempfile.mkdtemp(prefix="transito-metrics-")
    os.environ[MULTIPROC_ENV] = metrics_dir
    supervisor = _Supervisor(run_worker)
    previous = {s: signal.signal(s, supervisor.forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(count):
            supervisor.spawn(index)
        log.info("supervising %s workers: %s", count, sorted(supervisor.children))
        while supervisor.children:
            pid, wait_status = _reap(supervisor.children)
            if pid:
                supervisor.exited(pid, os.waitstatus_to_exitcode(wait_status))
            else:
                time.sleep(POLL_SECONDS)  # a signal cuts it short; its handler has already run
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.environ.pop(MULTIPROC_ENV, None)
    return supervisor.status


class _Supervisor:
    """The parent's bookkeeping: its workers by pid, recent crashes, and whether it is stopping."""

    def __init__(self, run_worker: Callable[[int], int]) -> None:
        self.run_worker = run_worker
        self.children: dict[int, int] = {}  # pid -> worker index
        self.crashes: list[float] = []
        self.stopping = False
        self.status = 0

    def spawn(self, index: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            code = 1
            try:
                code = self.run_worker(index)
            except BaseException:
                log.exception("worker %s failed", index)
            finally:
                logging.shutdown()
                os._exit(code)
        self.children[pid] = index

    def forward(self, signum: int, frame: object) -> None:
        """Pass a stop signal on to every worker (and stop restarting them)."""
        self.stopping = True
        for pid in list(self.children):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def exited(self, pid: int, code: int) -> None:
        """A worker is gone: restart it, unless stopping or workers keep crashing."""
        index = self.children.pop(pid)
        _mark_dead(pid)
        if self.stopping:
            log.info("worker %s (pid %s) stopped with status %s", index, pid, code)
            return
        log.error("worker %s (pid %s) exited with status %s", index, pid, code)
        now = time.monotonic()
        self.crashes = [t for t in self.crashes if now - t < CRASH_WINDOW_SECONDS] + [now]
        if len(self.crashes) > MAX_CRASHES:
            log.error("workers keep crashing: stopping")
            self.status = 1
            self.forward(signal.SIGTERM, None)
            return
        self.spawn(index)


def _reap(children: dict[int, int]) -> tuple[int, int]:
    """A worker that has exited, if any. Only our workers: waiting for any child would also reap
    the embedded database, which its own code waits for."""
    for pid in list(children):
        try:
            done, wait_status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return pid, 0
        if done:
            return done, wait_status
    return 0, 0


def _mark_dead(pid: int) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
