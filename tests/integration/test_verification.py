"""verify NAME end to end on the worker side: the runbook's world on the stand-ins, real Redis, the channel read back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.requests import Request
from domain.status import read_statuses
from domain.timestamps import utc_stamp as stamp
from standins.slack import Message
from standins.world import CHANNEL, ENGINEER, policies_for
from tests.integration.scenarios import deliver, leaks, redis_dump, token_values
from workers.approval_message import render_request
from workers.verify.verification import verify_and_report

pytestmark = pytest.mark.integration
WAF = "CF_WAF_EDIT_RAXX_APP"
MGMT = "CF_ACCESS_MGMT"
SECRETS = "/api/v4/secrets"
D_NEXT_STEP = (
    "Failure mode D: escalate to an operator; rotate CF_ACCESS_MGMT in the dashboard "
    "(https://dash.cloudflare.com/profile/api-tokens)"
)


@pytest.fixture
def verify(world, services, redis_conn, caplog):
    """Run verify NAME as a worker would; check the invariants every run keeps; return the channel's transcript."""

    def run(name: str, *, listings: int = 1) -> str:
        caplog.set_level("DEBUG")
        listed_before = world.infisical.count("GET", SECRETS)

        verify_and_report(services, name, requested_by=ENGINEER)
        deliver(services)

        assert world.infisical.count("GET", SECRETS) - listed_before == listings
        transcript = world.slack.channel_transcript(CHANNEL)
        values = token_values(world) | {value for key, value in world.vault().items() if "__" not in key}
        assert leaks(transcript, values) == []
        assert leaks(caplog.text, values) == []
        assert leaks(redis_dump(redis_conn), values) == []
        return transcript

    return run


def test_a_healthy_token_is_reported_healthy_line_by_line_and_recorded(world, redis_conn, verify):
    channel = verify(WAF)

    assert "verify CF_WAF_EDIT_RAXX_APP" in channel
    assert "*CF_WAF_EDIT_RAXX_APP* is *healthy* — active, 61 days left" in channel
    assert "✅ *Vault* — CF_WAF_EDIT_RAXX_APP is present at /MooseQuest/cloudflare (env prod)" in channel
    assert "✅ *Active at Cloudflare* — GET /user/tokens/verify answers active" in channel
    assert f"✅ *Cloudflare record* — status active, expires_on {stamp(world.expires_on(WAF))}" in channel
    assert "✅ *Zones* — raxx.app, as the inventory expects" in channel
    assert "✅ *Permissions* — Zone WAF Write, Zone Read, as the inventory expects" in channel
    assert "✅ *CF_WAF_EDIT_RAXX_APP__EXPIRES_AT* — " in channel
    assert (
        "✅ *CF_WAF_EDIT_RAXX_APP__TOKEN_ID* — d0cf0adeda107092f6e8c0646460f8f8, agrees with the id in use" in channel
    )
    assert "✅ *CF_WAF_EDIT_RAXX_APP__SCOPES* — present: Zone:WAF:Edit, Zone:Zone:Read" in channel
    assert "asked by <@U0CAROL03>" in channel
    assert "⚠️" not in channel and "❌" not in channel
    status = read_statuses(redis_conn)[WAF]
    assert (status.source, status.state) == ("verify", "healthy")
    assert status.expires_on == world.expires_on(WAF)
    assert status.checked_at <= world.clock.now()


@pytest.mark.parametrize("name", ["CF_DNS_EDIT_GETRAXX_COM", "CF_PAGES_DEPLOY", "CF_ACCESS_MGMT", "CF_PAGES_READ"])
def test_every_token_of_the_seeded_world_is_healthy(redis_conn, verify, name):
    channel = verify(name)

    assert f"*{name}* is *healthy*" in channel
    assert read_statuses(redis_conn)[name].state == "healthy"


def test_a_token_scoped_to_the_wrong_zone_and_permission_is_failure_mode_a(world, redis_conn, verify):
    waf = world.inventory.find(WAF)
    wrong = waf.model_copy(update={"zones": ("getraxx.com",), "permissions": ("DNS Write", "Zone Read")})
    world.cloudflare.remove(world.token_ids[WAF])
    _, value = world.cloudflare.add_token(
        WAF,
        policies=policies_for(wrong, world.inventory),
        expires_on=world.expires_on(WAF) or None,
        token_id=world.token_ids[WAF],
    )
    world.put(WAF, value)

    channel = verify(WAF)

    assert "❌ *Zones* — missing raxx.app; extra getraxx.com" in channel
    assert "❌ *Permissions* — missing Zone WAF Write; extra DNS Write" in channel
    assert "_Next:_ Failure mode A: edit CF_WAF_EDIT_RAXX_APP's policy in the dashboard" in channel
    assert "✅ *Active at Cloudflare*" in channel
    assert read_statuses(redis_conn)[WAF].state == "failing"


def test_an_expired_token_is_failure_mode_b_expired(world, redis_conn, verify):
    expired_on = world.expires_on(WAF)
    world.clock.advance(timedelta(days=63))

    channel = verify(WAF)

    assert (
        f"❌ *Active at Cloudflare* — Cloudflare rejects the vault's value: the token expired on {stamp(expired_on)}"
        in channel
    )
    assert "_Next:_ Failure mode B (expired)" in channel
    assert "(expired" in channel
    status = read_statuses(redis_conn)[WAF]
    assert status.state == "failing" and "expired" in status.summary


def test_a_disabled_token_is_failure_mode_b_disabled(world, verify):
    world.cloudflare.set_status(world.token_ids[WAF], "disabled")

    channel = verify(WAF)

    assert (
        "❌ *Active at Cloudflare* — Cloudflare rejects the vault's value: the token is disabled at Cloudflare"
        in channel
    )
    assert "❌ *Cloudflare record* — status disabled" in channel
    assert "_Next:_ Failure mode B (disabled)" in channel


def test_a_compromised_token_is_offered_a_revoke_not_the_roll_its_report_says_cannot_help(world, verify):
    world.break_token(WAF, "expose")

    channel = verify(WAF)

    assert "A roll cannot bring it back" in channel or "Revoke it" in channel
    assert "[Request revoke]" in channel and "[Request roll]" not in channel


def test_a_token_deleted_at_cloudflare_is_offered_no_roll_and_a_roll_asked_anyway_says_it_has_no_token(
    world, services, verify
):
    world.break_token(WAF, "delete")

    channel = verify(WAF)
    roll = render_request(Request(id="roll-0123456789ab", action="roll", token=WAF, requester=ENGINEER, reason="",
                                  state="pending", needed=1, created_at=world.clock.now(),
                                  expires_at=world.clock.now() + timedelta(minutes=30), channel=CHANNEL,
                                  updated_at=world.clock.now()),
                          services.inventory, read_statuses(services.redis)[WAF], world.clock.now())

    assert "[Request roll]" not in channel and "[Verify again]" in channel
    shown = world.slack.as_text(Message("1.0", CHANNEL, "U0CFTBOT1", *roll))
    assert "*Expiry now* none: Cloudflare has no such token (deleted)" in shown
    assert "no expiry" not in shown and "*Planned expiry*" not in shown


def test_a_token_deleted_at_cloudflare_is_failure_mode_b_revoked(world, verify):
    world.cloudflare.remove(world.token_ids[WAF])

    channel = verify(WAF)

    assert "the token was deleted (revoked) at Cloudflare, no token has id d0cf0adeda107092f6e8c0646460f8f8" in channel
    assert "_Next:_ Failure mode B (revoked): provision a replacement token" in channel
    assert "⚠️ *Zones* — not checked" in channel


def test_a_vault_value_cloudflare_no_longer_accepts_is_the_vault_out_of_step(world, redis_conn, verify):
    world.put(WAF, "cfut_wrongwrongwrongwrongwrongwrongwrongwrong0badc0de")

    channel = verify(WAF)

    assert (
        "❌ *Active at Cloudflare* — the vault holds a value Cloudflare no longer accepts — the token is active at "
        "Cloudflare, so the vault is out of step (e.g. a roll outside the bot)"
    ) in channel
    assert (
        "_Next:_ Failure mode B (vault out of step): roll the token (`/cftoken roll CF_WAF_EDIT_RAXX_APP`)" in channel
    )
    assert "✅ *Cloudflare record* — status active" in channel
    assert "wrongwrong" not in redis_dump(redis_conn).decode(errors="replace")


def test_a_secret_missing_from_the_vault_is_failure_mode_c_naming_path_and_env(verify, world, redis_conn):
    world.remove(WAF)

    channel = verify(WAF)

    assert "❌ *Vault* — CF_WAF_EDIT_RAXX_APP is missing at /MooseQuest/cloudflare in env prod" in channel
    assert "_Next:_ Failure mode C: confirm the path is /MooseQuest/cloudflare and the env is prod" in channel
    assert "⚠️ *Active at Cloudflare* — not checked" in channel
    assert "✅ *Zones* — raxx.app" in channel  # the management token still reads the policies
    assert read_statuses(redis_conn)[WAF].state == "failing"


def test_a_missing_management_token_is_failure_mode_d_and_its_checks_say_not_checked(world, verify):
    world.remove(MGMT)

    channel = verify(WAF)

    assert "❌ *Cloudflare record* — not checked: the management token CF_ACCESS_MGMT is missing" in channel
    assert f"_Next:_ {D_NEXT_STEP}" in channel
    assert "⚠️ *Zones* — not checked" in channel
    assert "⚠️ *Permissions* — not checked" in channel
    assert "✅ *Active at Cloudflare*" in channel


def test_a_disabled_management_token_is_failure_mode_d(world, verify):
    world.cloudflare.set_status(world.token_ids[MGMT], "disabled")

    channel = verify(WAF)

    assert "❌ *Cloudflare record* — not checked: Cloudflare rejects the management token CF_ACCESS_MGMT" in channel
    assert f"_Next:_ {D_NEXT_STEP}" in channel


def test_a_management_token_stripped_of_api_tokens_write_never_leaves_verify_leading_with_green(world, verify):
    management = world.token_ids[MGMT]
    policies = next(t["policies"] for t in world.cloudflare.tokens() if t["id"] == management)
    world.cloudflare.set_policies(management, [p for p in policies
                                               if all(g["name"] != "API Tokens Write" for g in p["permission_groups"])])

    for name in (WAF, MGMT):
        channel = verify(name)
        headline = channel.split(f"`/cftoken verify {name}`")[0].rsplit("verify ", 1)[-1]

        assert "🟢" not in headline, channel
        assert "not checked: the management token CF_ACCESS_MGMT may not read API tokens" in headline, channel
        assert f"_Next:_ {D_NEXT_STEP}" in channel


def test_verifying_the_management_token_itself_when_it_is_rejected_escalates(world, redis_conn, verify):
    world.cloudflare.set_status(world.token_ids[MGMT], "disabled")

    channel = verify(MGMT)

    assert "❌ *Active at Cloudflare* — Cloudflare rejects the vault's value of the management token itself" in channel
    assert f"_Next:_ {D_NEXT_STEP}" in channel
    assert read_statuses(redis_conn)[MGMT].state == "failing"


def test_the_management_tokens_last_use_by_the_bot_itself_is_not_blamed_on_something_else(world, verify):
    verify(MGMT)
    world.clock.advance(timedelta(hours=1))
    verify(WAF)  # the bot's own management calls

    channel = verify(MGMT)

    assert "by something other than cftoken" not in channel
    assert "cftoken itself uses the management token for every change and check" in channel


def test_an_expires_at_companion_out_of_step_with_cloudflare_is_drift(world, redis_conn, verify):
    world.put(WAF + "__EXPIRES_AT", "2027-01-01T00:00:00Z")

    channel = verify(WAF)

    assert (
        f"⚠️ *CF_WAF_EDIT_RAXX_APP__EXPIRES_AT* — drift: says 2027-01-01T00:00:00Z, Cloudflare's expires_on is "
        f"{stamp(world.expires_on(WAF))}"
    ) in channel
    assert f"_Next:_ Set CF_WAF_EDIT_RAXX_APP__EXPIRES_AT to {stamp(world.expires_on(WAF))}" in channel
    assert "*CF_WAF_EDIT_RAXX_APP* is *warning*" in channel
    assert read_statuses(redis_conn)[WAF].state == "warning"


def test_token_id_and_scopes_companions_out_of_step_are_drift(world, verify):
    world.put(WAF + "__TOKEN_ID", "ffffffffffffffffffffffffffffffff")
    world.remove(WAF + "__SCOPES")

    channel = verify(WAF)

    assert (  # the bot uses the vault's __TOKEN_ID; the value itself shows which token it is
        "⚠️ *CF_WAF_EDIT_RAXX_APP__TOKEN_ID* — drift: says ffffffffffffffffffffffffffffffff, but the vault's value "
        "belongs to token d0cf0adeda107092f6e8c0646460f8f8"
    ) in channel
    assert "set CF_WAF_EDIT_RAXX_APP__TOKEN_ID to d0cf0adeda107092f6e8c0646460f8f8." in channel
    assert "gone from Cloudflare" not in channel
    assert "⚠️ *CF_WAF_EDIT_RAXX_APP__SCOPES* — missing" in channel


def test_cloudflare_not_answering_verify_is_not_a_verdict_and_the_report_says_the_value_was_never_verified(
    world, redis_conn, verify
):
    world.cloudflare.faults.fail_next("/client/v4/user/tokens/verify", 4, "503")

    channel = verify(WAF)

    assert "⚠️ *Active at Cloudflare* — could not verify the value" in channel
    assert "value verified never" in channel
    assert read_statuses(redis_conn)[WAF].state == "healthy"  # the record was read; the value's age is shown


def test_a_vault_outage_is_reported_and_nothing_else_is_checked(world, redis_conn, verify):
    world.infisical.faults.fail_next(SECRETS, 4, "503")

    channel = verify(WAF, listings=4)  # the client's own retries; verify itself asks once

    assert "❌ *Vault* — could not list /MooseQuest/cloudflare (env prod)" in channel
    assert "⚠️ *Cloudflare record* — not checked" in channel
    assert world.cloudflare.count(None, "/client/v4/user/tokens") == 0
    assert read_statuses(redis_conn)[WAF].state == "unknown"


def test_the_name_is_matched_case_insensitively(redis_conn, verify):
    channel = verify("cf_waf_edit_raxx_app")

    assert "*CF_WAF_EDIT_RAXX_APP* is *healthy*" in channel
    assert WAF in read_statuses(redis_conn)


def test_an_unknown_name_gets_a_suggestion_and_nothing_is_fetched_or_recorded(world, redis_conn, verify):
    channel = verify("CF_WAF_EDIT_RAXX", listings=0)

    assert (
        "there is no token called `CF_WAF_EDIT_RAXX` in the inventory. Did you mean `CF_WAF_EDIT_RAXX_APP`?" in channel
    )
    assert world.cloudflare.count() == 0
    assert list(redis_conn.scan_iter("cftoken:status:*")) == []


def test_an_unknown_name_is_quoted_escaped(verify):
    channel = verify("<!channel>", listings=0)

    assert "`&lt;!channel&gt;`" in channel
    assert "<!channel>" not in channel


def test_a_slack_outage_records_the_status_and_the_report_arrives_once_slack_answers(world, redis_conn, verify):
    world.slack.faults.fail_next("/api/chat.postMessage", 2, "500")

    transcript = verify(WAF)

    assert read_statuses(redis_conn)[WAF].state == "healthy"
    assert world.slack.count("POST", "/api/chat.postMessage") == 3
    assert len(world.slack.messages(CHANNEL)) == 1 and WAF in transcript


def test_a_waf_token_on_a_zone_with_no_rate_limiting_rules_yet_is_healthy_with_that_finding(world, verify):
    """Cloudflare answers the WAF probe 404 code 10003 until the zone's first rate-limiting rule: a finding."""
    channel = verify(WAF)

    assert ("✅ *Job probe* — GET /zones/{zone_id}/rulesets/phases/http_ratelimit/entrypoint on raxx.app → no "
            "rate-limiting rules on raxx.app yet; the token can create the first (Cloudflare answered 404 code "
            "10003)") in channel
    assert "*CF_WAF_EDIT_RAXX_APP* is *healthy*" in channel and "⚠️" not in channel

    world.cloudflare.set_entrypoint(world.inventory.zones["raxx.app"], "http_ratelimit")
    assert "HTTP 200: GET" not in channel
    assert "✅ *Job probe* — HTTP 200: GET /zones/{zone_id}/rulesets/phases/http_ratelimit/entrypoint on raxx.app" in (
        verify(WAF))
