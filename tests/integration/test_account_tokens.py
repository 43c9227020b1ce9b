"""An account-owned token (`owner = "account"`, the seeded world's CF_PAGES_DEPLOY with a legacy value) through
every operation, as the user-token tests run them: the channel (the web app), real `rq worker` processes and the
stand-ins; and a token whose kind the inventory gets wrong, named as such by verify and the scan."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from domain import requests
from domain.inventory import load_inventory
from domain.queueing import RECONCILE_JOB, enqueue_request, job_queue
from domain.settings import DEFAULT_INVENTORY
from domain.token_owner import TokenOwner
from standins.world import APPROVERS, CHANNEL, ENGINEER, World
from tests.conftest import make_settings
from tests.integration.provisioning_scenarios import (
    ACCOUNT_DECLARATION,
    NEW,
    RAXX_IO,
    ZONE_READ,
    Channel,
    declare,
    live_tokens,
    run_worker,
)
from tests.integration.scenarios import approved_request, deliver, leaks, redis_dump, token_values
from workers.clients.cloudflare import CloudflareClient
from workers.clients.http import RetryPolicy
from workers.scan.scan import scan
from workers.services import build_services
from workers.verify.verification import verify_and_report

pytestmark = pytest.mark.integration
ALICE, BOB = APPROVERS
PAGES = "CF_PAGES_DEPLOY"
OFFSET_KEY = "cftoken:test:clock-offset"


def account(world: World) -> TokenOwner:
    return TokenOwner("account", world.inventory.account_id)


def verifies(world: World, value: str) -> str:
    """What the account verify endpoint says of `value` (raises when it rejects it)."""
    with CloudflareClient(base_url=world.cloudflare.url + "/client/v4", owner=account(world)) as cloudflare:
        return cloudflare.verify(SecretStr(value)).status


def inventory_file(tmp_path: Path, edit=lambda text: text) -> Path:
    path = tmp_path / "inventory.toml"
    path.write_text(edit(Path(DEFAULT_INVENTORY).read_text(encoding="utf-8")), encoding="utf-8")
    load_inventory(path)
    return path


@pytest.fixture
def inventory(tmp_path) -> Path:
    return declare(tmp_path, ACCOUNT_DECLARATION)


@pytest.fixture
def channel(world, redis_conn, redis_url, inventory) -> Channel:
    return Channel(world, redis_conn, redis_url, inventory)


def services_for(world: World, redis_url: str, inventory: Path):
    settings = make_settings(**world.settings_values(redis_url=redis_url), cftoken_inventory=str(inventory))
    return build_services(settings, clock=world.clock.now, retry=RetryPolicy.instant())


def test_verify_asks_the_account_endpoint_and_shows_the_kind_and_the_creator(world, services, redis_conn):
    token_id = world.token_ids[PAGES]
    record = world.cloudflare.token(token_id)
    world.cloudflare.remove(token_id)
    world.cloudflare.add_token(PAGES, policies=record["policies"], token_id=token_id, expires_on=record["expires_on"],
                               value=world.vault_value(PAGES), account_id=world.inventory.account_id,
                               creator={"creator_email_at_creation": "alice@example.com", "provisioner_type": "oauth"})

    diagnosis = verify_and_report(services, PAGES, requested_by=ENGINEER)
    deliver(services)

    transcript = world.slack.channel_transcript(CHANNEL)
    assert diagnosis.state == "healthy", diagnosis.summary
    assert "GET /accounts/{account_id}/tokens/verify answers active" in transcript
    assert "account-owned token (created by alice@example.com, provisioned by oauth)" in transcript
    assert world.cloudflare.count("GET", "/client/v4/user/tokens/verify") == 0  # the declared owner first


def test_a_roll_request_from_the_channel_rolls_the_account_token_to_a_cfat_value(world, channel, redis_url,
                                                                                inventory):
    legacy = world.vault_value(PAGES)

    channel.type(f"roll {PAGES} quarterly", user=ALICE)
    channel.click("approve", channel.public()[-1], user=BOB)
    run_worker(world, redis_url, inventory)

    (result,) = channel.results(f"✅ Rolled {PAGES}")
    assert world.vault_value(PAGES).startswith("cfat_") and world.live_value(PAGES) == world.vault_value(PAGES)
    assert len(legacy) == 40 and world.cloudflare.count("PUT", f"/client/v4/user/tokens/{world.token_ids[PAGES]}"
                                                                  "/value") == 0
    assert verifies(world, world.vault_value(PAGES)) == "active"


def test_a_revoke_deletes_the_account_token_and_opens_one_incident_and_its_replacement_is_account_owned(
    world, channel, redis_conn, redis_url, inventory
):
    token_id = world.token_ids[PAGES]

    channel.type(f"revoke {PAGES} leaked in a CI log", user=ALICE)
    approval = channel.public()[-1]
    channel.click("approve", approval, user=BOB)
    run_worker(world, redis_url, inventory)

    assert world.cloudflare.token(token_id) is None
    assert world.cloudflare.count("DELETE", f"/client/v4/accounts/{world.inventory.account_id}/tokens/{token_id}") == 1
    assert world.vault_value(PAGES).startswith("REVOKED ") and world.vault_value(PAGES + "__TOKEN_ID") == token_id
    (conversation,) = world.freescout.conversations()
    assert PAGES in conversation["subject"]
    assert "leaked in a CI log" in conversation["_embedded"]["threads"][0]["body"]
    (result,) = channel.results(f"✅ Revoked {PAGES}")
    assert f"/conversation/{conversation['id']}" in result
    assert "provision_replacement" in str(world.slack.message(approval.channel, approval.ts).blocks)

    channel.click("provision_replacement", approval, user=ALICE)
    channel.click("approve", channel.public()[-1], user=BOB)
    run_worker(world, redis_url, inventory)

    (token,) = live_tokens(world, PAGES)
    assert token["id"] != token_id and token in world.cloudflare.owned(world.inventory.account_id)
    assert world.vault_value(PAGES).startswith("cfat_") and world.vault_value(PAGES) == world.cloudflare.value_of(
        token["id"])
    notes = [t["body"] for t in world.freescout.conversations()[0]["_embedded"]["threads"]
             if "Replacement provisioned" in t["body"]]
    assert len(notes) == 1 and token["id"] in notes[0]
    assert leaks(redis_dump(redis_conn), token_values(world)) == []


def test_an_account_token_is_provisioned_with_a_cfat_value_in_the_account(world, channel, redis_conn, redis_url,
                                                                          inventory):
    channel.type(f"provision {NEW} raxx.io DNS automation", user=ALICE)
    channel.click("approve", channel.public()[-1], user=BOB)
    run_worker(world, redis_url, inventory)

    (token,) = live_tokens(world, NEW)
    assert token in world.cloudflare.owned(world.inventory.account_id)
    vault = world.vault()
    assert vault[NEW].startswith("cfat_") and world.cloudflare.value_of(token["id"]) == vault[NEW]
    assert vault[NEW + "__TOKEN_ID"] == token["id"] and vault[NEW + "__EXPIRES_AT"] == token["expires_on"]
    assert len(channel.results(f"✅ Provisioned {NEW}")) == 1
    assert world.cloudflare.count("GET", f"/client/v4/accounts/{world.inventory.account_id}/tokens/"
                                         "permission_groups") >= 1
    assert leaks(redis_dump(redis_conn), token_values(world)) == []


def fill_the_account(world: World) -> None:
    """The account at Cloudflare's quota of 500 account-owned tokens (the user's own are not counted)."""
    policy = {"effect": "allow", "resources": {f"com.cloudflare.api.account.zone.{RAXX_IO}": "*"},
              "permission_groups": [{"id": ZONE_READ}]}
    for n in range(500 - len(world.cloudflare.owned(world.inventory.account_id))):
        world.cloudflare.add_token(f"OTHER_{n}", policies=[policy], account_id=world.inventory.account_id)


def test_no_account_token_is_created_past_the_accounts_500_and_the_refusal_says_how_many(world, channel,
                                                                                         redis_url, inventory):
    fill_the_account(world)

    channel.type(f"provision {NEW}", user=ALICE)
    channel.click("approve", channel.public()[-1], user=BOB)
    run_worker(world, redis_url, inventory)

    (failed,) = channel.results(f"❌ Provision of {NEW}")
    assert "already has 500 account-owned API tokens, the most Cloudflare allows (500)" in failed
    assert live_tokens(world, NEW) == []


def dry_run(world, channel, redis_url, inventory, text: str) -> str:
    """Type the dry run, run a burst worker, return its one new answer."""
    before = len(channel.results("Dry run:"))
    assert "Nothing changes anywhere" in channel.type(text, user=ALICE)
    run_worker(world, redis_url, inventory)
    answers = channel.results("Dry run:")
    assert len(answers) == before + 1, answers
    return answers[-1]


def test_the_three_dry_runs_check_at_the_account_and_write_nothing(world, channel, redis_url, inventory):
    fill_the_account(world)
    before = [(method, path) for method, path in world.cloudflare.requests if method != "GET"]
    accounts = "/accounts/{account_id}/tokens"

    roll = dry_run(world, channel, redis_url, inventory, f"roll {PAGES} --dry-run")
    revoke = dry_run(world, channel, redis_url, inventory, f"revoke {PAGES} leaked --dry-run")
    provision = dry_run(world, channel, redis_url, inventory, f"provision {NEW} --dry-run")

    assert [(method, path) for method, path in world.cloudflare.requests if method != "GET"] == before
    assert "✅ management token CF_ACCESS_MGMT" in roll and f"✅ token {PAGES} at Cloudflare" in roll
    assert f"PUT {accounts}/{{id}}/value" in roll and "/user/tokens" not in roll
    assert f"✅ token {PAGES} at Cloudflare" in revoke and f"DELETE {accounts}/{{id}}" in revoke
    assert f"POST {accounts}" in provision
    assert "❌ quota: this Cloudflare account" in provision and "500 account-owned API tokens" in provision


@pytest.fixture
def overlapping(tmp_path) -> Path:
    return inventory_file(tmp_path, lambda text: text.replace(
        f'name = "{PAGES}"\n', f'name = "{PAGES}"\nrotation = "overlap"\noverlap_minutes = 2\n'))


def test_an_overlap_of_an_account_token_keeps_both_values_then_leaves_only_the_new_one(
    world, redis_conn, redis_url, overlapping
):
    old_id, old_value = world.token_ids[PAGES], world.vault_value(PAGES)
    request_id = approved_request(redis_conn, world, "roll", PAGES)
    assert enqueue_request(job_queue(redis_conn), request_id)
    env = {"cftoken_clock_offset_key": OFFSET_KEY, "cftoken_lock_seconds": "2"}

    run_worker(world, redis_url, overlapping, **env)

    new_value = world.vault_value(PAGES)
    assert new_value.startswith("cfat_") and verifies(world, old_value) == verifies(world, new_value) == "active"
    redis_conn.set(OFFSET_KEY, 180)
    world.clock.advance(timedelta(seconds=180))
    job_queue(redis_conn).enqueue_call(RECONCILE_JOB)
    run_worker(world, redis_url, overlapping, **env)

    (new,) = [t for t in live_tokens(world, PAGES)]
    assert new["id"] != old_id and world.cloudflare.token(old_id) is None
    assert new in world.cloudflare.owned(world.inventory.account_id)
    assert world.vault_value(PAGES + "__TOKEN_ID") == new["id"]
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"


def declared_as_user(tmp_path: Path) -> Path:
    """The shipped inventory with CF_PAGES_DEPLOY's `owner = "account"` line dropped: a user token, it says."""
    return inventory_file(tmp_path, lambda text: "".join(
        line for line in text.splitlines(keepends=True) if not line.startswith('owner = "account"')))


def test_a_legacy_account_token_declared_as_a_user_token_is_named_with_its_fix_never_invalid(
    world, redis_url, redis_conn, tmp_path
):
    services = services_for(world, redis_url, declared_as_user(tmp_path))
    try:
        diagnosis = verify_and_report(services, PAGES, requested_by=ENGINEER)
        deliver(services)
        first, second = scan(services), scan(services)
        deliver(services)
    finally:
        services.close()

    transcript = world.slack.channel_transcript(CHANNEL)
    fix = 'CF_PAGES_DEPLOY is an account-owned token; set `owner = "account"`'
    assert diagnosis.state == "failing" and fix in diagnosis.summary
    assert f"{PAGES}:kind" in first.problems and second.problems == ()
    told = [message for message in world.slack.messages(CHANNEL) if fix in world.slack.as_text(message)]
    assert len(told) == 2, transcript  # verify's report, and the scan's alert once
    assert "Request roll" not in transcript and "Failure mode B" not in transcript and "deleted" not in transcript
    assert world.vault_value(PAGES) == world.live_value(PAGES)  # nothing was touched


@pytest.mark.parametrize(("how", "kind"), [("expire", "expired"), ("delete", "deleted")])
def test_the_scan_finds_an_expired_account_token_expired_and_a_deleted_one_deleted(world, services, how, kind):
    world.break_token(PAGES, how)

    report = scan(services)

    assert f"{PAGES}:{kind}" in report.problems
    assert not any(problem.startswith(f"{PAGES}:") and problem not in (f"{PAGES}:{kind}", f"{PAGES}:companions")
                   for problem in report.problems), report.problems
    assert world.cloudflare.count("GET", f"/client/v4/accounts/{world.inventory.account_id}/tokens") >= 1


def test_a_create_cloudflare_refuses_past_the_quota_the_bot_could_not_count_ends_with_cloudflares_words(
    world, channel, redis_url, inventory
):
    """The list leaves out long-expired tokens, which still count against the quota, so the bot's count can be
    short; the refusal's shape is unconfirmed. Whatever Cloudflare answers the create, the provision ends with
    Cloudflare's words and no token, never stuck running."""
    fill_the_account(world)
    world.cloudflare.set_expiry(world.cloudflare.owned(world.inventory.account_id)[-1]["id"],
                                world.clock.now() - timedelta(days=365))

    channel.type(f"provision {NEW}", user=ALICE)
    channel.click("approve", channel.public()[-1], user=BOB)
    run_worker(world, redis_url, inventory)

    (failed,) = channel.results(f"❌ Provision of {NEW}")
    assert "maximum of 500 API tokens for this account" in failed and live_tokens(world, NEW) == []
