"""One operation per token, pauses included; errors end, pause or hand over an operation as its step table says;
one operation's failure never stops reconcile from reaching the next. In-process, against the stand-ins and Redis."""

from __future__ import annotations

import threading

import pytest

from domain import requests
from standins.base import WAIT_CEILING
from standins.world import CHANNEL, CLIENT_ID
from tests.conftest import make_settings
from tests.integration.scenarios import approved_request, deliver
from workers.clients.http import RetryPolicy
from workers.operations.checkpoints import Checkpoint, unfinished
from workers.operations.machine import Step, StepMachine
from workers.operations.reconcile import reconcile
from workers.operations.runner import run_operation
from workers.operations.token_lock import token_lock
from workers.services import build_services

pytestmark = pytest.mark.integration
DNS = "CF_DNS_EDIT_GETRAXX_COM"
WAF = "CF_WAF_EDIT_RAXX_APP"
VAULT_WRITE = f"/api/v4/secrets/{DNS}"


def posted(world, prefix: str) -> list[str]:
    return [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith(prefix)]


def state(conn, world, request_id: str) -> str:
    return requests.load(conn, request_id, now=world.clock.now()).state


def paused_roll(world, services, conn) -> str:
    """A roll of DNS paused after Cloudflare rolled: the vault answers 503 to writes of the token's value."""
    world.infisical.faults.fail_next(VAULT_WRITE, 10_000, "503", method="PATCH", exact=True)
    request_id = approved_request(conn, world, "roll", DNS)
    run_operation(services, request_id)
    assert Checkpoint.load(conn, request_id).step == "store" and unfinished(conn) == [request_id]
    return request_id


def test_a_revoke_approved_beside_a_paused_roll_cancels_the_roll_and_is_the_one_outcome(world, services, redis_conn):
    roll_id = paused_roll(world, services, redis_conn)
    revoke_id = approved_request(redis_conn, world, "revoke", DNS, reason="leaked")

    run_operation(services, revoke_id)  # the vault still refuses writes: the revoke pauses after the delete

    deliver(services)
    world.infisical.faults.clear()
    reconcile(services)
    deliver(services)
    reconcile(services)
    deliver(services)

    assert world.cloudflare.token(world.token_ids[DNS]) is None
    assert world.vault_value(DNS).startswith("REVOKED ") and revoke_id in world.vault_value(DNS)
    assert len(world.freescout.conversations()) == 1
    assert state(redis_conn, world, roll_id) == "failed" and state(redis_conn, world, revoke_id) == "succeeded"
    [cancelled] = posted(world, f"⏹️ Roll of {DNS}")
    assert f"revoke `{revoke_id}` supersedes it" in cancelled and "storing the new value in the vault" in cancelled
    assert len(posted(world, f"✅ Revoked {DNS}")) == 1
    assert posted(world, f"✅ Rolled {DNS}") == [] and posted(world, f"❌ Roll of {DNS}") == []
    assert unfinished(redis_conn) == [] and Checkpoint.load(redis_conn, roll_id).sealed() is None


def test_a_resumed_roll_never_writes_over_a_revoked_placeholder(world, services, redis_conn):
    roll_id = paused_roll(world, services, redis_conn)
    world.infisical.faults.clear()
    world.put(DNS, "REVOKED 2026-03-01T12:00:00Z by hand")  # revoked outside the bot meanwhile
    world.cloudflare.remove(world.token_ids[DNS])

    reconcile(services)

    deliver(services)

    assert world.vault_value(DNS) == "REVOKED 2026-03-01T12:00:00Z by hand"
    assert state(redis_conn, world, roll_id) == "failed"
    [result] = posted(world, f"❌ Roll of {DNS} needs an operator")
    assert "REVOKED placeholder" in result
    assert unfinished(redis_conn) == []


def test_a_vault_that_refuses_the_new_value_ends_the_roll_for_an_operator_saying_where_each_value_is(
    world, services, redis_conn
):
    hold = world.cloudflare.faults.hold(f"/client/v4/user/tokens/{world.token_ids[DNS]}/value", method="PUT")
    request_id = approved_request(redis_conn, world, "roll", DNS)
    worker = threading.Thread(target=run_operation, args=(services, request_id))
    worker.start()
    hold.wait_until_arrived()
    world.infisical.set_write_allowed(CLIENT_ID, False)  # someone narrowed the bot's vault permissions
    hold.release(proceed=True)
    worker.join(timeout=WAIT_CEILING)
    deliver(services)

    assert state(redis_conn, world, request_id) == "failed"
    [result] = posted(world, f"❌ Roll of {DNS} needs an operator")
    assert "Cloudflare has rolled the token: the value in the vault no longer works" in result
    assert "The new value the bot held was discarded" in result
    assert "retries every minute" not in world.slack.channel_transcript(CHANNEL)
    assert [m for m in world.slack.messages(CHANNEL) if "request_reroll" in str(m.blocks)]
    assert unfinished(redis_conn) == [] and Checkpoint.load(redis_conn, request_id).sealed() is None


def test_a_stranded_revoke_that_cannot_run_with_these_settings_does_not_stop_a_paused_roll(world, redis_conn, redis_url):
    unconfigured = build_services(
        make_settings(**{**world.settings_values(redis_url=redis_url), "freescout_url": None, "freescout_api_key": None,
                         "freescout_mailbox_id": None, "freescout_user_id": None}),
        clock=world.clock.now, retry=RetryPolicy.instant(),
    )
    try:
        roll_id = paused_roll(world, unconfigured, redis_conn)
        revoke_id = approved_request(redis_conn, world, "revoke", WAF, reason="compromised")
        Checkpoint.open(redis_conn, revoke_id, action="revoke", token=WAF, first="preflight", now=world.clock.now())
        world.infisical.faults.clear()
        assert unfinished(redis_conn) == sorted([revoke_id, roll_id]) and revoke_id < roll_id

        reconcile(unconfigured)

        deliver(unconfigured)
    finally:
        unconfigured.close()

    assert state(redis_conn, world, roll_id) == "succeeded"
    assert world.vault_value(DNS) == world.live_value(DNS)
    assert state(redis_conn, world, revoke_id) == "failed"
    [refused] = posted(world, f"❌ Revoke of {WAF} stopped at pre-flight before anything changed")
    assert "FreeScout is not configured" in refused
    assert world.cloudflare.token(world.token_ids[WAF]) is not None
    assert unfinished(redis_conn) == []


def test_an_operation_that_fails_unexpectedly_is_reported_with_a_reference_and_the_next_one_resumes(
    world, services, redis_conn, caplog
):
    roll_id = paused_roll(world, services, redis_conn)
    ghost = approved_request(redis_conn, world, "revoke", "CF_NOT_IN_THE_INVENTORY", reason="removed since")
    Checkpoint.open(redis_conn, ghost, action="revoke", token="CF_NOT_IN_THE_INVENTORY", first="preflight",
                    now=world.clock.now())
    world.infisical.faults.clear()

    reconcile(services)

    deliver(services)
    reconcile(services)
    deliver(services)

    assert state(redis_conn, world, roll_id) == "succeeded"
    [told] = posted(world, "⚠️ Revoke of CF_NOT_IN_THE_INVENTORY")
    assert "could not be resumed" in told and "no longer in the inventory" in told


class Exploding(StepMachine):
    """An operation whose second step hits a bug: what every operation does with an error outside the tree."""

    verb, noun, unchanged = "Test", "test", "nothing was touched"
    opens_client = False

    def start(self) -> None:
        self.advance()

    def boom(self) -> None:
        raise KeyError("a bug")

    table = (
        Step("start", "the start", start, changed=False, where="Nothing was touched."),
        Step("boom", "the explosion", boom, changed=True, where="Half of it is done."),
    )


def test_an_unexpected_error_after_a_change_pauses_and_posts_its_reference_once(world, services, redis_conn, caplog):
    request_id = approved_request(redis_conn, world, "roll", DNS)
    request = requests.mark_running(redis_conn, request_id, now=world.clock.now())
    token = services.inventory.find(DNS)

    for _ in range(2):  # run, then resume: the reference is posted once
        checkpoint = Checkpoint.open(redis_conn, request_id, action="roll", token=DNS, first="start",
                                     now=world.clock.now())
        with token_lock(services, DNS) as lock:
            machine = Exploding(services, checkpoint, request, token, lock)
            try:
                machine.run()
            except Exception as exc:  # noqa: BLE001 - as the runners do
                machine.stop(exc)

    deliver(services)
    [told] = posted(world, f"⚠️ Test of {DNS} paused at the explosion")
    reference = told.split("reference `")[1].split("`")[0]
    assert "an unexpected error" in told and "Half of it is done." in told
    assert f"unexpected error, reference {reference}" in caplog.text
    assert unfinished(redis_conn) == [request_id]
