"""rotation = "overlap": a twin is created, stored and verified while the old value keeps working; when the
overlap ends the old token is deleted. Real rq workers (SIGKILLed at every step), real Redis, the stand-ins."""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from domain import requests
from domain.inventory import load_inventory
from domain.queueing import RECONCILE_JOB, enqueue_request, job_queue
from domain.settings import DEFAULT_INVENTORY
from standins.world import APPROVERS, CHANNEL, World
from tests.integration.provisioning_scenarios import Channel, start_worker
from tests.integration.scenarios import approved_request, leaks, redis_dump, token_values
from workers.clients.cloudflare import CloudflareClient

pytestmark = pytest.mark.integration
NAME = "CF_DNS_EDIT_GETRAXX_COM"
OFFSET_KEY = "cftoken:test:clock-offset"
LOCK_SECONDS = 2
ALICE, BOB = APPROVERS


@pytest.fixture
def inventory(tmp_path) -> Path:
    """The shipped inventory with NAME on a two-minute overlap (and, as `cftoken check` asks, no pinned id)."""
    text = Path(DEFAULT_INVENTORY).read_text(encoding="utf-8")
    text, replaced = re.subn(rf'name = "{NAME}"\ntoken_id = "[0-9a-f]+"\n',
                             f'name = "{NAME}"\nrotation = "overlap"\noverlap_minutes = 2\n', text)
    assert replaced == 1
    path = tmp_path / "inventory.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def world(inventory):
    started = World.start(inventory=load_inventory(inventory))
    yield started
    started.stop()


def env(inventory: Path) -> dict[str, str]:
    return {"cftoken_clock_offset_key": OFFSET_KEY, "cftoken_lock_seconds": str(LOCK_SECONDS)}


def run_worker(world, redis_url, inventory) -> str:
    worker = start_worker(world, redis_url, inventory, **env(inventory))
    output, _ = worker.communicate(timeout=120)
    assert worker.returncode == 0, output
    return output


def verifies(world, value: str) -> str:
    with CloudflareClient(base_url=world.cloudflare.url + "/client/v4") as cloudflare:
        return cloudflare.verify(SecretStr(value)).status


def live(world) -> list[dict]:
    return [t for t in world.cloudflare.tokens() if t["name"] == NAME and t["status"] == "active"]


def end_overlap(world, redis_conn, redis_url, inventory) -> None:
    """Three minutes later for the bot and Cloudflare alike; the clock's reconcile resumes the wait."""
    redis_conn.set(OFFSET_KEY, 180)
    world.clock.advance(timedelta(seconds=180))
    job_queue(redis_conn).enqueue_call(RECONCILE_JOB)
    run_worker(world, redis_url, inventory)


def assert_retired(world, redis_conn, request_id: str, old_id: str) -> None:
    [new] = live(world)  # exactly one live token has the name
    assert new["id"] != old_id and world.cloudflare.token(old_id) is None
    assert world.vault_value(NAME + "__TOKEN_ID") == new["id"]
    assert world.vault_value(NAME + "__EXPIRES_AT") == new["expires_on"]
    assert verifies(world, world.vault_value(NAME)) == "active"
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    rolled = [m for m in world.slack.messages(CHANNEL) if m.text.startswith(f"✅ Rolled {NAME} by overlap")]
    assert len(rolled) == 1
    assert leaks(redis_dump(redis_conn), token_values(world)) == []


def test_both_values_work_during_the_overlap_and_only_the_new_token_is_left_after_it(
    world, redis_conn, redis_url, inventory
):
    old_id, old_value = world.token_ids[NAME], world.vault_value(NAME)
    request_id = approved_request(redis_conn, world, "roll", NAME)
    assert enqueue_request(job_queue(redis_conn), request_id)

    run_worker(world, redis_url, inventory)

    new_value = world.vault_value(NAME)
    assert new_value != old_value
    assert verifies(world, old_value) == "active" and verifies(world, new_value) == "active"
    new_id = world.vault_value(NAME + "__TOKEN_ID")
    assert new_id != old_id and {t["id"] for t in live(world)} == {old_id, new_id}
    told = [m.text for m in world.slack.messages(CHANNEL) if "The old value keeps working until" in m.text]
    assert len(told) == 1 and "consumers reading the vault already get the new one" in told[0]
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "running"

    end_overlap(world, redis_conn, redis_url, inventory)

    assert_retired(world, redis_conn, request_id, old_id)
    with pytest.raises(Exception, match="rejected the token under test"):
        verifies(world, old_value)


def crash_paths(world) -> dict[str, tuple[str, str, str]]:
    old_id = world.token_ids[NAME]
    return {
        "create": ("cloudflare", "POST", "/client/v4/user/tokens"),
        "vault write": ("infisical", "PATCH", f"/api/v4/secrets/{NAME}"),
        "token id": ("infisical", "PATCH", f"/api/v4/secrets/{NAME}__TOKEN_ID"),
        "verify": ("cloudflare", "GET", "/client/v4/user/tokens/verify"),
        "announce": ("slack", "POST", "/api/chat.postMessage"),
        "retire": ("cloudflare", "DELETE", f"/client/v4/user/tokens/{old_id}"),
    }


@pytest.mark.parametrize("completes", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("call", ["create", "vault write", "token id", "verify", "announce", "retire"])
def test_a_worker_killed_at_any_step_leaves_one_live_token_whose_value_is_in_the_vault(
    world, redis_conn, redis_url, inventory, call, completes
):
    old_id = world.token_ids[NAME]
    service, method, path = crash_paths(world)[call]
    request_id = approved_request(redis_conn, world, "roll", NAME)
    if call == "retire":  # the kill comes at the deadline's delete: the rotation itself ran first
        assert enqueue_request(job_queue(redis_conn), request_id)
        run_worker(world, redis_url, inventory)
        redis_conn.set(OFFSET_KEY, 180)
        world.clock.advance(timedelta(seconds=180))
        job_queue(redis_conn).enqueue_call(RECONCILE_JOB)
    else:
        assert enqueue_request(job_queue(redis_conn), request_id)
    hold = getattr(world, service).faults.hold(path, method=method)
    first = start_worker(world, redis_url, inventory, **env(inventory))

    hold.wait_until_arrived(timeout=60)
    os.kill(first.pid, signal.SIGKILL)
    first.communicate(timeout=10)
    hold.release(proceed=completes)
    wait_for_lock_to_lapse(redis_conn)
    job_queue(redis_conn).enqueue_call(RECONCILE_JOB)  # the clock's minute: resume what the dead worker held
    run_worker(world, redis_url, inventory)
    if requests.load(redis_conn, request_id, now=world.clock.now()).state == "running":
        end_overlap(world, redis_conn, redis_url, inventory)

    assert_retired(world, redis_conn, request_id, old_id)


def wait_for_lock_to_lapse(conn) -> None:
    deadline = time.monotonic() + LOCK_SECONDS + 5
    while conn.exists(f"cftoken:lock:{NAME}") and time.monotonic() < deadline:
        time.sleep(0.1)


def test_a_revoke_during_the_overlap_deletes_the_old_token_and_its_twin(world, redis_conn, redis_url, inventory):
    old_id = world.token_ids[NAME]
    roll_id = approved_request(redis_conn, world, "roll", NAME)
    assert enqueue_request(job_queue(redis_conn), roll_id)
    run_worker(world, redis_url, inventory)
    new_id = world.vault_value(NAME + "__TOKEN_ID")
    assert {t["id"] for t in live(world)} == {old_id, new_id}

    revoke_id = approved_request(redis_conn, world, "revoke", NAME, reason="leaked in a CI log")
    assert enqueue_request(job_queue(redis_conn), revoke_id)
    run_worker(world, redis_url, inventory)

    assert [t for t in world.cloudflare.tokens() if t["name"] == NAME] == []
    assert world.vault_value(NAME).startswith("REVOKED")
    roll = requests.load(redis_conn, roll_id, now=world.clock.now())
    assert roll.state == "failed" and "The overlap's old token and its twin are both deleted" in roll.result
    assert requests.load(redis_conn, revoke_id, now=world.clock.now()).state == "succeeded"


def test_list_and_the_approval_message_say_which_strategy_and_when_the_old_value_dies(
    world, redis_conn, redis_url, inventory
):
    channel = Channel(world, redis_conn, redis_url, inventory)
    assert "overlap (2 min)" in channel.type("list", user=ALICE)
    assert "each rolls in place unless marked overlap" in channel.type("list", user=ALICE)

    channel.type(f"roll {NAME} expiring", user=ALICE)
    [message] = [m for m in channel.public() if m.text.startswith("Roll")]
    assert "*Strategy:* overlap: a twin token is created, stored and verified first; the old value keeps working " \
           "2 min after the new one is in the vault" in channel.read(message)
    assert "the current value keeps working 2 min more, then the old token is deleted" in channel.read(message)
    assert "stops working immediately" not in channel.read(message)
    channel.click("approve", message, user=BOB)
    run_worker(world, redis_url, inventory)

    listed = channel.type("list", user=ALICE)
    assert f"*{NAME}*" in listed and "overlap: the old value dies <!date^" in listed
