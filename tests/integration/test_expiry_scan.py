"""The expiry scan on the stand-ins' world with an injected clock, read back from the SRE channel."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from datetime import timedelta

import pytest
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from bot.app import build_bolt_app
from domain import requests
from domain.inventory import Inventory, Token, load_inventory
from domain.queueing import job_queue
from domain.settings import DEFAULT_INVENTORY
from domain.status import read_statuses, record_rotation
from standins.base import WAIT_CEILING, iso
from standins.slack import Message
from standins.world import APPROVERS, CHANNEL, DEFAULT_EXPIRY_DAYS, ENGINEER, World
from tests.conftest import make_settings
from tests.integration.scenarios import deliver, scan_and_deliver
from workers.clients.cloudflare import PER_PAGE
from workers.clients.http import RetryPolicy
from workers.scan.scan import scan
from workers.services import Services, build_services

pytestmark = pytest.mark.integration

PAGES = "CF_PAGES_DEPLOY"  # seeded 20 days from expiry
ALICE = APPROVERS[0]
TOKEN_LIST = "/client/v4/user/tokens"
_LABEL = re.compile(r"\((\d+)-day warning\)|(expired)")


def digests(world: World) -> list[Message]:
    return [m for m in world.slack.messages(CHANNEL) if m.text.startswith("Cloudflare token check")]


def sections_about(message: Message, name: str) -> list[dict]:
    return [b for b in message.blocks if b["type"] == "section" and f"*{name}*" in b["text"]["text"]]


def labels_for(world: World, name: str) -> list[str]:
    """Each warning posted for `name`, oldest first: '14d', '7d', … or 'expired'."""
    found = []
    for message in digests(world):
        for section in sections_about(message, name):
            if section["text"]["text"].startswith("✅"):
                continue  # a fix, not a warning
            match = _LABEL.search(section["text"]["text"])
            if match:
                found.append(f"{match[1]}d" if match[1] else "expired")
    return found


@pytest.fixture
def services_on(redis_url: str) -> Iterator[Callable[[World], Services]]:
    """Build job services pointed at another world (same test Redis); closed after the test."""
    built: list[Services] = []

    def build(other: World, inventory: Inventory | None = None) -> Services:
        made = build_services(make_settings(**other.settings_values(redis_url=redis_url)), clock=other.clock.now,
                              retry=RetryPolicy.instant())
        built.append(made)
        return dataclasses.replace(made, inventory=inventory) if inventory is not None else made

    yield build
    for made in built:
        made.close()


@pytest.fixture
def long_lived_world() -> Iterator[World]:
    """Every token far from expiry except CF_PAGES_READ, which has none."""
    started = World.start(
        expiry_days={name: (None if name == "CF_PAGES_READ" else 1000) for name in DEFAULT_EXPIRY_DAYS}
    )
    yield started
    started.stop()


def roll_like_the_bot(world: World, services: Services, name: str, days: int) -> None:
    """What an approved roll leaves behind: a new value, expiry moved to now + `days`, the roll time recorded."""
    now = world.clock.now()
    expires_on = (now + timedelta(days=days)).replace(microsecond=0)
    with services.management_client(services.read_vault(), services.inventory.find(name)) as cloudflare:
        token_id = world.token_ids[name]
        value = cloudflare.roll(token_id)
        current = cloudflare.get_token(token_id)
        if current.status == "expired":  # as the bot's roll does: a new expiry revives it
            current = current.model_copy(update={"status": "active"})
        cloudflare.update_token(current, expires_on=expires_on)
    world.put(name, value.get_secret_value())
    world.put(name + "__EXPIRES_AT", iso(expires_on))
    record_rotation(services.redis, name, at=now)


def scan_twice(services: Services) -> None:
    scan_and_deliver(services)
    scan_and_deliver(services)


def test_walk_to_expiry_posts_each_threshold_once_and_a_roll_starts_the_cycle_afresh(world, services):
    scan_twice(services)
    assert labels_for(world, PAGES) == []

    for step in (timedelta(days=6, minutes=1), timedelta(days=7), timedelta(days=4), timedelta(days=2),
                 timedelta(days=1)):
        world.clock.advance(step)
        scan_twice(services)

    assert labels_for(world, PAGES) == ["14d", "7d", "3d", "1d", "expired"]
    assert len(digests(world)) == 5  # no other token came near its expiry in these 21 days

    roll_like_the_bot(world, services, PAGES, days=90)
    scan_twice(services)
    assert labels_for(world, PAGES) == ["14d", "7d", "3d", "1d", "expired"]
    transcript = world.slack.channel_transcript(CHANNEL)
    assert transcript.count(f"✅ *{PAGES}*: expired — fixed") == 1

    world.clock.advance(timedelta(days=76, minutes=1))
    scan_twice(services)
    assert labels_for(world, PAGES) == ["14d", "7d", "3d", "1d", "expired", "14d"]


def test_a_bot_down_across_several_thresholds_posts_only_the_tightest(world, services):
    scan_and_deliver(services)
    world.clock.advance(timedelta(days=19, hours=12))

    scan_twice(services)

    assert labels_for(world, PAGES) == ["1d"]


def test_warnings_found_in_one_scan_go_out_as_one_message_with_a_button_per_token(world, services):
    world.clock.advance(timedelta(days=61, hours=12))

    report = scan_and_deliver(services)

    (message,) = digests(world)
    assert sorted(report.warned) == ["CF_ACCESS_MGMT:14d", "CF_DNS_EDIT_GETRAXX_COM:expired",
                                     "CF_PAGES_DEPLOY:expired", "CF_WAF_EDIT_RAXX_APP:1d"]
    assert sorted(report.problems) == ["CF_DNS_EDIT_GETRAXX_COM:expired", "CF_PAGES_DEPLOY:expired"]
    buttons = [b["accessory"] for b in message.blocks if "accessory" in b]
    # the expired ones as health problems (said once, not again as a threshold), then the warning
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("request_roll", "CF_DNS_EDIT_GETRAXX_COM"), ("request_roll", "CF_PAGES_DEPLOY"),
        ("request_roll", "CF_WAF_EDIT_RAXX_APP")]
    assert sections_about(message, "CF_ACCESS_MGMT")  # shown, without a button: the bot never rolls it
    transcript = world.slack.channel_transcript(CHANNEL)
    assert "*CF_WAF_EDIT_RAXX_APP* expires in *11 h* (1-day warning)" in transcript
    assert "*Zones* getraxx.com" in transcript and "Terraform / ad-hoc CLI" in transcript


def test_two_scans_at_once_post_a_warning_once(world, services, services_on):
    other = services_on(world)
    world.clock.advance(timedelta(days=19, hours=12))
    barrier = threading.Barrier(2)
    failures: list[BaseException] = []

    def run(job_services: Services) -> None:
        barrier.wait()
        try:
            scan(job_services)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in (services, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_CEILING)

    deliver(services)

    assert failures == []
    assert labels_for(world, PAGES) == ["1d"]


def test_companion_drift_deletion_and_a_missing_value_are_posted_once_and_again_when_they_change(world, services):
    world.put("CF_DNS_EDIT_GETRAXX_COM__EXPIRES_AT", "2030-01-01T00:00:00Z")
    world.put("CF_WAF_EDIT_RAXX_APP__TOKEN_ID", "e" * 32)
    world.cloudflare.remove(world.token_ids[PAGES])
    world.remove("CF_PAGES_READ")

    report = scan_and_deliver(services)
    scan_and_deliver(services)

    (message,) = digests(world)
    text = world.slack.as_text(message)
    assert sorted(report.problems) == ["CF_DNS_EDIT_GETRAXX_COM:companions", "CF_PAGES_DEPLOY:deleted",
                                       "CF_PAGES_READ:vault_missing", "CF_WAF_EDIT_RAXX_APP:deleted"]
    assert "CF_DNS_EDIT_GETRAXX_COM__EXPIRES_AT says 2030-01-01T00:00:00Z; Cloudflare says" in text
    assert (f"no token with id {'e' * 32}, but Cloudflare lists a token named CF_WAF_EDIT_RAXX_APP with id "
            f"{world.token_ids['CF_WAF_EDIT_RAXX_APP']}: CF_WAF_EDIT_RAXX_APP__TOKEN_ID may be wrong") in text
    assert "pins token_id" not in text  # the pin names the token Cloudflare lists: the vault's id is the one off
    assert f"gone from Cloudflare: no token with id {world.token_ids[PAGES]}" in text
    assert "no value in the vault at /MooseQuest/cloudflare (env prod)" in text

    world.put("CF_DNS_EDIT_GETRAXX_COM__EXPIRES_AT", "2031-01-01T00:00:00Z")
    scan_twice(services)

    assert len(digests(world)) == 2
    assert "2031-01-01T00:00:00Z" in world.slack.as_text(digests(world)[-1])
    assert "CF_WAF_EDIT_RAXX_APP" not in world.slack.as_text(digests(world)[-1])


def test_a_token_without_expiry_gets_one_reminder_per_cadence_period(long_lived_world, services_on):
    world, services = long_lived_world, services_on(long_lived_world)
    scan_and_deliver(services)
    world.clock.advance(timedelta(days=89))
    scan_twice(services)
    assert digests(world) == []

    world.clock.advance(timedelta(days=1, hours=1))
    scan_twice(services)
    world.clock.advance(timedelta(days=90))
    scan_twice(services)

    reminders = [m for m in digests(world) if sections_about(m, "CF_PAGES_READ")]
    assert len(reminders) == len(digests(world)) == 2
    assert "its 90-day rotation is due" in world.slack.as_text(reminders[0])
    assert "(90 days ago)" in world.slack.as_text(reminders[0]) and "(180 days ago)" in world.slack.as_text(
        reminders[1]
    )


def test_the_reminder_counts_from_the_last_roll_the_bot_recorded(world, services):
    record_rotation(services.redis, "CF_PAGES_READ", at=world.clock.now() - timedelta(days=91))

    report = scan_and_deliver(services)

    assert report.reminded == ("CF_PAGES_READ",)
    (message,) = digests(world)
    assert "(91 days ago)" in world.slack.as_text(message)
    assert sections_about(message, "CF_PAGES_READ")[0]["accessory"]["value"] == "CF_PAGES_READ"


def test_the_scan_refreshes_the_status_list_shows_for_every_token(world, services):
    world.clock.advance(timedelta(days=15))

    scan(services)

    statuses = read_statuses(services.redis)
    assert set(statuses) == set(services.inventory.names)
    assert {s.source for s in statuses.values()} == {"scan"}
    assert statuses[PAGES].state == "warning"
    assert statuses[PAGES].summary.startswith("expires ") and statuses[PAGES].summary.endswith("(4 days left)")
    assert statuses[PAGES].expires_on == world.expires_on(PAGES)
    assert statuses["CF_WAF_EDIT_RAXX_APP"].state == "healthy"


def test_no_token_value_reaches_the_channel_or_redis(world, services):
    world.clock.advance(timedelta(days=61, hours=12))
    world.put("CF_WAF_EDIT_RAXX_APP__TOKEN_ID", "e" * 32)

    scan_and_deliver(services)

    values = [world.vault_value(name) for name in services.inventory.names]
    stored = " ".join(f"{key!r} {services.redis.dump(key)!r}" for key in services.redis.scan_iter())
    transcript = world.slack.channel_transcript(CHANNEL)
    assert digests(world)
    assert all(value and value not in transcript and value not in stored for value in values)


class InlineExecutor(Executor):
    """Run Bolt's listeners in the dispatching thread, so the test reads their effects straight after."""

    def submit(self, fn, /, *args, **kwargs):  # type: ignore[override]
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller through the future
            future.set_exception(exc)
        return future


def click_request_roll(world: World, world_settings, services: Services, user: str, message: Message, name: str,
                       action: str = "request_roll"):
    client = WebClient(token=world.slack.bot_token, base_url=world.slack.url + "/api/")
    app = build_bolt_app(world_settings, services.redis, job_queue(services.redis), services.inventory,
                    client=client, clock=world.clock.now, listener_executor=InlineExecutor())
    body, headers = world.signed_click(action, name, user=user, message_ts=message.ts)  # shaped as Slack's
    return app.dispatch(BoltRequest(body=body, headers=headers))


def test_request_roll_opens_the_normal_roll_request_with_the_clicker_as_requester(world, services, world_settings):
    world.clock.advance(timedelta(days=19, hours=12))
    scan_and_deliver(services)
    (digest,) = digests(world)
    button = sections_about(digest, PAGES)[0]["accessory"]

    response = click_request_roll(world, world_settings, services, ALICE, digest, button["value"])
    deliver(services)

    assert response.status == 200
    (request,) = requests.open_requests(services.redis, now=world.clock.now())
    assert (request.action, request.token, request.requester, request.state) == ("roll", PAGES, ALICE, "pending")
    approval_message = world.slack.message(CHANNEL, request.message_ts or "")
    assert approval_message is not None and approval_message.text.startswith(f"Roll {PAGES} — waiting for approval")
    redrawn = world.slack.message(CHANNEL, digest.ts)
    (section,) = sections_about(redrawn, PAGES)
    assert "accessory" not in section and f"Roll requested by <@{ALICE}>" in section["text"]["text"]
    echoed = digest.to_api()["blocks"]  # what the click carried: Slack's block_ids, emoji and verbatim flags
    assert all(block.get("block_id") for block in echoed) and echoed != digest.blocks
    assert [block["block_id"] for block in redrawn.blocks] == [block["block_id"] for block in echoed]
    assert world.slack.refusals() == []


def test_request_roll_from_someone_who_is_not_an_approver_opens_nothing(world, services, world_settings):
    world.clock.advance(timedelta(days=19, hours=12))
    scan_and_deliver(services)
    (digest,) = digests(world)

    click_request_roll(world, world_settings, services, ENGINEER, digest, PAGES)

    assert requests.open_requests(services.redis, now=world.clock.now()) == []
    refusal = [m.text for m in world.slack.messages(CHANNEL, visible_to=ENGINEER) if m.ephemeral_for == ENGINEER]
    assert refusal and "only approvers can ask for a roll" in refusal[0]


def list_pages_requested(world: World) -> int:
    return sum(1 for method, path in world.cloudflare.requests if (method, path) == ("GET", TOKEN_LIST))


def test_one_scan_of_the_seeded_world_reads_the_vault_once_the_token_list_once_and_one_value(world, services):
    report = scan(services)

    assert world.infisical.count("GET", "/api/v4/secrets") == 1
    assert list_pages_requested(world) == 1
    assert report.value_checks == ("CF_WAF_EDIT_RAXX_APP",)  # 5 tokens, 24 scans a day: one value per scan
    assert world.cloudflare.count(prefix=TOKEN_LIST + "/") == 1 == world.cloudflare.count("GET", TOKEN_LIST + "/verify")
    print(f"\nseeded world: vault reads 1, Cloudflare list pages {list_pages_requested(world)}")


def bulk_inventory(count: int) -> Inventory:
    """The shipped inventory plus `count` generated zone-read tokens, validated like the file is."""
    shipped = load_inventory(DEFAULT_INVENTORY)
    bulk = [Token(name=f"CF_BULK_{i:03d}", zones=("raxx.app",), permissions=("Zone Read",), scope="Zone:Zone:Read",
                  cadence_days=90) for i in range(count)]
    return Inventory.model_validate({**shipped.model_dump(), "tokens": [*shipped.tokens, *bulk]})


def test_one_scan_of_500_tokens_reads_the_vault_once_and_the_token_list_once_per_page(services_on):
    inventory = bulk_inventory(495)
    days = {**DEFAULT_EXPIRY_DAYS, **{t.name: (5 if i % 10 == 0 else 90) for i, t in enumerate(inventory.tokens[5:])}}
    big = World.start(inventory=inventory, expiry_days=days)
    try:
        services = services_on(big, inventory)

        started = time.perf_counter()
        report = scan(services)
        elapsed = time.perf_counter() - started

        full_pages, short_page = divmod(len(inventory.tokens), PER_PAGE)
        assert len(inventory.tokens) == 500 and report.checked == 500
        assert big.infisical.count("GET", "/api/v4/secrets") == 1
        assert list_pages_requested(big) == full_pages  # 10 full pages; total_pages says there is no 11th
        assert short_page == 0
        assert len(report.value_checks) == 21  # 500 values over 24 hourly scans
        account_list = f"/client/v4/accounts/{inventory.account_id}/tokens"  # CF_PAGES_DEPLOY's value is checked there
        verifies = sum(big.cloudflare.count("GET", tokens + "/verify") for tokens in (TOKEN_LIST, account_list))
        assert sum(big.cloudflare.count(prefix=tokens + "/") for tokens in (TOKEN_LIST, account_list)) == 21 == verifies
        assert len(report.warned) == 50 and len(report.messages) == 2  # past Slack's 50 blocks: two messages
        assert len(read_statuses(services.redis)) == 500
        print(f"\n500 tokens: vault reads 1, Cloudflare list pages {list_pages_requested(big)}, "
              f"scan {elapsed * 1000:.0f} ms")
    finally:
        big.stop()


def test_a_deletion_is_kept_not_cleared_while_cloudflare_cannot_be_read(world, services):
    world.cloudflare.remove(world.token_ids[PAGES])
    scan_and_deliver(services)
    world.cloudflare.faults.fail_next(TOKEN_LIST, 50, "500")

    outage = scan_and_deliver(services)
    world.cloudflare.faults.clear()
    scan_and_deliver(services)

    assert outage.cloudflare_error is not None
    assert len(digests(world)) == 1
    assert read_statuses(services.redis)[PAGES].summary.startswith("gone from Cloudflare")


def test_a_token_the_bot_revoked_reads_as_revoked_not_as_a_problem_or_expiring(world, services):
    from tests.integration.scenarios import approved_request
    from workers.operations.runner import run_operation

    run_operation(services, approved_request(services.redis, world, "revoke", "CF_PAGES_DEPLOY", reason="leaked"))
    world.clock.advance(timedelta(days=7))  # CF_PAGES_DEPLOY would now be inside its 14-day warning

    report = scan(services)

    assert not any(p.startswith("CF_PAGES_DEPLOY") for p in report.problems)
    assert read_statuses(services.redis)["CF_PAGES_DEPLOY"].state == "revoked"
    assert not any(w.startswith("CF_PAGES_DEPLOY") for w in report.warned)


def test_an_expired_token_reads_as_expired_never_deleted_however_long_ago_it_expired(world, services):
    """Cloudflare lists expired tokens only with include_expired=true, and then only recently expired ones; the scan
    asks for them and reads an unlisted token by id before it calls it deleted."""
    waf = "CF_WAF_EDIT_RAXX_APP"
    world.cloudflare.set_expiry(world.token_ids[PAGES], world.clock.now() - timedelta(hours=2))
    world.cloudflare.set_expiry(world.token_ids[waf], world.clock.now() - timedelta(days=40))

    report = scan_and_deliver(services)

    assert {f"{PAGES}:expired", f"{waf}:expired"} <= set(report.problems)
    assert not [problem for problem in report.problems if problem.endswith(":deleted")]
    assert "gone from Cloudflare" not in world.slack.as_text(digests(world)[-1])
    statuses = read_statuses(services.redis)
    assert (statuses[PAGES].state, statuses[waf].state) == ("failing", "failing")
    assert statuses[PAGES].problem("expired") is not None and statuses[waf].problem("expired") is not None


def test_a_token_deleted_outside_the_bot_is_never_called_expiring_or_offered_a_roll(world, services):
    world.break_token(PAGES, "delete")
    scan_and_deliver(services)

    for step in (timedelta(days=7), timedelta(days=7), timedelta(days=48)):  # past the 14-, 7-day marks and expiry
        world.clock.advance(step)
        scan_twice(services)

    assert labels_for(world, PAGES) == []
    transcript = world.slack.channel_transcript(CHANNEL)
    assert transcript.count(f"*{PAGES}* — gone from Cloudflare") == 1 and "provision a replacement" in transcript
    assert not [b for m in digests(world) for b in sections_about(m, PAGES)
                if b.get("accessory", {}).get("text", {}).get("text") == "Request roll"]


def test_request_revoke_on_a_digest_opens_the_revoke_and_marks_its_button_used(world, services, world_settings):
    world.break_token(PAGES, "expose")
    scan_and_deliver(services)
    (digest,) = digests(world)
    (alert,) = sections_about(digest, PAGES)
    assert alert["accessory"]["action_id"] == "request_revoke"

    response = click_request_roll(world, world_settings, services, ALICE, digest, PAGES, action="request_revoke")
    deliver(services)

    assert response.status == 200
    (request,) = requests.open_requests(services.redis, now=world.clock.now())
    assert (request.action, request.token, request.requester) == ("revoke", PAGES, ALICE)
    (section,) = sections_about(world.slack.message(CHANNEL, digest.ts), PAGES)
    assert "accessory" not in section and f"Revoke requested by <@{ALICE}>" in section["text"]["text"]
    assert world.slack.refusals() == []


def _alerts(world: World, start: str) -> list[str]:
    return [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith(start)]


@pytest.mark.parametrize("broken", ["stripped of API Tokens Write", "expired"])
def test_a_management_token_that_cannot_list_tokens_is_told_once_with_failure_mode_d_and_once_when_fixed(
    world, services, broken
):
    management = world.token_ids["CF_ACCESS_MGMT"]
    policies = next(t["policies"] for t in world.cloudflare.tokens() if t["id"] == management)
    if broken == "expired":
        world.cloudflare.set_expiry(management, world.clock.now() - timedelta(minutes=1))
    else:
        world.cloudflare.set_policies(management, [
            p for p in policies if all(g["name"] != "API Tokens Write" for g in p["permission_groups"])])

    scan_and_deliver(services)
    scan_and_deliver(services)

    [alert] = _alerts(world, ":rotating_light: The management token CF_ACCESS_MGMT cannot list API tokens")
    assert "the bot cannot check, roll, revoke or provision anything" in alert
    assert "Next step: Failure mode D: escalate to an operator; rotate CF_ACCESS_MGMT in the dashboard" in alert

    world.cloudflare.set_expiry(management, world.clock.now() + timedelta(days=30))
    world.cloudflare.set_policies(management, policies)
    scan_and_deliver(services)
    scan_and_deliver(services)

    assert len(_alerts(world, ":rotating_light:")) == 1
    assert len(_alerts(world, ":white_check_mark: The management token CF_ACCESS_MGMT lists API tokens")) == 1
