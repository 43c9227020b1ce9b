"""roll|revoke|provision NAME --dry-run from the channel, run by a real rq worker on the stand-ins: every pre-flight
result (failures included) in the answer, not one write at Cloudflare, in the vault or in FreeScout, and a
button that opens the real request."""

from __future__ import annotations

from datetime import datetime

import pytest

from domain import kept_tokens, requests
from domain.actions import REQUEST_REAL
from domain.messages import slack_date
from domain.provision_plan import plan_provisioning
from standins.world import APPROVERS
from tests.integration.provisioning_scenarios import NEW, RAXX_IO, ZONE_READ, Channel, declare, run_worker
from tests.integration.scenarios import approved_request, deliver
from tests.waiting import wait_until
from workers.operations.dry_run import dry_run as in_process_dry_run
from workers.operations.runner import run_operation

pytestmark = pytest.mark.integration
ALICE, BOB = APPROVERS
TOKEN = "CF_WAF_EDIT_RAXX_APP"
DNS = "CF_DNS_EDIT_GETRAXX_COM"
LOGIN = ("POST", "/api/v1/auth/universal-auth/login")  # Infisical's login: a read session, not a write


@pytest.fixture
def inventory(tmp_path):
    return declare(tmp_path)


@pytest.fixture
def channel(world, redis_conn, redis_url, inventory):
    return Channel(world, redis_conn, redis_url, inventory)


def writes(world) -> list[tuple[str, str, str]]:
    """Every request to a stand-in other than a read (and Infisical's login)."""
    return [(service.name, method, path)
            for service in (world.cloudflare, world.infisical, world.freescout)
            for method, path in service.requests
            if method not in ("GET", "HEAD") and (method, path) != LOGIN]


def dry_run(world, channel, redis_url, inventory, text: str) -> str:
    """Type the command, run a burst worker, return the dry run's answer in the channel."""
    before = {service.name: len(service.requests) for service in (world.cloudflare, world.infisical,
                                                                  world.freescout)}
    notice = channel.type(text, user=ALICE)
    assert "Nothing changes anywhere, and no approval is needed" in notice
    assert requests.open_requests(channel.redis, now=world.clock.now()) == []
    run_worker(world, redis_url, inventory)
    answers = channel.results("Dry run:")
    assert len(answers) == 1, channel.public()
    assert world.cloudflare.count() > before["cloudflare"]  # the checks were made just now
    return answers[0]


def test_a_dry_run_roll_shows_every_check_and_the_step_table_and_writes_nothing(world, channel, redis_url,
                                                                               inventory):
    vault_before = world.vault()

    answer = dry_run(world, channel, redis_url, inventory, f"roll {TOKEN} --dry-run")

    assert writes(world) == []
    assert world.vault() == vault_before
    assert "Nothing found that would stop it" in answer
    for check in ("vault folder readable", f"vault value {TOKEN}", "management token CF_ACCESS_MGMT",
                  f"token {TOKEN} at Cloudflare"):
        assert f"✅ {check}" in answer
    assert "➖ vault folder takes writes: not checked in a dry run" in answer
    for label in ("pre-flight", "the roll at Cloudflare", "storing the new value in the vault", "moving the expiry",
                  "verifying the new value", "reporting"):
        assert label in answer
    assert "PUT /user/tokens/{id}/value" in answer and "the old value stops working" in answer
    assert "*New expiry:*" in answer and "*Strategy:* roll" in answer
    assert "Consumers to tell" in answer
    assert "Request roll" in answer


def test_a_dry_run_roll_of_a_disabled_token_says_it_would_stop(world, channel, redis_url, inventory):
    world.break_token(TOKEN, "disable")

    answer = dry_run(world, channel, redis_url, inventory, f"roll {TOKEN} --dry-run")

    assert writes(world) == []
    assert "❌ 1 check would stop it" in answer
    assert f"❌ token {TOKEN} at Cloudflare: {TOKEN} is disabled at Cloudflare" in answer
    assert "[Request roll" not in answer  # the real roll would stop at the same check: no button leads there
    assert "Nothing to request while a ❌ check stands" in answer


def test_a_dry_run_roll_of_a_token_deleted_outside_the_bot_points_to_provision_and_offers_no_roll(
    world, channel, redis_url, inventory
):
    world.break_token(TOKEN, "delete")

    answer = dry_run(world, channel, redis_url, inventory, f"roll {TOKEN} --dry-run")

    assert writes(world) == []
    assert "(deleted outside the bot): a roll cannot bring it back; `/cftoken provision " in answer
    assert "[Request roll" not in answer


def test_a_dry_run_with_an_invalid_management_token_shows_the_failure_and_what_it_could_not_check(
    world, channel, redis_url, inventory
):
    world.put("CF_ACCESS_MGMT", "cfut_" + "x" * 40)

    answer = dry_run(world, channel, redis_url, inventory, f"revoke {TOKEN} leaked in a CI log --dry-run")

    assert writes(world) == []
    assert "❌ management token CF_ACCESS_MGMT:" in answer
    assert f"➖ token {TOKEN} at Cloudflare: not checked: no working management token" in answer
    assert "✅ FreeScout (the incident ticket): mailbox 1" in answer
    assert "the delete at Cloudflare" in answer and "DELETE /user/tokens/{id}" in answer
    assert "FreeScout: one incident conversation" in answer
    assert world.freescout.count("POST") == 0


def test_a_dry_run_provision_past_the_quota_says_so_and_creates_nothing(world, channel, redis_url, inventory):
    policy = {"effect": "allow", "resources": {f"com.cloudflare.api.account.zone.{RAXX_IO}": "*"},
              "permission_groups": [{"id": ZONE_READ}]}
    for n in range(50 - len(world.cloudflare.owned())):  # the user quota: account-owned tokens do not count
        world.cloudflare.add_token(f"OTHER_{n}", policies=[policy])
    tokens_before = len(world.cloudflare.tokens())

    answer = dry_run(world, channel, redis_url, inventory, f"provision {NEW} --dry-run")

    assert writes(world) == []
    assert len(world.cloudflare.tokens()) == tokens_before
    assert world.vault_value(NEW) is None
    assert "❌ quota: this Cloudflare user already has 50 API tokens" in answer
    for check in ("declaration", f"vault value {NEW}: missing", "name free at Cloudflare", "zones",
                  "permission groups"):
        assert f"✅ {check}" in answer
    assert "the create at Cloudflare" in answer and "POST /user/tokens" in answer
    assert f"Creates: {NEW} with DNS Write, Zone Read on raxx.io" in answer
    plan = plan_provisioning(channel_inventory(inventory).find(NEW), channel_inventory(inventory))
    assert plan.expires_on(world.clock.now()).strftime("%Y-%m-%d") in answer


def test_the_button_under_a_dry_run_opens_the_real_two_person_request(world, channel, redis_url, inventory):
    dry_run(world, channel, redis_url, inventory, f"revoke {TOKEN} leaked in a CI log --dry-run")
    message = next(m for m in channel.public() if m.text.startswith("Dry run:"))

    channel.click(REQUEST_REAL, message, user=BOB)

    [request] = requests.open_requests(channel.redis, now=world.clock.now())
    assert (request.action, request.token, request.reason, request.requester) == (
        "revoke", TOKEN, "leaked in a CI log", BOB)
    assert request.message_ts is not None  # its approval message is in the channel, waiting for a second person
    assert request.message_ts in {m.ts for m in channel.public()}


def channel_inventory(path):
    from domain.inventory import load_inventory

    return load_inventory(path)


def note_step(run) -> str:
    return next(step.changes for step in run.steps if step.label == "the note on the incident")


def test_a_provision_dry_run_says_whether_the_replacement_note_applies_and_its_button_opens_the_replacement(
    world, services, channel
):
    """In-process (no worker process): the dry run as the worker runs it, then the button as Slack sends it."""
    plain = in_process_dry_run(services, "provision", DNS, requested_by=ALICE)
    assert plain is not None and note_step(plain).endswith(
        "does not apply: no revoke to replace (the vault holds no REVOKED placeholder)")
    revoke = approved_request(services.redis, world, "revoke", DNS, "leaked in a CI log")
    run_operation(services, revoke)
    (ticket,) = world.freescout.conversations()
    before = len(writes(world))

    run = in_process_dry_run(services, "provision", DNS, requested_by=ALICE)
    deliver(services)

    assert len(writes(world)) == before
    assert run is not None and run.replaces == revoke
    assert note_step(run).endswith(f"applies: replaces `{revoke}`, whose incident #{ticket['number']} gets a note")
    message = next(m for m in reversed(channel.public()) if m.text.startswith(f"Dry run: provision {DNS}"))
    assert f"whose incident #{ticket['number']} gets a note" in channel.read(message)
    channel.click(REQUEST_REAL, message, user=BOB)
    (request,) = requests.open_requests(channel.redis, now=world.clock.now())
    assert (request.action, request.replaces, request.reason) == ("provision", revoke, f"replacement for {revoke}")


def test_a_dry_run_revoke_lists_every_token_it_would_delete_and_flags_a_live_one_it_would_leave(
    world, channel, redis_url, inventory
):
    token_id = world.token_ids[TOKEN]
    policies = world.cloudflare.token(token_id)["policies"]
    kept, _ = world.cloudflare.add_token(TOKEN, policies=policies)  # what an overlap's Keep old leaves live
    kept_at = world.clock.now()
    kept_tokens.remember(channel.redis, TOKEN, kept, request_id="roll-0123456789ab", now=kept_at, by=BOB)
    stranger, _ = world.cloudflare.add_token(TOKEN, policies=policies)  # made in the dashboard, say
    issued = world.cloudflare.token(stranger)["issued_on"]

    answer = dry_run(world, channel, redis_url, inventory, f"revoke {TOKEN} leaked in a CI log --dry-run")

    assert writes(world) == []
    assert {t["id"] for t in world.cloudflare.tokens() if t["name"] == TOKEN} == {token_id, kept, stranger}
    assert "Would delete 2 tokens at Cloudflare:" in answer
    assert f"• {token_id}: the vault's __TOKEN_ID" in answer
    assert (f"• {kept}: the old token {kept} kept on {slack_date(kept_at)} by <@{BOB}> (Keep old on "
            "`roll-0123456789ab`)") in answer
    when = slack_date(datetime.fromisoformat(issued.replace("Z", "+00:00")))
    assert (f"⚠️ A second live token with this name, {stranger}, issued {when}, is not known to the bot: the revoke "
            "leaves it; delete it in the Cloudflare dashboard if it may share the leak.") in answer


def test_a_dry_run_lists_the_consumers_and_each_secret_sync_with_its_health(services, world):
    syncs = world.add_syncs()
    world.infisical.syncs.break_destination(syncs["cf-worker-edge"]["id"], "Request failed with status code 403")
    world.infisical.syncs.retry_base, world.infisical.syncs.attempts = 0.05, 1
    world.infisical.syncs.start_run(syncs["cf-worker-edge"]["id"])
    wait_until(lambda: world.infisical.syncs.get(syncs["cf-worker-edge"]["id"])["syncStatus"] == "failed",
               what="the Worker sync to fail")
    before = len(writes(world))

    run = in_process_dry_run(services, "roll", DNS, requested_by=ALICE)

    assert run is not None and len(writes(world)) == before
    assert "Terraform / ad-hoc CLI: DNS record creation and updates for getraxx.com (new subdomains, MX records)" \
        in run.consumers
    assert ("secret sync GitHub raxx/site (sync gh-deploy): also synced to (no consumer in the inventory); "
            "auto-sync on; never run") in run.consumers
    assert ("secret sync Cloudflare Workers edge (sync cf-worker-edge): also synced to (no consumer in the "
            "inventory); auto-sync off: the bot would trigger it; last run FAILED: Request failed with status code "
            "403") in run.consumers


def test_a_dry_run_provision_of_a_token_deleted_outside_the_bot_passes_and_offers_the_request(
    world, channel, redis_url, inventory
):
    world.break_token(TOKEN, "delete")

    answer = dry_run(world, channel, redis_url, inventory, f"provision {TOKEN} --dry-run")

    assert writes(world) == []
    assert "✅ Nothing found that would stop it." in answer
    assert "is gone from Cloudflare and which Cloudflare refuses: it will be replaced" in answer
    assert "[Request provision]" in answer
