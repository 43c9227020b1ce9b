"""A worker killed (SIGKILL) at any step of a provisioning leaves no orphan: the next worker finishes it with
exactly one live token of that name at Cloudflare and its value in the vault.

Real `rq worker` processes, real Redis, the stand-ins. The stand-in parks the call of interest (`faults.hold`)
so the test can kill the worker while that call is in flight, then lets it vanish (the kill came before it) or
complete (the kill came after it, and the answer died with the worker).
"""

from __future__ import annotations

import os
import signal

import pytest

from domain import requests
from domain.queueing import enqueue_request, job_queue
from tests.integration.provisioning_scenarios import (
    ACCOUNT_DECLARATION,
    DECLARATION,
    NEW,
    RAXX_IO,
    Channel,
    declare,
    start_worker,
)
from tests.integration.scenarios import approved_request, leaks, redis_dump, token_values
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
LOCK_SECONDS = "2"
SECRETS = "/api/v4/secrets/"


def calls(tokens: str) -> dict[str, tuple[str, str, str]]:
    """The call of each step, for a token whose owner's list is at `tokens` (user or account)."""
    return {
        "pre-flight": ("cloudflare", "GET", f"{tokens}/permission_groups"),
        "create": ("cloudflare", "POST", tokens),
        "vault write": ("infisical", "PATCH", SECRETS + NEW),
        "companions": ("infisical", "PATCH", SECRETS + NEW + "__EXPIRES_AT"),
        "verify": ("cloudflare", "GET", f"{tokens}/verify"),
        "probe": ("cloudflare", "GET", f"/client/v4/zones/{RAXX_IO}/dns_records"),
        "result": ("slack", "POST", "/api/chat.postMessage"),
    }


def kill(worker) -> None:
    os.kill(worker.pid, signal.SIGKILL)
    worker.communicate(timeout=10)


def wait_for_lock_to_lapse(conn) -> None:
    wait_until(lambda: not conn.exists(f"cftoken:lock:{NEW}"), what=f"the dead worker's lock on {NEW} to lapse")


@pytest.mark.parametrize("owner", ["user", "account"])
@pytest.mark.parametrize(
    ("call", "completes"),
    [
        ("pre-flight", False),
        ("create", False),  # killed before Cloudflare created anything
        ("create", True),  # Cloudflare created the token; its value died with the worker: an orphan to delete
        ("vault write", False),  # killed with the value in memory only
        ("vault write", True),  # the value reached the vault, the checkpoint did not
        ("companions", True),
        ("verify", True),
        ("probe", True),
        ("result", True),  # the result was posted, the checkpoint did not hear of it
    ],
)
def test_a_provisioning_killed_at_any_step_ends_with_one_live_token_and_its_value_in_the_vault(
    world, redis_conn, redis_url, tmp_path, call, completes, owner
):
    inventory = declare(tmp_path, ACCOUNT_DECLARATION if owner == "account" else DECLARATION)
    channel = Channel(world, redis_conn, redis_url, inventory)
    tokens = "/client/v4" + ("/user/tokens" if owner == "user" else f"/accounts/{world.inventory.account_id}/tokens")
    service, method, path = calls(tokens)[call]
    request_id = approved_request(redis_conn, world, "provision", NEW, owner=owner)
    hold = getattr(world, service).faults.hold(path, method=method)
    assert enqueue_request(job_queue(redis_conn), request_id)
    first = start_worker(world, redis_url, inventory, cftoken_lock_seconds=LOCK_SECONDS)

    hold.wait_until_arrived()
    kill(first)
    hold.release(proceed=completes)
    wait_for_lock_to_lapse(redis_conn)
    second = start_worker(world, redis_url, inventory, cftoken_lock_seconds=LOCK_SECONDS)
    output, _ = second.communicate(timeout=120)

    assert second.returncode == 0, output
    named = [token for token in world.cloudflare.tokens() if token["name"] == NEW]
    assert len(named) == 1, f"after a kill at {call}: {len(named)} tokens named {NEW}\n{output}"
    (token,) = named
    assert token["status"] == "active" and token in world.cloudflare.owned(
        world.inventory.account_id if owner == "account" else None)
    vault = world.vault()
    assert world.cloudflare.value_of(token["id"]) == vault[NEW], f"vault out of step after a kill at {call}"
    assert vault[NEW + "__TOKEN_ID"] == token["id"]
    assert vault[NEW + "__EXPIRES_AT"] == token["expires_on"]
    assert len(channel.results(f"✅ Provisioned {NEW}")) == 1
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    assert leaks(redis_dump(redis_conn), token_values(world)) == []
