"""The Procfile's `worker` and `clock` commands, run as real processes against the stand-ins and Redis."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from domain.queueing import enqueue_verify, job_queue
from standins.world import APPROVERS, CHANNEL
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).parents[2]


def procfile_line(process: str) -> str:
    """The Procfile's command for `process`, as the shell would run it."""
    line = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith(f"{process}:"))
    return line.split(":", 1)[1].strip()


def procfile_command(process: str) -> list[str]:
    return shlex.split(procfile_line(process))


def run_env(world, redis_url: str) -> dict[str, str]:
    """The world's settings, with this interpreter's bin directory first so `rq` is the project's."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, **world.settings_env(redis_url=redis_url)}


def test_the_worker_process_runs_a_queued_verify_and_posts_the_report(world, redis_conn, redis_url):
    enqueue_verify(job_queue(redis_conn), name="CF_WAF_EDIT_RAXX_APP", requested_by=APPROVERS[0])

    result = subprocess.run(
        [*procfile_command("worker"), "--burst"], env=run_env(world, redis_url), capture_output=True, text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    transcript = world.slack.channel_transcript(CHANNEL)
    assert "CF_WAF_EDIT_RAXX_APP" in transcript and "healthy" in transcript.lower()


def test_the_clock_process_schedules_the_scan_the_reconciler_and_request_expiry(world, redis_conn, redis_url):
    clock = subprocess.Popen(
        procfile_command("clock"), env=run_env(world, redis_url), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True,
    )
    queue = job_queue(redis_conn)
    try:
        wait_until(lambda: len(queue.jobs) >= 3, what="the clock to queue its three start-up jobs")
    finally:
        clock.terminate()
    output, _ = clock.communicate(timeout=20)

    assert sorted(job.func_name for job in queue.jobs) == [
        "workers.jobs.expire_requests", "workers.jobs.reconcile", "workers.jobs.scan_expiry",
    ], output


@pytest.mark.parametrize(("process", "setting"), [
    ("web", "CFTOKEN_APPROVERS"), ("worker", "INFISICAL_CLIENT_ID"), ("clock", "CFTOKEN_CHANNEL_ID"),
])
def test_a_missing_setting_stops_each_process_with_one_line_naming_it(world, redis_url, process, setting):
    env = run_env(world, redis_url)
    del env[setting]

    result = subprocess.run(
        ["/bin/sh", "-c", procfile_line(process)], env={**env, "PORT": "0"}, capture_output=True, text=True,
        timeout=60,
    )

    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"cftoken {process}: {setting} is not set" in output
    assert "Traceback" not in output
