"""provision NAME end to end: a person declares a token, asks in the channel, a second approver approves, a real
rq worker follows the runbook; and the replacement after a revoke."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from domain.inventory import load_inventory
from domain.queueing import SCAN_JOB, job_queue
from domain.settings import DEFAULT_INVENTORY
from domain.timestamps import parse_timestamp
from standins.world import APPROVERS, CHANNEL, ENGINEER
from tests.integration.provisioning_scenarios import (
    DNS_WRITE,
    NEW,
    RAXX_IO,
    ZONE_READ,
    Channel,
    declare,
    live_tokens,
    run_worker,
)
from tests.integration.scenarios import leaks, redis_dump, token_values

pytestmark = pytest.mark.integration
ALICE, BOB = APPROVERS
GETRAXX = "CF_DNS_EDIT_GETRAXX_COM"


@pytest.fixture
def inventory(tmp_path):
    return declare(tmp_path)


@pytest.fixture
def channel(world, redis_conn, redis_url, inventory):
    return Channel(world, redis_conn, redis_url, inventory)


def test_a_declared_token_is_provisioned_from_the_channel_with_a_second_approver(
    world, channel, redis_conn, redis_url, inventory
):
    assert "Its approval message appears in this channel" in channel.type(f"provision {NEW} raxx.io DNS automation",
                                                                          user=ALICE)
    approval = channel.public()[-1]
    asked = channel.read(approval)
    assert f"raxx.io (`{RAXX_IO}`)" in asked
    assert f"DNS Write (`{DNS_WRITE}`)" in asked and f"Zone Read (`{ZONE_READ}`)" in asked
    assert "90 days after it is created" in asked and "Condition: none" in asked
    assert f"`/MooseQuest/cloudflare` (prod): `{NEW}`, `{NEW}__EXPIRES_AT`, `{NEW}__SCOPES`, `{NEW}__TOKEN_ID`" in asked
    channel.click("approve", approval, user=ALICE)  # the requester's own click counts for nothing
    assert live_tokens(world, NEW) == [] and "waiting for approval" in channel.read(approval)
    created_at = world.clock.now()

    channel.click("approve", approval, user=BOB)
    output = run_worker(world, redis_url, inventory)

    (token,) = live_tokens(world, NEW)
    assert [{k: v for k, v in p.items() if k != "id"} for p in token["policies"]] == [{
        "effect": "allow",
        "resources": {f"com.cloudflare.api.account.zone.{RAXX_IO}": "*"},
        "permission_groups": [{"id": DNS_WRITE, "name": "DNS Write"}, {"id": ZONE_READ, "name": "Zone Read"}],
    }]
    expires_on = parse_timestamp(token["expires_on"])
    assert abs(expires_on - (created_at + timedelta(days=90))) < timedelta(minutes=1), output
    assert "condition" not in token
    vault = world.vault()
    assert world.cloudflare.value_of(token["id"]) == vault[NEW]  # the vault's value is the live one
    assert vault[NEW + "__TOKEN_ID"] == token["id"]
    assert vault[NEW + "__EXPIRES_AT"] == token["expires_on"]
    assert vault[NEW + "__SCOPES"] == "Zone:DNS:Edit, Zone:Zone:Read"
    (result,) = channel.results(f"✅ Provisioned {NEW}")
    assert f"| {NEW} | {token['id']} | Zone:DNS:Edit, Zone:Zone:Read | raxx.io | 90 days |" in result
    assert "Terraform (raxx.io): DNS records for raxx.io" in result
    assert "Probed: GET /zones/{zone_id}/dns_records?per_page=1 on raxx.io answered 200" in result
    assert f"*Provisioned {NEW}*" in channel.read(approval)
    assert f"*Created at Cloudflare* (user API token `{NEW}`)" in channel.read(approval)
    assert "Will create" not in channel.read(approval) and "90 days after it was created" in channel.read(approval)
    assert leaks(redis_dump(redis_conn), token_values(world)) == []


def unused(tokens: list[dict]) -> list[dict]:
    """Cloudflare's tokens without last_used_on: pre-flight's reads (is the vault's token still there?) use the
    management token, and nothing else may change."""
    return [{key: value for key, value in token.items() if key != "last_used_on"} for token in tokens]


def test_a_token_the_vault_already_holds_is_not_provisioned_again(world, channel, redis_url, inventory):
    before = world.cloudflare.tokens()

    channel.type(f"provision {GETRAXX}", user=ALICE)
    channel.click("approve", channel.public()[-1], user=BOB)
    run_worker(world, redis_url, inventory)

    assert unused(world.cloudflare.tokens()) == unused(before)
    (failed,) = channel.results(f"❌ Provision of {GETRAXX}")
    assert "already holds a value" in failed and "nothing was created" in failed
    shown = channel.read(channel.public()[0])
    assert "*Asked to create at Cloudflare*" in shown and "Will create" not in shown


def test_a_token_deleted_outside_the_bot_is_provisioned_over_its_dead_vault_value(world, channel, redis_url,
                                                                                  inventory):
    world.break_token(GETRAXX, "delete")
    dead = world.vault()[GETRAXX]

    channel.type(f"provision {GETRAXX}", user=ALICE)
    channel.click("approve", channel.public()[-1], user=BOB)
    run_worker(world, redis_url, inventory)

    (token,) = live_tokens(world, GETRAXX)
    vault = world.vault()
    assert vault[GETRAXX] != dead and world.cloudflare.value_of(token["id"]) == vault[GETRAXX]
    assert vault[GETRAXX + "__TOKEN_ID"] == token["id"]
    (result,) = channel.results(f"✅ Provisioned {GETRAXX}")
    assert channel.results(f"❌ Provision of {GETRAXX}") == []


def test_a_vault_value_that_works_is_not_overwritten_even_when_its_token_id_is_gone(world, channel, redis_url,
                                                                                    inventory):
    before = world.cloudflare.tokens()
    world.put(GETRAXX + "__TOKEN_ID", "0" * 32)  # a wrong __TOKEN_ID: the value still works as its own token

    channel.type(f"provision {GETRAXX}", user=ALICE)
    channel.click("approve", channel.public()[-1], user=BOB)
    run_worker(world, redis_url, inventory)

    assert unused(world.cloudflare.tokens()) == unused(before)
    (failed,) = channel.results(f"❌ Provision of {GETRAXX}")
    assert "already holds a value" in failed and "nothing was created" in failed


def test_the_management_token_cannot_be_provisioned_by_itself(channel):
    answer = channel.type("provision CF_ACCESS_MGMT", user=ALICE)

    assert "cannot mint itself" in answer and channel.public() == []
    assert "Failure mode D: an operator rotates the management token" in answer
    assert "Fix the token's declaration" not in answer


def test_an_engineer_who_is_not_an_approver_cannot_ask(channel):
    answer = channel.type(f"provision {NEW}", user=ENGINEER)

    assert channel.public() == [] and answer


def test_a_revoked_token_the_inventory_cannot_create_offers_the_fix_not_a_replacement_button(
    world, redis_conn, redis_url, tmp_path
):
    inventory = without_account_id(tmp_path)
    channel = Channel(world, redis_conn, redis_url, inventory)
    channel.type("revoke CF_PAGES_READ leaked in a CI log", user=ALICE)
    revoke_message = channel.public()[-1]
    channel.click("approve", revoke_message, user=BOB)
    run_worker(world, redis_url, inventory)

    finished = world.slack.message(revoke_message.channel, revoke_message.ts)
    assert "Revoked CF_PAGES_READ" in channel.read(finished)
    assert "provision_replacement" not in str(finished.blocks)
    assert "No replacement can be provisioned yet: CF_PAGES_READ asks for account-level permissions" in (
        channel.read(finished))
    assert "Then `/cftoken provision CF_PAGES_READ`" in channel.read(finished)


def test_revoke_then_provision_replacement_leaves_one_live_token_and_a_note_on_the_incident(
    world, channel, redis_conn, redis_url, inventory
):
    old_id = world.token_ids[GETRAXX]
    channel.type(f"revoke {GETRAXX} leaked in a CI log", user=ALICE)
    revoke_message = channel.public()[-1]
    channel.click("approve", revoke_message, user=BOB)
    run_worker(world, redis_url, inventory)
    assert world.cloudflare.token(old_id) is None

    channel.click("provision_replacement", revoke_message, user=ALICE)
    replacement = channel.public()[-1]
    asked = channel.read(replacement)
    assert f"Provision {GETRAXX}" in asked and "replacement for revoke-" in asked
    channel.click("approve", replacement, user=BOB)
    run_worker(world, redis_url, inventory)

    (token,) = live_tokens(world, GETRAXX)
    assert [t for t in world.cloudflare.tokens() if t["name"] == GETRAXX] == [token]
    vault = world.vault()
    assert world.cloudflare.value_of(token["id"]) == vault[GETRAXX]
    assert vault[GETRAXX + "__TOKEN_ID"] == token["id"] != old_id
    assert vault[GETRAXX + "__EXPIRES_AT"] == token["expires_on"]
    (ticket,) = world.freescout.conversations()
    notes = [t["body"] for t in ticket["_embedded"]["threads"] if "Replacement provisioned" in t["body"]]
    assert len(notes) == 1 and token["id"] in notes[0]
    (result,) = channel.results(f"✅ Provisioned {GETRAXX}")
    assert "The inventory says token_id" not in result  # the shipped inventory pins no id: nothing to edit
    assert f"Replaced by `{replacement_id(channel, replacement)}`" in channel.read(revoke_message)
    assert "provision_replacement" not in str(world.slack.message(revoke_message.channel, revoke_message.ts).blocks)
    history = channel.type(f"history {GETRAXX}", user=ENGINEER)
    assert "requested provision" in history and "replacement for revoke-" in history and "succeeded revoke" in history
    assert leaks(redis_dump(redis_conn), token_values(world)) == []


def without_account_id(tmp_path) -> Path:
    """The shipped inventory without its account_id (and so without account-owned tokens)."""
    lines = Path(DEFAULT_INVENTORY).read_text(encoding="utf-8").splitlines(keepends=True)
    path = tmp_path / "no-account.toml"
    path.write_text("".join(line for line in lines if not line.startswith(("account_id =", 'owner = "account"'))))
    load_inventory(path)
    return path


def ask_and_run(world, redis_url, inventory, channel) -> str:
    channel.type(f"provision {NEW}", user=ALICE)
    channel.click("approve", channel.public()[-1], user=BOB)
    run_worker(world, redis_url, inventory)
    (failed,) = channel.results(f"❌ Provision of {NEW}")
    assert live_tokens(world, NEW) == []
    return failed


def test_a_permission_group_id_cloudflare_does_not_have_stops_naming_the_id_it_has(world, redis_conn, redis_url,
                                                                                    tmp_path):
    inventory = declare(tmp_path)
    inventory.write_text(inventory.read_text().replace(f'"DNS Write" = "{DNS_WRITE}"', f'"DNS Write" = "{"d" * 32}"'))
    channel = Channel(world, redis_conn, redis_url, inventory)

    failed = ask_and_run(world, redis_url, inventory, channel)

    assert f"no group has the inventory's id {'d' * 32}; Cloudflare's id for DNS Write is {DNS_WRITE}" in failed


def test_a_zone_id_that_differs_from_cloudflares_stops_pre_flight(world, redis_conn, redis_url, tmp_path):
    inventory = declare(tmp_path)
    inventory.write_text(inventory.read_text().replace(f'"raxx.io" = "{RAXX_IO}"', f'"raxx.io" = "{"e" * 32}"'))
    channel = Channel(world, redis_conn, redis_url, inventory)

    failed = ask_and_run(world, redis_url, inventory, channel)

    assert f"zone raxx.io has id {RAXX_IO} at Cloudflare; the inventory says {'e' * 32}" in failed


def test_no_token_is_created_past_cloudflares_50_and_the_refusal_says_how_many(world, channel, redis_url, inventory):
    policy = {"effect": "allow", "resources": {f"com.cloudflare.api.account.zone.{RAXX_IO}": "*"},
              "permission_groups": [{"id": ZONE_READ}]}
    for n in range(50 - len(world.cloudflare.owned())):  # the user's quota: account-owned tokens do not count
        world.cloudflare.add_token(f"OTHER_{n}", policies=[policy])

    failed = ask_and_run(world, redis_url, inventory, channel)

    assert "already has 50 API tokens, the most Cloudflare allows (50)" in failed


def test_list_shows_a_declared_token_the_vault_lacks_as_not_provisioned_with_the_command(
    world, channel, redis_conn, redis_url, inventory
):
    job_queue(redis_conn).enqueue(SCAN_JOB)
    run_worker(world, redis_url, inventory)

    listed = channel.type("list", user=ENGINEER)

    line = next(line for line in listed.splitlines() if line.startswith(":white_circle: not provisioned"))
    assert "no value in the vault; seen by scan" in line and f"`/cftoken provision {NEW}`" in line
    assert listed.count("not provisioned") == 1  # the seeded tokens are all in the vault


def replacement_id(channel: Channel, message) -> str:
    return channel.read(message).rsplit("Request `", 1)[1].split("`")[0]


def test_a_waf_token_whose_zone_has_no_rate_limiting_rules_yet_is_provisioned_saying_so(
    world, channel, redis_url, inventory
):
    """Cloudflare answers the WAF probe 404 code 10003 until the zone's first rule: a finding, never a pause."""
    waf = "CF_WAF_EDIT_RAXX_APP"
    channel.type(f"revoke {waf} leaked in a CI log", user=ALICE)
    revoke_message = channel.public()[-1]
    channel.click("approve", revoke_message, user=BOB)
    run_worker(world, redis_url, inventory)

    channel.click("provision_replacement", revoke_message, user=ALICE)
    channel.click("approve", channel.public()[-1], user=BOB)
    run_worker(world, redis_url, inventory)

    (token,) = live_tokens(world, waf)
    assert world.vault()[waf] == world.cloudflare.value_of(token["id"])
    (result,) = channel.results(f"✅ Provisioned {waf}")
    assert ("Probed: GET /zones/{zone_id}/rulesets/phases/http_ratelimit/entrypoint on raxx.app → no rate-limiting "
            "rules on raxx.app yet; the token can create the first (Cloudflare answered 404 code 10003).") in result
    assert channel.results(f"⚠️ Provision of {waf} paused") == []


EXPIRED_POLICY = {"effect": "allow", "resources": {f"com.cloudflare.api.account.zone.{RAXX_IO}": "*"},
                  "permission_groups": [{"id": ZONE_READ}]}


def test_an_expired_token_still_takes_its_name(world, channel, redis_url, inventory):
    """Cloudflare lists expired tokens only when asked (include_expired=true); an expired one still exists."""
    expired_id, _ = world.cloudflare.add_token(NEW, policies=[EXPIRED_POLICY],
                                               expires_on=world.clock.now() - timedelta(hours=2))

    taken = ask_and_run(world, redis_url, inventory, channel)

    assert f"Cloudflare already has a token named {NEW}: {expired_id} (expired)" in taken


def test_an_expired_token_still_counts_in_cloudflares_50(world, channel, redis_url, inventory):
    for n in range(49 - len(world.cloudflare.owned())):  # the user quota: account-owned tokens do not count
        world.cloudflare.add_token(f"OTHER_{n}", policies=[EXPIRED_POLICY])
    world.cloudflare.add_token("OTHER_EXPIRED", policies=[EXPIRED_POLICY],
                               expires_on=world.clock.now() - timedelta(days=1))

    full = ask_and_run(world, redis_url, inventory, channel)

    assert "already has 50 API tokens, the most Cloudflare allows (50)" in full


def test_a_provisioned_value_is_followed_to_the_folders_secret_syncs(world, channel, redis_url, inventory):
    syncs = world.add_syncs()
    world.infisical.syncs.auto_sync_delay = 0.5
    channel.type(f"provision {NEW} raxx.io DNS automation", user=ALICE)
    approval = channel.public()[-1]
    channel.click("approve", approval, user=BOB)
    run_worker(world, redis_url, inventory)

    value = world.vault_value(NEW)
    assert value and all(world.infisical.syncs.delivered(s["id"]).get(NEW) == value for s in syncs.values())
    notes = [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith("📦")]
    assert len(notes) == 2 and all("(also synced to: no consumer in the inventory): on the new value at" in n
                                    for n in notes), notes
