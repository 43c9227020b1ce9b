"""Stopping the sandbox leaves nothing behind: no process, no listening port, whichever way it stops; and it never
touches the Redis at REDIS_URL."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from urllib.request import Request, urlopen

import pytest

from standins.base import WAIT_CEILING
from standins.world import APPROVERS
from tests.e2e.sandbox_process import alive, listening_ports, start_sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

STOPPED_WITHIN = 15.0  # seconds: SIGTERM to every process group, SIGKILL after 5 s, then the stand-ins
IDLE_SECONDS = 3.0


def command(sandbox, text: str) -> None:
    body = json.dumps({"user": APPROVERS[0], "text": text}).encode()
    headers = {"Content-Type": "application/json", "X-Sandbox-Token": sandbox.page_token()}
    request = Request(sandbox.url + "/sandbox/command", data=body, headers=headers)
    with urlopen(request, timeout=5) as response:
        assert response.status == 202


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return ""


@pytest.mark.parametrize(
    ("signum", "args", "busy"),
    [(signal.SIGINT, (), True), (signal.SIGTERM, ("--fakeredis",), False)],
    ids=["ctrl-c-with-work-in-flight-and-its-own-redis-server", "sigterm-when-idle-with-embedded-fakeredis"],
)
def test_a_stop_signal_leaves_no_process_and_no_listening_port(signum, args, busy):
    sandbox = start_sandbox(*args)
    try:
        if busy:
            command(sandbox, "verify CF_WAF_EDIT_RAXX_APP")
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
        assert len(ports) >= 6, f"expected the stand-ins, web and Redis: {ports}"
        assert not alive(tree), f"left running: {[cmdline(pid) for pid in alive(tree)]}"
        assert not ports & listening_ports(), f"still listening: {ports & listening_ports()}"
    finally:
        if sandbox.process.poll() is None:
            sandbox.kill()


def test_when_one_process_dies_the_sandbox_stops_everything_and_says_which(tmp_path):
    sandbox = start_sandbox()
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


def test_the_sandbox_uses_its_own_redis_and_leaves_the_one_at_redis_url_untouched(redis_conn):
    redis_conn.set("cftoken:request:production-roll", "keep me")
    redis_conn.rpush("rq:queue:default", "a production job")
    before = {key: redis_conn.dump(key) for key in redis_conn.scan_iter()}
    sandbox = start_sandbox()
    try:
        command(sandbox, "verify CF_WAF_EDIT_RAXX_APP")
        deadline = time.monotonic() + WAIT_CEILING
        while not any(m["text"].startswith("verify CF_WAF_EDIT_RAXX_APP") for m in sandbox.state()["messages"]):
            assert time.monotonic() < deadline, "the sandbox's worker never posted the verify report"
            time.sleep(0.2)
        assert sandbox.stop(signal.SIGINT) == 0
    finally:
        if sandbox.process.poll() is None:
            sandbox.kill()

    assert sandbox.redis.startswith("its own redis-server on 127.0.0.1:") and sandbox.redis.endswith(", not REDIS_URL")
    assert {key: redis_conn.dump(key) for key in redis_conn.scan_iter()} == before
