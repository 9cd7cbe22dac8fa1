"""``server.py --workers 2``: two forked processes answer on one port, /metrics adds up both, a
crashed worker is replaced, and SIGTERM stops every process cleanly."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.helpers.server_process import ServerProcess


def stat_fields(pid: int | str) -> list[str]:
    """/proc/<pid>/stat after the command name: state, parent, process group, ..."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def parent_of(pid: int) -> int:
    return int(stat_fields(pid)[1])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def healthz_count(url: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "transito_http_requests_total" and s.labels["handler"] == "HealthHandler"
    )


def pids_answering(url: str, *, want: int, exclude: set[int] = frozenset(), timeout: float = 30) -> tuple[set[int], int]:
    """Worker pids seen on /healthz (a new connection each time) until ``want`` new ones answered."""
    seen: set[int] = set()
    requests = 0
    deadline = time.monotonic() + timeout
    while len(seen - exclude) < want and time.monotonic() < deadline:
        response = httpx.get(f"{url}/healthz", timeout=5)
        requests += 1
        assert response.status_code == 200
        seen.add(int(response.headers["X-Worker-PID"]))
    assert len(seen - exclude) >= want, f"only {seen} answered in {requests} requests"
    return seen, requests


def test_two_workers_serve_share_metrics_restart_and_stop_cleanly(mongo_uri, tmp_path):
    server = ServerProcess(
        mongodb_uri=mongo_uri, db_name=f"test_{uuid.uuid4().hex[:12]}", data_dir=tmp_path, env={"WORKERS": "2"}
    ).start()
    try:
        supervisor = server.process.pid
        workers, requests = pids_answering(server.url, want=2)
        assert supervisor not in workers
        assert all(parent_of(pid) == supervisor for pid in workers)
        # Each worker counts its own requests; /metrics (answered by either) adds them up.
        assert healthz_count(server.url) == requests

        # A worker that dies is replaced, and the others keep serving meanwhile.
        crashed = min(workers)
        os.kill(crashed, signal.SIGKILL)
        replacement, _ = pids_answering(server.url, want=1, exclude=workers)
        new = replacement - workers
        assert all(parent_of(pid) == supervisor for pid in new)
        workers = (workers - {crashed}) | new
    finally:
        status = server.stop()
    assert status == 0, server.log_text()[-3000:]
    assert not any(alive(pid) for pid in workers | {supervisor})
    assert "Traceback" not in server.log_text()


def live_members(group: int) -> set[int]:
    """The processes of a process group that are not zombies (from /proc)."""
    members = set()
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            state, _parent, pgrp = stat_fields(entry.name)[:3]
        except (FileNotFoundError, ProcessLookupError):  # it ended while we looked
            continue
        if int(pgrp) == group and state != "Z":
            members.add(int(entry.name))
    return members


def test_a_server_that_does_not_come_up_in_time_is_killed_with_its_workers(unreachable_uri, tmp_path):
    # Without a database it binds its port and forks its workers, but /readyz never says 200.
    server = ServerProcess(mongodb_uri=unreachable_uri, db_name="test_never", data_dir=tmp_path, env={"WORKERS": "2"})
    with pytest.raises(RuntimeError, match="the server"):
        server.start(timeout=5)
    group = server.process.pid  # started in a session of its own: the group's id is its pid
    deadline = time.monotonic() + 10
    while live_members(group) and time.monotonic() < deadline:
        time.sleep(0.05)  # the workers' SIGKILL is delivered asynchronously
    assert not live_members(group), "left running after a failed start"
