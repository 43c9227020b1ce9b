"""roll NAME on the worker side, in-process, against the stand-ins and Redis."""

from datetime import timedelta

import pytest

from domain import requests
from standins.world import CHANNEL
from tests.integration.scenarios import approved_request, deliver, leaks, redis_dump, token_values
from workers.operations.checkpoints import Checkpoint, unfinished
from workers.operations.reconcile import reconcile
from workers.operations.runner import run_operation

pytestmark = pytest.mark.integration
DNS = "CF_DNS_EDIT_GETRAXX_COM"
PAGES = "CF_PAGES_DEPLOY"  # account-owned, seeded with a legacy value
SECRETS = "/api/v4/secrets"


def channel(world) -> str:
    return world.slack.channel_transcript(CHANNEL)


def posted(world, prefix: str) -> int:
    """How many messages the bot posted that start with `prefix` (the approval message is not one of them)."""
    return sum(1 for message in world.slack.messages(CHANNEL) if message.text.startswith(prefix))


@pytest.mark.parametrize(("name", "prefix"), [(DNS, "cfut_"), (PAGES, "cfat_")], ids=["user", "account"])
def test_a_roll_stores_a_new_live_value_and_moves_both_expiries(world, services, redis_conn, name, prefix):
    old_value = world.vault_value(name)
    request_id = approved_request(redis_conn, world, "roll", name)

    run_operation(services, request_id)

    deliver(services)

    new_value = world.vault_value(name)
    assert new_value != old_value and new_value.startswith(prefix)  # a legacy account value comes back cfat_
    assert world.live_value(name) == new_value
    expected_expiry = (world.clock.now() + timedelta(days=90)).replace(microsecond=0)
    assert abs(world.expires_on(name) - expected_expiry) < timedelta(seconds=5)
    assert world.vault_value(name + "__EXPIRES_AT") == world.expires_on(name).strftime("%Y-%m-%dT%H:%M:%SZ")
    request = requests.load(redis_conn, request_id, now=world.clock.now())
    assert request.state == "succeeded"
    assert posted(world, f"✅ Rolled {name}") == 1
    assert unfinished(redis_conn) == []


def test_the_approval_message_shows_the_result_and_loses_its_buttons(world, services, redis_conn):
    request_id = approved_request(redis_conn, world, "roll", DNS)
    ts = requests.load(redis_conn, request_id, now=world.clock.now()).message_ts

    run_operation(services, request_id)

    deliver(services)

    message = world.slack.as_text(world.slack.message(CHANNEL, ts))
    assert f"*Rolled {DNS}*" in message
    assert "[Approve]" not in message and "What will happen" not in message


def test_a_roll_leaves_no_token_value_in_redis_the_channel_or_logs(world, services, redis_conn, caplog):
    caplog.set_level("DEBUG")
    request_id = approved_request(redis_conn, world, "roll", DNS)

    run_operation(services, request_id)

    deliver(services)

    values = token_values(world)
    assert len(values) >= 6  # five seeded, one rolled
    assert leaks(redis_dump(redis_conn), values) == []
    assert leaks(channel(world), values) == []
    assert leaks(caplog.text, values) == []


def test_a_broken_management_token_stops_the_roll_before_anything_changes(world, services, redis_conn):
    world.cloudflare.set_status(world.token_ids["CF_ACCESS_MGMT"], "disabled")
    old_value = world.vault_value(DNS)
    request_id = approved_request(redis_conn, world, "roll", DNS)

    run_operation(services, request_id)

    deliver(services)

    assert world.vault_value(DNS) == old_value == world.live_value(DNS)
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "failed"
    text = channel(world)
    assert f"❌ Roll of {DNS} stopped at pre-flight" in text
    assert "Nothing was changed" in text and "Failure mode D" in text
    assert unfinished(redis_conn) == []


def test_a_cloudflare_error_on_the_roll_itself_is_not_retried_and_changes_nothing(world, services, redis_conn):
    token_id = world.token_ids[DNS]
    world.cloudflare.faults.fail_next(f"/client/v4/user/tokens/{token_id}/value", 1, "500")
    old_value = world.vault_value(DNS)
    request_id = approved_request(redis_conn, world, "roll", DNS)

    run_operation(services, request_id)

    deliver(services)

    assert world.cloudflare.count("PUT", f"/client/v4/user/tokens/{token_id}/value") == 1
    assert world.vault_value(DNS) == old_value == world.live_value(DNS)
    assert "Nothing was changed" in channel(world)


def test_rate_limits_and_a_5xx_burst_during_pre_flight_are_retried(world, services, redis_conn):
    world.cloudflare.faults.fail_next(f"/client/v4/user/tokens/{world.token_ids[DNS]}", 1, "429", method="GET")
    world.infisical.faults.fail_next(SECRETS, 2, "503", method="GET")
    request_id = approved_request(redis_conn, world, "roll", DNS)

    run_operation(services, request_id)

    deliver(services)

    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    assert world.live_value(DNS) == world.vault_value(DNS)


def test_a_vault_outage_after_the_roll_pauses_with_the_value_sealed_then_the_reconciler_finishes(
    world, services, redis_conn
):
    world.infisical.faults.fail_next(f"{SECRETS}/{DNS}", 8, "503", method="PATCH", exact=True)
    request_id = approved_request(redis_conn, world, "roll", DNS)

    run_operation(services, request_id)

    deliver(services)

    assert unfinished(redis_conn) == [request_id]
    checkpoint = Checkpoint.load(redis_conn, request_id)
    assert checkpoint.step == "store" and checkpoint.sealed()
    assert world.live_value(DNS) not in redis_dump(redis_conn).decode(errors="replace")
    assert f"⚠️ Roll of {DNS} paused at storing the new value in the vault" in channel(world)
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "running"

    world.infisical.faults.clear()
    reconcile(services)
    deliver(services)

    assert world.vault_value(DNS) == world.live_value(DNS)
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    assert posted(world, f"✅ Rolled {DNS}") == 1
    assert Checkpoint.load(redis_conn, request_id).sealed() is None
    assert unfinished(redis_conn) == []


def test_a_token_without_expiry_keeps_no_expiry(world, services, redis_conn):
    request_id = approved_request(redis_conn, world, "roll", "CF_PAGES_READ")

    run_operation(services, request_id)

    deliver(services)

    assert world.expires_on("CF_PAGES_READ") is None
    assert world.vault_value("CF_PAGES_READ__EXPIRES_AT") is None
    assert world.live_value("CF_PAGES_READ") == world.vault_value("CF_PAGES_READ")


def test_a_token_whose_id_comes_from_the_vault_companion_rolls(world, services, redis_conn):
    request_id = approved_request(redis_conn, world, "roll", "CF_PAGES_DEPLOY")

    run_operation(services, request_id)

    deliver(services)

    assert world.live_value("CF_PAGES_DEPLOY") == world.vault_value("CF_PAGES_DEPLOY")


def test_running_a_finished_roll_again_changes_nothing(world, services, redis_conn):
    request_id = approved_request(redis_conn, world, "roll", DNS)
    run_operation(services, request_id)
    deliver(services)
    value = world.vault_value(DNS)

    run_operation(services, request_id)

    deliver(services)

    assert world.vault_value(DNS) == value == world.live_value(DNS)
    assert posted(world, f"✅ Rolled {DNS}") == 1


def test_rolling_an_expired_token_makes_it_work_again(world, services, redis_conn):
    world.clock.advance(timedelta(days=45))  # CF_DNS_EDIT_GETRAXX_COM expired four days ago
    request_id = approved_request(redis_conn, world, "roll", DNS)

    run_operation(services, request_id)

    deliver(services)

    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    assert world.live_value(DNS) == world.vault_value(DNS)
    assert world.expires_on(DNS) > world.clock.now() + timedelta(days=89)


def test_a_disabled_token_is_not_rolled(world, services, redis_conn):
    world.cloudflare.set_status(world.token_ids[DNS], "disabled")
    old_value = world.vault_value(DNS)
    request_id = approved_request(redis_conn, world, "roll", DNS)

    run_operation(services, request_id)

    deliver(services)

    assert world.vault_value(DNS) == old_value
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "failed"
    assert "is disabled at Cloudflare" in channel(world)
