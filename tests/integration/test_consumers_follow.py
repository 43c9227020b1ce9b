"""After a roll's vault write the worker follows every secret sync of the vault folder and reports each destination
in the request's thread (issue 25), through the Procfile's web, worker and clock and the stand-ins: an auto-sync is
waited for, a sync without auto-sync is triggered, both are reported with their times and the message counts them;
a failing sync is broadcast once with Retry sync, and Retry sync succeeds once the destination recovers."""

from __future__ import annotations

import time

import pytest

from bench.processes import start_clock, start_web, start_worker
from domain import consumer_records, requests
from domain.actions import RETRY_SYNC
from domain.clock import utc_now
from domain.settings import DEFAULT_INVENTORY
from standins.slack_requests import slash_command
from standins.world import APPROVERS, CHANNEL, consumers_inventory_text
from tests.integration.test_consumers_check import inventory_with
from tests.integration.test_request_story import send
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
ALICE, BOB = APPROVERS
DNS = "CF_DNS_EDIT_GETRAXX_COM"
PAGES = "CF_PAGES_DEPLOY"
CONSUMERS = ('{ who = "site deploy", how = "GitHub Actions", sync = "gh-deploy" },\n'
             '  { who = "edge worker", how = "Worker secret", sync = "cf-worker-edge" },')


@pytest.fixture
def running(world, redis_url, tmp_path):
    """The world with its two syncs (GitHub auto-sync, Worker triggered), quick, and the three processes."""
    yield from _running(world, redis_url, inventory_with(tmp_path, CONSUMERS))


@pytest.fixture
def sandbox_running(world, redis_url, tmp_path):
    """As `running`, with the sandbox's inventory: the two syncs and a Terraform run by hand that Bob confirms."""
    inventory = tmp_path / "sandbox.toml"
    inventory.write_text(consumers_inventory_text(DEFAULT_INVENTORY.read_text(encoding="utf-8")), encoding="utf-8")
    yield from _running(world, redis_url, str(inventory))


def _running(world, redis_url: str, inventory: str):
    syncs = world.add_syncs()
    world.infisical.syncs.auto_sync_delay, world.infisical.syncs.jitter = 1.0, 1.0
    world.infisical.syncs.run_seconds, world.infisical.syncs.retry_base, world.infisical.syncs.attempts = 0.3, 0.2, 3
    env = world.settings_env(redis_url=redis_url, cftoken_inventory=inventory)
    processes = [start_worker(env), start_clock(env)]
    try:
        web = start_web(env)
        processes.append(web)
        yield web.url, syncs
    finally:
        for process in processes:
            process.stop()


def roll(world, redis_conn, web_url: str, name: str = DNS) -> tuple[str, float]:
    """Alice asks for a roll of `name`, Bob approves it; the request id and when Approve was sent."""
    signed = slash_command(signing_secret=world.signing_secret, text=f"roll {name} consumers", user_id=ALICE,
                           channel_id=CHANNEL, response_url=world.slack.new_response_url(ALICE, CHANNEL))
    assert send(web_url, signed) == 200
    request = wait_until(lambda: next((r for r in requests.open_requests(redis_conn, now=utc_now())
                                       if r.token == name), None), what="the roll request")
    ts = wait_until(lambda: requests.load(redis_conn, request.id, now=utc_now()).message_ts,
                    what="the approval message")
    approved_at = time.monotonic()
    assert send(web_url, world.signed_click("approve", request.id, user=BOB, message_ts=ts)) == 200
    return request.id, approved_at


def thread(world, redis_conn, request_id: str) -> list:
    ts = requests.load(redis_conn, request_id, now=utc_now()).message_ts
    return world.slack.thread(CHANNEL, ts)


def test_a_roll_reports_an_auto_sync_and_a_triggered_sync_in_its_thread_with_their_times(world, redis_conn,
                                                                                          running):
    web_url, syncs = running
    request_id, approved_at = roll(world, redis_conn, web_url)

    wait_until(lambda: (r := consumer_records.load(redis_conn, request_id)) and r.total and not r.following,
               what="both syncs to end")
    wait_until(lambda: sum("📦" in m.text for m in thread(world, redis_conn, request_id)) == 2,
               what="both destinations reported in the thread")
    took = time.monotonic() - approved_at
    print(f"\nApprove -> all consumers on the new value: {took:.1f} s")

    notes = [m.text for m in thread(world, redis_conn, request_id) if "📦" in m.text]
    assert any(n.startswith("📦 GitHub raxx/site (sync gh-deploy) for site deploy: on the new value at ")
               and "s after the vault write)" in n for n in notes), notes
    assert any(n.startswith("📦 Cloudflare Workers edge (sync cf-worker-edge) for edge worker: on the new value at ")
               for n in notes), notes
    new_value = world.vault_value(DNS)
    for sync in syncs.values():
        assert world.infisical.syncs.delivered(sync["id"])[DNS] == new_value
    assert world.infisical.count("POST", f"/api/v1/secret-syncs/cloudflare-workers/{syncs['cf-worker-edge']['id']}/"
                                         "sync-secrets") == 1  # triggered: auto-sync is off
    assert world.infisical.count("POST", f"/api/v1/secret-syncs/github/{syncs['gh-deploy']['id']}/"
                                         "sync-secrets") == 0  # auto-synced: never triggered
    message = wait_until(lambda: "consumers: all 2 on the new value" in _message_text(world, redis_conn, request_id),
                         what="the message to count both consumers")
    assert message


def _message_text(world, redis_conn, request_id: str) -> str:
    ts = requests.load(redis_conn, request_id, now=utc_now()).message_ts
    message = world.slack.message(CHANNEL, ts)
    return str(message.blocks) if message is not None else ""


def test_a_failing_sync_is_broadcast_once_and_retry_sync_succeeds_once_the_destination_recovers(world, redis_conn,
                                                                                              running):
    web_url, syncs = running
    worker = syncs["cf-worker-edge"]
    world.infisical.syncs.break_destination(worker["id"], "Request failed with status code 403: <!channel> no")
    request_id, _ = roll(world, redis_conn, web_url)

    failed = wait_until(lambda: [m for m in thread(world, redis_conn, request_id) if "the sync failed" in m.text],
                        what="the failure in the thread")
    wait_until(lambda: "consumers: 1 of 2 on the new value, 1 failed" in _message_text(world, redis_conn,
                                                                                       request_id),
               what="the message to count the failure")
    [broadcast] = failed
    assert broadcast.broadcast and "Infisical says: “Request failed with status code 403: &lt;!channel&gt; no”" \
        in broadcast.text
    world.infisical.syncs.recover(worker["id"])
    button = broadcast.blocks[-1]["elements"][0]
    assert button["action_id"] == RETRY_SYNC
    assert send(web_url, world.signed_click(RETRY_SYNC, button["value"], user=ALICE, message_ts=broadcast.ts)) == 200

    wait_until(lambda: any(m.text.startswith("📦 Cloudflare Workers edge") for m in thread(world, redis_conn,
                                                                                        request_id)),
               what="the retried sync on the new value")
    wait_until(lambda: "consumers: all 2 on the new value" in _message_text(world, redis_conn, request_id),
               what="the message to count both")
    assert world.infisical.syncs.delivered(worker["id"])[DNS] == world.vault_value(DNS)
    texts = [m.text for m in world.slack.messages(CHANNEL)]
    assert sum("the sync failed" in t for t in texts) == 1  # broadcast once
    assert any("pressed *Retry sync*" in t for t in texts)


def test_a_consumer_confirmed_by_hand_is_counted_once_its_owner_presses_done(world, redis_conn, sandbox_running):
    web_url, _ = sandbox_running
    request_id, _ = roll(world, redis_conn, web_url, PAGES)

    [ask] = wait_until(lambda: [m for m in thread(world, redis_conn, request_id) if m.text.startswith("✋")],
                       what="the owner asked to confirm")
    assert ask.text.startswith(f"✋ <@{BOB}>: Terraform (run by hand) copies {PAGES} by hand.")
    wait_until(lambda: "consumers: 2 of 3 on the new value" in _message_text(world, redis_conn, request_id),
               what="both syncs counted, the hand one not yet")
    done = ask.blocks[-1]["elements"][0]
    assert send(web_url, world.signed_click(done["action_id"], done["value"], user=ALICE, message_ts=ask.ts)) == 200
    assert send(web_url, world.signed_click(done["action_id"], done["value"], user=BOB, message_ts=ask.ts)) == 200

    wait_until(lambda: "consumers: all 3 on the new value" in _message_text(world, redis_conn, request_id),
               what="the confirmation counted")
    confirmed = wait_until(lambda: [m.text for m in thread(world, redis_conn, request_id) if "confirmed" in m.text],
                           what="the confirmation in the thread")
    assert confirmed == [f"✅ <@{BOB}> confirmed: the consumer is on the new value."]
    told_alice = [m.text for m in world.slack.messages(CHANNEL, visible_to=ALICE) if m.ephemeral_for == ALICE]
    assert any(f"Only <@{BOB}> can confirm this consumer." in text for text in told_alice), told_alice
