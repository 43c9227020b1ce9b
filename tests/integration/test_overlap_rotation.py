"""rotation = "overlap": a twin is created, stored and verified while the old value keeps working; when the
overlap ends the old token is deleted. Real rq workers (SIGKILLed at every step), real Redis, the stand-ins."""

from __future__ import annotations

import json
import os
import re
import signal
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from slack_bolt.request import BoltRequest

from domain import kept_tokens, requests
from domain.actions import OVERLAP_KEEP_OLD, OVERLAP_RETIRE_NOW
from domain.inventory import load_inventory
from domain.messages import slack_date
from domain.queueing import RECONCILE_JOB, enqueue_request, job_queue
from domain.settings import DEFAULT_INVENTORY
from domain.timestamps import parse_timestamp
from standins.slack import Message
from standins.world import APPROVERS, CHANNEL, ENGINEER, World
from tests.integration.provisioning_scenarios import Channel, start_worker
from tests.integration.scenarios import approved_request, leaks, redis_dump, token_values
from tests.waiting import wait_until
from workers.clients.cloudflare import CloudflareClient
from workers.operations.checkpoints import Checkpoint
from workers.operations.revoke_lookup import superseded_result

pytestmark = pytest.mark.integration
NAME = "CF_DNS_EDIT_GETRAXX_COM"
OFFSET_KEY = "cftoken:test:clock-offset"
LOCK_SECONDS = 2
ALICE, BOB = APPROVERS


@pytest.fixture
def inventory(tmp_path) -> Path:
    """The shipped inventory with NAME on a two-minute overlap (and, as `cftoken check` asks, no pinned id)."""
    text = Path(DEFAULT_INVENTORY).read_text(encoding="utf-8")
    text, replaced = re.subn(rf'name = "{NAME}"\n',
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

    hold.wait_until_arrived()
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
    wait_until(lambda: not conn.exists(f"cftoken:lock:{NAME}"), what=f"the dead worker's lock on {NAME} to lapse")


def test_a_revoke_during_the_overlap_names_and_deletes_the_old_token_and_its_twin(
    world, redis_conn, redis_url, inventory
):
    channel = Channel(world, redis_conn, redis_url, inventory)
    old_id = world.token_ids[NAME]
    _, roll_id, new_id = waiting_overlap(channel, world, redis_url, inventory)
    assert {t["id"] for t in live(world)} == {old_id, new_id}

    channel.type(f"revoke {NAME} leaked in a CI log --dry-run", user=BOB)
    run_worker(world, redis_url, inventory)
    channel.deliver()
    [plan] = channel.results("Dry run:")
    assert f"• {new_id}: the vault's __TOKEN_ID" in plan and f"• {old_id}: the overlap's old token (roll `{roll_id}`" \
        in plan and "not known to the bot" not in plan
    channel.type(f"revoke {NAME} leaked in a CI log", user=BOB)
    [message] = [m for m in channel.public() if m.text.startswith("Revoke")]
    assert f"Also deletes the overlap's old token {old_id} and its twin {new_id} (roll `{roll_id}`" \
        in channel.read(message)
    channel.click("approve", message, user=ALICE)
    run_worker(world, redis_url, inventory)
    revoke_id = channel.redis.get(f"cftoken:open:revoke:{NAME}").decode()

    assert [t for t in world.cloudflare.tokens() if t["name"] == NAME] == []
    assert world.vault_value(NAME).startswith("REVOKED")
    roll = requests.load(redis_conn, roll_id, now=world.clock.now())
    assert roll.state == "failed" and "The overlap's old token and its twin are both deleted" in roll.result
    assert requests.load(redis_conn, revoke_id, now=world.clock.now()).state == "succeeded"


def test_a_revoke_resumed_after_its_pre_flight_cancelled_the_overlap_still_deletes_both_tokens(
    world, redis_conn, redis_url, inventory
):
    channel = Channel(world, redis_conn, redis_url, inventory)
    old_id = world.token_ids[NAME]
    _, roll_id, new_id = waiting_overlap(channel, world, redis_url, inventory)
    revoke_id = approved_request(redis_conn, world, "revoke", NAME, reason="leaked in a CI log")
    now = world.clock.now()  # what a worker killed right after the pre-flight's cancel leaves behind:
    requests.supersede(redis_conn, roll_id, result=f"{superseded_result(revoke_id)} (cut short)", now=now)
    Checkpoint.load(redis_conn, roll_id).finish(now=now)
    Checkpoint.open(redis_conn, revoke_id, action="revoke", token=NAME, first="preflight", now=now)
    requests.mark_running(redis_conn, revoke_id, now=now)

    job_queue(redis_conn).enqueue_call(RECONCILE_JOB)  # the clock's minute resumes it
    run_worker(world, redis_url, inventory)

    assert [t for t in world.cloudflare.tokens() if t["name"] == NAME] == []
    revoke = requests.load(redis_conn, revoke_id, now=world.clock.now())
    assert revoke.state == "succeeded" and old_id in revoke.result and "not known to the bot" not in revoke.result
    assert new_id == world.vault_value(NAME + "__TOKEN_ID")


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
    retire_at = requests.load(redis_conn, message_request(channel), now=world.clock.now()).retire_at
    shown = channel.read(message)  # running: the deadline the worker fixed, not an estimate
    assert "if it runs now" not in shown and "2 min more" not in shown
    assert f"the old value keeps working until {slack_date(retire_at)}, then the old token is deleted" in shown


def message_request(channel: Channel) -> str:
    return channel.redis.get(f"cftoken:open:roll:{NAME}").decode()


def waiting_overlap(channel: Channel, world, redis_url, inventory) -> tuple[Message, str, str]:
    """Alice asks, Bob approves, a worker runs the roll up to the wait: the message, the request id, the twin's id."""
    channel.type(f"roll {NAME} expiring", user=ALICE)
    [message] = [m for m in channel.public() if m.text.startswith("Roll")]
    channel.click("approve", message, user=BOB)
    run_worker(world, redis_url, inventory)
    channel.deliver()
    request_id = channel.redis.get(f"cftoken:open:roll:{NAME}").decode()
    return message, request_id, world.vault_value(NAME + "__TOKEN_ID")


def buttons(world, message: Message) -> list[str]:
    shown = world.slack.message(CHANNEL, message.ts).blocks
    return [e["action_id"] for b in shown if b["type"] == "actions" for e in b["elements"]]


def press(channel: Channel, action_id: str, request_id: str, message: Message, *, user: str) -> str:
    """A signed click on the request's own message (buttons shown or not); what only `user` was told, or ""."""
    body, headers = channel.world.signed_click(action_id, request_id, user=user, message_ts=message.ts)
    assert channel.app.dispatch(BoltRequest(body=body, headers=headers)).status == 200
    channel.deliver()
    private = [m for m in channel.world.slack.messages(CHANNEL, visible_to=user) if m.ephemeral_for == user]
    return channel.world.slack.as_text(private[-1]) if private else ""


def test_retire_old_now_by_an_approver_deletes_the_old_token_at_once(world, redis_conn, redis_url, inventory):
    channel = Channel(world, redis_conn, redis_url, inventory)
    old_id, old_value = world.token_ids[NAME], world.vault_value(NAME)
    message, request_id, new_id = waiting_overlap(channel, world, redis_url, inventory)
    assert buttons(world, message) == [OVERLAP_RETIRE_NOW, OVERLAP_KEEP_OLD]
    assert "the old value keeps working until" in channel.read(message)

    channel.click(OVERLAP_RETIRE_NOW, message, user=BOB)
    assert buttons(world, message) == []
    assert f"<@{BOB}> pressed *Retire old now*" in channel.read(message)
    run_worker(world, redis_url, inventory)  # the job the click queued: no clock advance, no reconcile

    assert world.cloudflare.token(old_id) is None and [t["id"] for t in live(world)] == [new_id]
    assert world.vault_value(NAME) != old_value and verifies(world, world.vault_value(NAME)) == "active"
    request = requests.load(redis_conn, request_id, now=world.clock.now())
    assert request.state == "succeeded" and request.overlap_end == "retire_now" and request.overlap_end_by == BOB
    assert f"deleted early: <@{BOB}> pressed Retire old now" in request.result
    [result] = channel.results(f"✅ Rolled {NAME} by overlap")
    assert f"<@{BOB}> pressed Retire old now" in result
    assert f"<@{BOB}> pressed *Retire old now*" in " ".join(channel.results("🗑️"))


def test_a_non_approver_pressing_retire_or_keep_is_refused_and_nothing_changes(
    world, redis_conn, redis_url, inventory
):
    channel = Channel(world, redis_conn, redis_url, inventory)
    old_id = world.token_ids[NAME]
    message, request_id, new_id = waiting_overlap(channel, world, redis_url, inventory)

    for action in (OVERLAP_RETIRE_NOW, OVERLAP_KEEP_OLD):
        refusal = press(channel, action, request_id, message, user=ENGINEER)
        assert "only approvers can end an overlap early" in refusal and "Nothing changed" in refusal

    request = requests.load(redis_conn, request_id, now=world.clock.now())
    assert request.state == "running" and request.overlap_end is None
    assert len(job_queue(redis_conn)) == 0 and {t["id"] for t in live(world)} == {old_id, new_id}


def test_keep_old_leaves_both_tokens_live_tells_the_channel_once_and_a_second_press_is_refused(
    world, redis_conn, redis_url, inventory
):
    channel = Channel(world, redis_conn, redis_url, inventory)
    old_id, old_value = world.token_ids[NAME], world.vault_value(NAME)
    message, request_id, new_id = waiting_overlap(channel, world, redis_url, inventory)

    refusal = press(channel, OVERLAP_KEEP_OLD, request_id, message, user=ALICE)  # Alice asked for the roll
    assert "needs an approver other than" in refusal and "Nothing changed" in refusal
    assert requests.load(redis_conn, request_id, now=world.clock.now()).overlap_end is None
    channel.click(OVERLAP_KEEP_OLD, message, user=BOB)
    assert "already pressed *Keep old*" in press(channel, OVERLAP_RETIRE_NOW, request_id, message, user=ALICE)
    run_worker(world, redis_url, inventory)
    assert "already pressed *Keep old*" in press(channel, OVERLAP_KEEP_OLD, request_id, message, user=BOB)

    assert {t["id"] for t in live(world)} == {old_id, new_id}
    assert verifies(world, old_value) == "active" and verifies(world, world.vault_value(NAME)) == "active"
    assert world.vault_value(NAME + "__TOKEN_ID") == new_id
    request = requests.load(redis_conn, request_id, now=world.clock.now())
    assert request.state == "succeeded" and f"The old token {old_id} was kept by <@{BOB}>" in request.result
    told = [m for m in channel.public() if f"The old token {old_id} was kept by" in m.text]
    assert len(told) == 1 and "second live token" in told[0].text
    listed = channel.type("list", user=ALICE)
    assert "overlap (2 min)" in listed and "the old value dies" not in listed
    shown = channel.read(message)  # finished: what happened, in the past tense
    assert "if it runs now" not in shown and " is created" not in shown
    assert f"the old value was to keep working until {slack_date(request.retire_at)}, and was kept live" in shown


def test_a_revoke_after_keep_old_names_the_kept_old_token_when_asked_and_deletes_it_too(
    world, redis_conn, redis_url, inventory
):
    channel = Channel(world, redis_conn, redis_url, inventory)
    old_id = world.token_ids[NAME]
    message, roll_id, new_id = waiting_overlap(channel, world, redis_url, inventory)
    channel.click(OVERLAP_KEEP_OLD, message, user=BOB)
    run_worker(world, redis_url, inventory)
    kept_at = parse_timestamp(kept_tokens.kept_entries(redis_conn, NAME)[old_id]["at"])

    channel.type(f"revoke {NAME} leaked in a CI log", user=BOB)
    [asked] = [m for m in channel.public() if m.text.startswith("Revoke")]
    assert (f"Also deletes the old token {old_id} kept on {slack_date(kept_at)} by <@{BOB}> (Keep old on "
            f"`{roll_id}`)") in channel.read(asked)
    channel.click("approve", asked, user=ALICE)
    run_worker(world, redis_url, inventory)
    channel.deliver()

    assert [t for t in world.cloudflare.tokens() if t["name"] == NAME] == []
    revoke_id = channel.redis.get(f"cftoken:open:revoke:{NAME}").decode()
    revoke = requests.load(redis_conn, revoke_id, now=world.clock.now())
    assert revoke.state == "succeeded" and f"with the other live token of the name ({old_id})" in revoke.result
    assert "not known to the bot" not in revoke.result
    assert not redis_conn.exists(f"cftoken:kept:{NAME}")
    assert "Also deletes" not in channel.read(asked)  # done: the result says what was deleted


def test_a_waiting_overlap_costs_no_call_and_no_redraw_until_its_deadline(world, redis_conn, redis_url, inventory):
    channel = Channel(world, redis_conn, redis_url, inventory)
    old_id = world.token_ids[NAME]
    _, request_id, _ = waiting_overlap(channel, world, redis_url, inventory)
    deadline = requests.load(redis_conn, request_id, now=world.clock.now()).retire_at
    calls = (len(world.cloudflare.requests), len(world.infisical.requests), world.slack.count(prefix="/api/chat."))

    # The clock's reconcile, minute after minute: 90 s and 45 s before the deadline, then a minute after it. The
    # worker's time is set from the deadline, not from the start, however long the machine takes to start a worker.
    for before, step in ((90, 60), (45, 50), (-60, 70)):
        redis_conn.set(OFFSET_KEY, (deadline - datetime.now(UTC)).total_seconds() - before)
        world.clock.advance(timedelta(seconds=step))
        job_queue(redis_conn).enqueue_call(RECONCILE_JOB)
        run_worker(world, redis_url, inventory)
        channel.deliver()
        if before > 0:  # before the deadline: nothing asked of anyone
            assert (len(world.cloudflare.requests), len(world.infisical.requests),
                    world.slack.count(prefix="/api/chat.")) == calls  # chat.update: a redraw

    assert world.cloudflare.token(old_id) is None and len(live(world)) == 1


def test_a_choice_forged_into_the_request_record_is_refused(world, redis_conn, redis_url, inventory):
    channel = Channel(world, redis_conn, redis_url, inventory)
    old_id = world.token_ids[NAME]
    _, request_id, _ = waiting_overlap(channel, world, redis_url, inventory)
    key = requests.request_key(request_id)
    record = json.loads(redis_conn.get(key))
    redis_conn.set(key, json.dumps({**record, "overlap_end": "retire_now", "overlap_end_by": ENGINEER}))

    job_queue(redis_conn).enqueue_call(RECONCILE_JOB)  # the clock's minute reads it
    run_worker(world, redis_url, inventory)

    assert world.cloudflare.token(old_id)["status"] == "active"


def test_an_overlap_follows_its_consumers_syncs_to_the_new_value_before_the_old_one_is_retired(
    world, redis_conn, redis_url, inventory
):
    syncs = world.add_syncs()
    world.infisical.syncs.auto_sync_delay = 0.5
    request_id = approved_request(redis_conn, world, "roll", NAME)
    assert enqueue_request(job_queue(redis_conn), request_id)

    run_worker(world, redis_url, inventory)

    new_value = world.vault_value(NAME)
    for sync in syncs.values():
        assert world.infisical.syncs.delivered(sync["id"])[NAME] == new_value
    notes = [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith("📦")]
    assert len(notes) == 2 and all("on the new value at" in note for note in notes), notes
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "running"  # the overlap waits
