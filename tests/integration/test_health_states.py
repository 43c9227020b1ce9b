"""One health everywhere: for each way a token breaks, verify, `/cftoken list` and the scan say the same thing;
the scan posts the problem once with the button for its next step, and says once when it is fixed.

Real paths: the stand-ins' world broken through its own controls, verify_and_report and scan as the worker runs
them, the list as the web renders it from Redis, the channel read back from the Slack stand-in.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta

import pytest

from domain.health_words import PROBLEM_LABELS
from domain.inventory import Inventory, load_inventory
from domain.messages import render_list
from domain.settings import DEFAULT_INVENTORY
from domain.status import read_statuses
from standins.world import CHANNEL, World
from tests.integration.scenarios import approved_request, deliver
from workers.operations.runner import run_operation
from workers.scan.expiry_messages import KIND_WORDS
from workers.scan.scan import scan
from workers.services import Services
from workers.verify.verification import verify_and_report

pytestmark = pytest.mark.integration

WAF = "CF_WAF_EDIT_RAXX_APP"
ICONS = {"failing": ":red_circle:", "warning": ":large_yellow_circle:", "compromised": ":rotating_light:",
         "revoked": ":black_circle:"}

# (id, way to break it, state, problem kind, button action_id, words every view shows)
BROKEN = [
    ("disabled", "disable", "failing", "disabled", "request_verify", "disabled at Cloudflare"),
    ("expired", "expire", "failing", "expired", "request_roll", "expired on"),
    ("revoked (exposed)", "expose", "compromised", "compromised", "request_revoke", "revoked (exposed)"),
    ("deleted outside the bot", "delete", "failing", "deleted", "request_verify", "gone from Cloudflare"),
    ("extra zone", "extra_zone", "warning", "zones", "request_verify", "Zones: extra getraxx.com"),
    ("missing permission", "drop_permission", "failing", "permissions", "request_verify",
     "Permissions: missing Zone Read"),
    ("companion drift", "companion", "warning", "companions", "request_verify", "__EXPIRES_AT says"),
    ("vault value out of step", "vault_value", "failing", "value", "request_roll", "the vault is out of step"),
]


def alerts_about(world: World, name: str, words: str) -> list[dict]:
    """Every section the scan posted about `name` that carries `words` (fix lines excluded)."""
    return [block for message in world.slack.messages(CHANNEL) if message.text.startswith("Cloudflare token check")
            for block in message.blocks if block["type"] == "section" and f"*{name}*" in block["text"]["text"]
            and words in block["text"]["text"] and not block["text"]["text"].startswith("✅")]


def fixes_about(world: World, name: str) -> list[str]:
    return [line for line in world.slack.channel_transcript(CHANNEL).splitlines()
            if line.strip().startswith(f"✅ *{name}*:") and "fixed" in line]


def list_line(services: Services, name: str) -> str:
    """The two lines `/cftoken list` shows for `name`."""
    _, blocks = render_list(services.inventory, read_statuses(services.redis), services.now())
    text = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    start = text.index(f"*{name}* —")
    return "\n".join(text[start:].split("\n")[:2])


def assert_views_agree(world: World, services: Services, name: str, state: str, words: str) -> None:
    """verify's report, the status the scan left, and the list line all give the same state and problem."""
    verify_text = world.slack.as_text(next(m for m in reversed(world.slack.messages(CHANNEL))
                                           if m.text.startswith(f"verify {name}")))
    assert f"*{name}* is *{state}*" in verify_text and words in verify_text
    stored = read_statuses(services.redis)[name]
    assert stored.state == state and stored.source == "scan"
    assert any(words in p.detail for p in stored.problems)
    line = list_line(services, name)
    assert f"{ICONS[state]} {state}" in line and PROBLEM_LABELS[stored.problems[0].kind] in line


@pytest.mark.parametrize(("how", "state", "kind", "button", "words"), [case[1:] for case in BROKEN],
                         ids=[case[0] for case in BROKEN])
def test_each_broken_state_reads_the_same_everywhere_is_posted_once_with_its_button_and_its_fix_once(
    world, services, how, state, kind, button, words
):
    scan(services)  # a healthy baseline: nothing to say
    world.break_token(WAF, how)

    diagnosis = verify_and_report(services, WAF)

    deliver(services)
    first, second = scan(services), scan(services)
    deliver(services)

    assert diagnosis is not None and diagnosis.state == state
    assert_views_agree(world, services, WAF, state, words)
    assert f"{WAF}:{kind}" in first.problems and second.problems == ()
    (alert,) = alerts_about(world, WAF, words)
    assert alert["accessory"]["action_id"] == button and alert["accessory"]["value"] == WAF

    if how == "expose":
        return  # nothing brings a compromised token back: its fix is a revoke (see the roll refusal test)
    world.repair(WAF)
    verify_and_report(services, WAF)
    deliver(services)
    fixed, again = scan(services), scan(services)
    deliver(services)

    assert f"{WAF}:{kind}" in fixed.fixed and again.fixed == ()
    assert len([line for line in fixes_about(world, WAF) if f": {KIND_WORDS[kind]} — fixed" in line]) == 1
    assert read_statuses(services.redis)[WAF].state == "healthy"
    assert list_line(services, WAF).startswith(f"*{WAF}*") and ":large_green_circle: healthy" in list_line(
        services, WAF)


def test_a_problem_only_verify_can_see_is_kept_by_the_scan_and_cleared_only_by_a_check_that_sees_it(world, services):
    world.break_token(WAF, "vault_value")
    verify_and_report(services, WAF)
    deliver(services)
    services.redis.hset("cftoken:value-checked", WAF, str(services.now().timestamp()))  # checked: not due today

    report = scan(services)

    stored = read_statuses(services.redis)[WAF]
    assert report.value_checks == () or WAF not in report.value_checks
    assert stored.state == "failing" and stored.source == "scan"
    (value,) = [p for p in stored.problems if p.kind == "value"]
    assert value.seen_by == "verify"
    assert "vault value out of step (seen by verify" in list_line(services, WAF)


def test_a_token_the_bot_revoked_reads_as_revoked_by_its_request_with_the_incident_in_verify_list_and_scan(
    world, services
):
    request_id = approved_request(services.redis, world, "revoke", WAF, reason="leaked in a paste")
    run_operation(services, request_id)

    diagnosis = verify_and_report(services, WAF)

    deliver(services)
    report = scan(services)

    (ticket,) = world.freescout.conversations()
    verify_text = world.slack.channel_transcript(CHANNEL)
    assert diagnosis is not None and diagnosis.state == "revoked"
    assert f"revoked by `{request_id}` on {services.now():%Y-%m-%d}, incident http" in verify_text
    assert "✅ *Vault*" not in verify_text.split(f"verify {WAF}")[-1]
    assert "log has the reference" not in verify_text
    stored = read_statuses(services.redis)[WAF]
    assert stored.state == "revoked" and stored.summary.startswith(f"revoked by `{request_id}`")
    assert str(ticket["id"]) in stored.summary or "incident http" in stored.summary
    assert ":black_circle: revoked" in list_line(services, WAF) and "healthy" not in list_line(services, WAF)
    assert report.problems == ()  # the revoke's own result already told the channel


def probe_world_inventory() -> tuple[Inventory, Inventory]:
    """The shipped inventory with a wrong id for Zone WAF Write (DNS Write's), and the corrected one."""
    shipped = load_inventory(DEFAULT_INVENTORY)
    groups = {**shipped.permission_groups, "Zone WAF Write": shipped.permission_groups["DNS Write"]}
    return shipped.model_copy(update={"permission_groups": groups}), shipped


@pytest.fixture
def probe_world() -> Callable[[], World]:
    started: list[World] = []

    def start(inventory: Inventory) -> World:
        started.append(World.start(inventory=inventory))
        return started[-1]

    yield start
    for made in started:
        made.stop()


def test_a_refused_job_probe_is_failure_mode_a_though_the_policy_matches_the_inventory(
    probe_world, redis_url, redis_conn
):
    from tests.conftest import make_settings
    from workers.clients.http import RetryPolicy
    from workers.services import build_services

    wrong, right = probe_world_inventory()
    world = probe_world(wrong)
    built = build_services(make_settings(**world.settings_values(redis_url=redis_url)), clock=world.clock.now,
                           retry=RetryPolicy.instant())
    services = dataclasses.replace(built, inventory=wrong)
    try:
        diagnosis = verify_and_report(services, WAF)
        deliver(services)
        first, second = scan(services), scan(services)
        deliver(services)

        words = "the token's own job call was refused"
        assert diagnosis is not None and diagnosis.state == "failing"
        transcript = world.slack.channel_transcript(CHANNEL)
        assert "✅ *Permissions*" in transcript  # the policy matches the (wrong) inventory
        assert "GET /zones/{zone_id}/rulesets/phases/http_ratelimit/entrypoint on raxx.app → " in transcript
        assert "(code 10000)" in transcript
        assert_views_agree(world, services, WAF, "failing", words)
        assert f"{WAF}:probe" in first.problems and second.problems == ()
        (alert,) = alerts_about(world, WAF, words)
        assert alert["accessory"]["action_id"] == "request_verify"

        fixed_services = dataclasses.replace(built, inventory=right)
        world.repair(WAF, right)
        verify_and_report(fixed_services, WAF)
        fixed = scan(fixed_services)

        assert f"{WAF}:probe" in fixed.fixed
        assert read_statuses(redis_conn)[WAF].state == "healthy"
    finally:
        built.close()


def test_a_roll_of_a_revoked_exposed_token_is_refused_at_pre_flight_with_the_runbook_path(world, services):
    from domain import requests
    from workers.operations.checkpoints import unfinished
    from workers.operations.runner import run_operation

    world.break_token(WAF, "expose")
    old_value = world.vault_value(WAF)
    request_id = approved_request(services.redis, world, "roll", WAF)

    run_operation(services, request_id)

    request = requests.load(services.redis, request_id, now=services.now())
    assert request is not None and request.state == "failed"
    assert world.vault_value(WAF) == old_value
    assert world.cloudflare.count("PUT", f"/client/v4/user/tokens/{world.token_ids[WAF]}/value") == 0
    result = request.result or ""
    assert "marked compromised at Cloudflare (status revoked (exposed))" in result
    assert "Revoke it" in result and "provision a replacement" in result and "Revocation" in result
    assert "still works" not in result and "retrying automatically" not in world.slack.channel_transcript(CHANNEL)
    assert unfinished(services.redis) == []


def test_a_roll_names_what_it_did_not_fix_and_only_says_what_it_checked(world, services):
    from domain import requests
    from workers.operations.runner import run_operation

    world.break_token(WAF, "extra_zone")
    verify_and_report(services, WAF)
    deliver(services)
    request_id = approved_request(services.redis, world, "roll", WAF)

    run_operation(services, request_id)

    request = requests.load(services.redis, request_id, now=services.now())
    assert request is not None and request.state == "succeeded"
    result = request.result or ""
    assert "verified active at Cloudflare" in result
    assert "Not fixed by the roll:" in result and "Zones: extra getraxx.com" in result and "Failure mode A" in result
    stored = read_statuses(services.redis)[WAF]
    assert (stored.state, stored.source) == ("warning", "roll") and stored.problem("zones") is not None


def test_a_roll_that_stops_before_changing_anything_does_not_claim_the_value_works(world, services):
    from domain import requests
    from workers.operations.runner import run_operation

    world.break_token(WAF, "disable")
    verify_and_report(services, WAF)
    deliver(services)
    request_id = approved_request(services.redis, world, "roll", WAF)

    run_operation(services, request_id)

    result = requests.load(services.redis, request_id, now=services.now()).result or ""
    assert "Nothing was changed" in result and "still works" not in result
    assert "its last known health (verify just now) is failing: disabled at Cloudflare" in result


def test_the_approval_message_shows_health_expiry_now_the_planned_one_and_for_a_revoke_the_last_use(
    world, services
):
    from domain import requests
    from domain.status import read_status
    from workers.approval_message import render_request
    from workers.operations.runner import run_operation

    world.break_token(WAF, "extra_zone")
    verify_and_report(services, WAF)
    roll_id = approved_request(services.redis, world, "roll", WAF)
    run_operation(services, roll_id)  # the worker redraws the approval message with the health it leaves
    deliver(services)
    scan(services)  # reads Cloudflare's last_used_on: the roll's own verify
    revoke_id = approved_request(services.redis, world, "revoke", WAF, reason="policy leak")

    roll_request = requests.load(services.redis, roll_id, now=services.now())
    assert roll_request is not None and roll_request.message_ts
    roll = world.slack.as_text(world.slack.message(CHANNEL, roll_request.message_ts))
    assert "*Health* :large_yellow_circle: warning — zones differ from the inventory (seen by verify" in roll
    assert "*Expiry now* expires" in roll and "*Planned expiry*" not in roll  # done: the expiry it set
    revoke_request = requests.load(services.redis, revoke_id, now=services.now())
    _, blocks = render_request(revoke_request, services.inventory, read_status(services.redis, WAF), services.now())
    revoke = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b)
    assert "*Last use* last used" in revoke and "cftoken's own check" in revoke


def test_last_use_tells_cftokens_own_checks_from_any_other_use(world, services):
    import httpx

    from domain.health_words import last_used_text

    verify_and_report(services, WAF)
    world.clock.advance(timedelta(minutes=30))
    scan(services)
    only_us = last_used_text(read_statuses(services.redis)[WAF], services.now())

    world.clock.advance(timedelta(minutes=30))
    httpx.get(world.cloudflare.url + "/client/v4/user/tokens/verify",
              headers={"Authorization": f"Bearer {world.live_value(WAF)}"})  # a consumer, not the bot
    scan(services)
    someone = last_used_text(read_statuses(services.redis)[WAF], services.now())

    assert "which was cftoken's own check: nothing but cftoken has used it since" in only_us
    assert "by something other than cftoken" in someone and "cftoken's last check" in someone


def test_an_over_privileged_token_is_a_warning_and_verify_offers_no_roll_for_it(world, services):
    world.break_token(WAF, "extra_zone")

    diagnosis = verify_and_report(services, WAF)
    deliver(services)

    assert diagnosis is not None and diagnosis.state == "warning"
    shown = world.slack.as_text(next(m for m in reversed(world.slack.messages(CHANNEL))
                                     if m.text.startswith(f"verify {WAF}")))
    assert "⚠️ *Zones* — extra getraxx.com (over-privileged)" in shown
    assert "[Request roll]" not in shown and "[Verify again]" in shown


def test_list_says_a_token_deleted_outside_the_bot_is_deleted_and_offers_the_one_path_provision(world, services):
    world.break_token(WAF, "delete")

    scan(services)

    line = list_line(services, WAF)
    assert "deleted at Cloudflare" in line and "no expiry" not in line
    assert f"`/cftoken provision {WAF}` for a replacement" in line and "roll " not in line.split("\n")[1]
