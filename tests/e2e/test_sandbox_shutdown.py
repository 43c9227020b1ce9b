"""Stopping the sandbox leaves nothing behind: no process, no listening port, whichever way it stops."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from urllib.request import Request, urlopen

import pytest

from standins.world import APPROVERS
from tests.e2e.sandbox_process import NO_REDIS, alive, listening_ports, sandbox_redis_url, start_sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

STOPPED_WITHIN = 15.0  # seconds: SIGTERM to every process group, SIGKILL after 5 s, then the stand-ins
IDLE_SECONDS = 3.0


def command(url: str, text: str) -> None:
    body = json.dumps({"user": APPROVERS[0], "text": text}).encode()
    request = Request(url + "/sandbox/command", data=body, headers={"Content-Type": "application/json"})
    with urlopen(request, timeout=5) as response:
        assert response.status == 202


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


@pytest.mark.parametrize(
    ("signum", "redis", "busy"),
    [(signal.SIGINT, "REDIS_URL", True), (signal.SIGTERM, "embedded", False)],
    ids=["ctrl-c-with-work-in-flight-and-redis-at-REDIS_URL", "sigterm-when-idle-with-embedded-redis"],
)
def test_a_stop_signal_leaves_no_process_and_no_listening_port(signum, redis, busy):
    sandbox = start_sandbox(sandbox_redis_url() if redis == "REDIS_URL" else NO_REDIS)
    try:
        if busy:
            command(sandbox.url, "verify CF_WAF_EDIT_RAXX_APP")
        else:
            time.sleep(IDLE_SECONDS)  # the worker has finished its start-up jobs and waits in BLPOP
        tree = sandbox.tree()
        ports = listening_ports(tree)

        began = time.monotonic()
        code = sandbox.stop(signum)
        took = time.monotonic() - began

        assert code == 0
        assert took < STOPPED_WITHIN
        assert len(tree) >= 7, f"expected the sandbox, 3 shells' processes and gunicorn's workers: {tree}"
        assert len(ports) >= (5 if redis == "REDIS_URL" else 6), f"expected stand-ins, web (and Redis): {ports}"
        assert not alive(tree), f"left running: {[cmdline(pid) for pid in alive(tree)]}"
        assert not ports & listening_ports(), f"still listening: {ports & listening_ports()}"
    finally:
        if sandbox.process.poll() is None:
            sandbox.kill()


def test_when_one_process_dies_the_sandbox_stops_everything_and_says_which(tmp_path):
    sandbox = start_sandbox(NO_REDIS)
    try:
        tree = sandbox.tree()
        ports = listening_ports(tree)
        worker = next(pid for pid in tree if cmdline(pid).startswith("/bin/sh -c rq worker"))

        os.killpg(worker, signal.SIGKILL)
        code = sandbox.process.wait(timeout=STOPPED_WITHIN)
        sandbox.close()

        assert code == 1
        assert any("worker exited with code" in line for line in sandbox.output), sandbox.output
        assert not alive(tree), f"left running: {[cmdline(pid) for pid in alive(tree)]}"
        assert not ports & listening_ports()
    finally:
        if sandbox.process.poll() is None:
            sandbox.kill()
