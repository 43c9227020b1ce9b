"""A worker killed (SIGKILL) at any step of a roll loses nothing: a new worker resumes and finishes it.

Real `rq worker` processes (the Procfile's command), real Redis, the stand-ins. The stand-in parks the
request of interest (`faults.hold`) so the test can kill the worker's whole process group while that call is
in flight, then lets the parked call either vanish (the kill came before it) or complete (the kill came after
it, and the answer was lost with the worker).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from domain import requests
from domain.queueing import enqueue_request, job_queue
from standins.world import CHANNEL
from tests.integration.scenarios import approved_request, leaks, redis_dump, token_values, tokens_path
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
DNS = "CF_DNS_EDIT_GETRAXX_COM"
PAGES = "CF_PAGES_DEPLOY"  # account-owned, with a legacy value: the roll gives it a cfat_ one
LOCK_SECONDS = 2
RQ = str(Path(sys.executable).with_name("rq"))


def start_worker(world, redis_url: str) -> subprocess.Popen:
    env = {**os.environ, **world.settings_env(redis_url=redis_url, cftoken_lock_seconds=str(LOCK_SECONDS))}
    command = [RQ, "worker", "--config", "workers.rq_settings", "--worker-class", "workers.worker.CftokenWorker",
               "--burst", "default"]
    return subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def kill_worker(worker: subprocess.Popen) -> None:
    """SIGKILL the worker (jobs run inside it), as a dyno restart would."""
    os.kill(worker.pid, signal.SIGKILL)
    worker.communicate(timeout=10)


def wait_for_lock_to_lapse(conn, name: str) -> None:
    wait_until(lambda: not conn.exists(f"cftoken:lock:{name}"), what=f"the dead worker's lock on {name} to lapse")


def results(world, prefix: str) -> int:
    return sum(1 for message in world.slack.messages(CHANNEL) if message.text.startswith(prefix))


def crash_paths(world, name: str = DNS) -> dict[str, tuple[str, str]]:
    token = f"{tokens_path(world, name)}/{world.token_ids[name]}"
    return {
        "roll": ("PUT", f"{token}/value"),
        "vault write": ("PATCH", f"/api/v4/secrets/{name}"),
        "expiry update": ("PUT", token),
    }


@pytest.mark.parametrize("name", [DNS, PAGES], ids=["user", "account"])
@pytest.mark.parametrize(
    ("call", "completes"),
    [
        ("roll", False),  # killed before the Cloudflare call
        ("roll", True),  # killed after Cloudflare rolled: the new value died with the worker
        ("vault write", False),  # killed before the vault write (the value is sealed in Redis)
        ("vault write", True),  # killed after the vault write, before the checkpoint
        ("expiry update", True),  # killed after Cloudflare's expiry moved, before __EXPIRES_AT
    ],
)
def test_a_roll_killed_mid_call_is_finished_by_the_next_worker(world, redis_conn, redis_url, call, completes,
                                                               name):
    method, path = crash_paths(world, name)[call]
    hold = (world.cloudflare if path.startswith("/client") else world.infisical).faults.hold(path, method=method)
    request_id = approved_request(redis_conn, world, "roll", name)
    assert enqueue_request(job_queue(redis_conn), request_id)
    first = start_worker(world, redis_url)

    hold.wait_until_arrived()
    kill_worker(first)
    hold.release(proceed=completes)
    wait_for_lock_to_lapse(redis_conn, name)
    second = start_worker(world, redis_url)
    output, _ = second.communicate(timeout=120)

    assert second.returncode == 0, output
    vault_value = world.vault_value(name)
    assert vault_value == world.live_value(name), f"vault out of step with Cloudflare after a kill at {call}"
    assert vault_value.startswith("cfut_" if name == DNS else "cfat_")
    assert world.cloudflare.token(world.token_ids[name])["status"] == "active"
    assert world.vault_value(name + "__EXPIRES_AT") == world.expires_on(name).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert world.vault_value(name + "__TOKEN_ID") == world.token_ids[name]
    assert results(world, f"✅ Rolled {name}") == 1
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    assert leaks(redis_dump(redis_conn), token_values(world)) == []
