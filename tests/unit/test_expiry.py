"""Pure expiry decisions: thresholds, de-dup keys, drift, the no-expiry reminder, statuses and the digest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from domain.cloudflare_tokens import CfToken
from domain.health import Health, Problem
from domain.inventory import Consumer, Token, load_inventory
from domain.message_parts import BLOCKS_TEXT_BUDGET, MOST_BLOCKS, text_length
from domain.messages import time_left_text
from domain.settings import DEFAULT_INVENTORY
from domain.vault import Vault
from standins.block_kit import MAX_BLOCKS_TEXT, check_message
from workers.scan.expiry import (
    EXPIRED,
    Assessment,
    Findings,
    Reminder,
    assess,
    cadence_reminder,
    gather_facts,
    reminder_key,
    threshold_for,
    thresholds,
    warning_key,
)
from workers.scan.expiry_messages import render_digest
from workers.scan.health_watch import Alert

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
LEVELS = thresholds((14, 7, 3, 1))
INVENTORY = load_inventory(DEFAULT_INVENTORY)
WAF = INVENTORY.find("CF_WAF_EDIT_RAXX_APP")
PAGES = INVENTORY.find("CF_PAGES_DEPLOY")
MGMT = INVENTORY.management
WAF_ID = "d0cf0adeda107092f6e8c0646460f8f8"
PAGES_ID = "0123456789abcdef0123456789abcdef"


def vault_of(**values: str) -> Vault:
    return Vault({name: SecretStr(value) for name, value in values.items()}, "/MooseQuest/cloudflare", "prod")


def listed(token_id: str, name: str, expires_on: datetime | None, **extra: object) -> CfToken:
    return CfToken(id=token_id, name=name, status="active", expires_on=expires_on, **extra)


def waf_vault(expires_at: datetime | None = NOW + timedelta(days=10), token_id: str = WAF_ID) -> Vault:
    values = {"CF_WAF_EDIT_RAXX_APP": "cfut_value", "CF_WAF_EDIT_RAXX_APP__TOKEN_ID": token_id}
    if expires_at is not None:
        values["CF_WAF_EDIT_RAXX_APP__EXPIRES_AT"] = expires_at.isoformat()
    return vault_of(**values)


def assessment_of(token: Token, days_left: float | None, **changes: object) -> Assessment:
    expires_on = NOW + timedelta(days=days_left) if days_left is not None else None
    values: dict[str, object] = {
        "token": token, "expires_on": expires_on, "time_left": expires_on - NOW if expires_on else None,
        "threshold": threshold_for(expires_on - NOW, LEVELS) if expires_on else None, "reminder": None,
        "cloudflare_status": "active", "listing_read": True,
    }
    values.update(changes)
    return Assessment(**values)  # type: ignore[arg-type]


def test_thresholds_run_loosest_first_and_end_with_expired():
    assert thresholds((1, 14, 3, 7, 7)) == (14, 7, 3, 1, EXPIRED)


def test_no_threshold_applies_with_more_time_left_than_the_loosest():
    assert threshold_for(timedelta(days=20), LEVELS) is None
    assert threshold_for(timedelta(days=14, seconds=1), LEVELS) is None


def test_a_threshold_applies_from_the_moment_it_is_reached():
    assert threshold_for(timedelta(days=14), LEVELS) == 14
    assert threshold_for(timedelta(days=6, hours=23), LEVELS) == 7


def test_only_the_tightest_threshold_applies_after_a_gap():
    assert threshold_for(timedelta(hours=12), LEVELS) == 1


def test_no_time_left_is_the_expired_threshold():
    assert threshold_for(timedelta(0), LEVELS) == EXPIRED
    assert threshold_for(-timedelta(days=3), LEVELS) == EXPIRED


def test_configured_thresholds_replace_the_defaults():
    levels = thresholds((30, 10))

    assert threshold_for(timedelta(days=25), levels) == 30
    assert threshold_for(timedelta(days=2), levels) == 10


def test_warning_key_names_token_expiry_instant_and_threshold():
    key = warning_key("CF_PAGES_DEPLOY", datetime(2026, 6, 1, tzinfo=UTC), 7)

    assert key == "cftoken:warned:CF_PAGES_DEPLOY:1780272000:7d"
    assert warning_key("CF_PAGES_DEPLOY", datetime(2026, 6, 1, tzinfo=UTC), EXPIRED).endswith(":expired")


def test_a_moved_expiry_gives_fresh_warning_keys():
    before = warning_key("CF_PAGES_DEPLOY", datetime(2026, 6, 1, tzinfo=UTC), 14)
    after = warning_key("CF_PAGES_DEPLOY", datetime(2026, 8, 30, tzinfo=UTC), 14)

    assert before != after


def test_no_reminder_before_the_cadence_has_run_out():
    assert cadence_reminder(NOW - timedelta(days=89), 90, NOW) is None


def test_reminder_once_the_cadence_has_run_out():
    reminder = cadence_reminder(NOW - timedelta(days=91), 90, NOW)

    assert reminder == Reminder(NOW - timedelta(days=91), NOW - timedelta(days=1), 1)


def test_reminder_period_counts_whole_cadences_so_each_fires_once():
    first = cadence_reminder(NOW - timedelta(days=100), 90, NOW)
    second = cadence_reminder(NOW - timedelta(days=181), 90, NOW)

    assert first is not None and second is not None
    assert (first.period, second.period) == (1, 2)
    assert reminder_key("CF_PAGES_READ", first) != reminder_key("CF_PAGES_READ", second)


def test_no_reminder_without_a_known_last_rotation():
    assert cadence_reminder(None, 90, NOW) is None


def test_recorded_roll_time_wins_over_cloudflare_modified_on_for_the_reminder():
    token = INVENTORY.find("CF_PAGES_READ")
    record = listed("a" * 32, token.name, None, modified_on=NOW - timedelta(days=10))
    vault = vault_of(CF_PAGES_READ="v", CF_PAGES_READ__TOKEN_ID="a" * 32)

    from_cloudflare = assess(gather_facts(token, vault, {"a" * 32: record}, None), NOW, LEVELS)
    from_roll = assess(gather_facts(token, vault, {"a" * 32: record}, NOW - timedelta(days=95)), NOW,
                       LEVELS)

    assert from_cloudflare.reminder is None
    assert from_roll.reminder is not None and from_roll.reminder.period == 1


def test_a_token_with_an_expiry_gets_no_cadence_reminder():
    record = listed(WAF_ID, WAF.name, NOW + timedelta(days=10), modified_on=NOW - timedelta(days=200))

    assessment = assess(gather_facts(WAF, waf_vault(), {WAF_ID: record}, None), NOW, LEVELS)

    assert assessment.reminder is None


def test_time_left_comes_from_cloudflare_expires_on():
    record = listed(WAF_ID, WAF.name, NOW + timedelta(days=6))

    assessment = assess(gather_facts(WAF, waf_vault(NOW + timedelta(days=6)), {WAF_ID: record}, None), NOW, LEVELS)

    assert assessment.time_left == timedelta(days=6)
    assert assessment.threshold == 7


def test_time_left_falls_back_to_expires_at_where_cloudflare_has_none():
    record = listed(WAF_ID, WAF.name, None)

    assessment = assess(gather_facts(WAF, waf_vault(NOW + timedelta(days=2)), {WAF_ID: record}, None), NOW, LEVELS)

    assert assessment.expires_on == NOW + timedelta(days=2)
    assert assessment.threshold == 3


def test_time_left_falls_back_to_expires_at_when_cloudflare_could_not_be_read():
    assessment = assess(gather_facts(WAF, waf_vault(NOW - timedelta(hours=1)), None, None), NOW, LEVELS)

    assert assessment.threshold == EXPIRED


def sections(blocks: list[dict]) -> list[dict]:
    return [block for block in blocks if block["type"] == "section"]


def test_digest_has_one_section_per_token_with_a_request_roll_button():
    findings = Findings(warnings=(assessment_of(WAF, 6), assessment_of(PAGES, -2)))

    ((text, blocks),) = render_digest(findings, INVENTORY, NOW)

    buttons = [s["accessory"] for s in sections(blocks) if "accessory" in s]
    assert [b["value"] for b in buttons] == ["CF_PAGES_DEPLOY", "CF_WAF_EDIT_RAXX_APP"]  # the tightest first
    assert {b["action_id"] for b in buttons} == {"request_roll"}
    assert buttons[0]["text"] == {"type": "plain_text", "text": "Request roll"}
    assert "CF_PAGES_DEPLOY expired" in text and "CF_WAF_EDIT_RAXX_APP expires in 6 days" in text


def test_a_warning_section_shows_zones_consumers_days_left_and_expiry_time():
    ((_, blocks),) = render_digest(Findings(warnings=(assessment_of(WAF, 6.5),)), INVENTORY, NOW)

    waf = next(s["text"]["text"] for s in sections(blocks) if "CF_WAF_EDIT_RAXX_APP" in s["text"]["text"])
    assert "expires in *6 days 12 h* (7-day warning)" in waf
    assert "*Expires* <!date^1778457600^{date_short_pretty} {time}|2026-05-11 00:00 UTC>" in waf
    assert "*Zones* raxx.app" in waf
    assert "sre-agent (CI/scripted): Deploy and update WAF rate-limit rules" in waf


def test_the_management_token_warning_has_no_button_and_says_why():
    ((_, blocks),) = render_digest(Findings(warnings=(assessment_of(MGMT, 3),)), INVENTORY, NOW)

    (mgmt,) = [s for s in sections(blocks) if "CF_ACCESS_MGMT" in s["text"]["text"]]
    assert "accessory" not in mgmt
    assert "failure mode D" in mgmt["text"]["text"]


def test_a_cadence_reminder_section_names_the_last_rotation_and_has_a_button():
    token = INVENTORY.find("CF_PAGES_READ")
    reminder = Reminder(NOW - timedelta(days=91), NOW - timedelta(days=1), 1)

    ((text, blocks),) = render_digest(Findings(reminders=(assessment_of(token, None, reminder=reminder),)),
                                      INVENTORY, NOW)

    (section,) = [s for s in sections(blocks) if "CF_PAGES_READ" in s["text"]["text"]]
    assert "has no expiry; its 90-day rotation is due" in section["text"]["text"]
    assert "|2026-02-02 12:00 UTC> (91 days ago)" in section["text"]["text"]
    assert section["accessory"]["value"] == "CF_PAGES_READ"
    assert "CF_PAGES_READ is due for rotation" in text


def test_inventory_text_is_escaped_in_the_digest():
    token = PAGES.model_copy(update={"consumers": (Consumer(who="<!channel>", how="a & b"),)})

    ((_, blocks),) = render_digest(Findings(warnings=(assessment_of(token, 1),)), INVENTORY, NOW)

    text = " ".join(s["text"]["text"] for s in sections(blocks))
    assert "&lt;!channel&gt;: a &amp; b" in text and "<!channel>" not in text


def test_a_digest_past_slacks_block_limit_continues_in_a_second_message():
    many = tuple(
        assessment_of(Token(name=f"CF_BULK_{i:03d}", zones=("raxx.app",), permissions=("Zone Read",),
                            scope="Zone:Zone:Read", cadence_days=90), 5)
        for i in range(60)
    )

    messages = render_digest(Findings(warnings=many), INVENTORY, NOW)

    assert sum(len(blocks) for _, blocks in messages) == 62 and len(messages) >= 2
    assert all(len(blocks) <= MOST_BLOCKS for _, blocks in messages)
    assert messages[0][0].endswith(f"(part 1 of {len(messages)})")
    values = [s["accessory"]["value"] for _, blocks in messages for s in sections(blocks) if "accessory" in s]
    assert len(values) == len(set(values)) == 60


def bulk_warnings(count: int) -> tuple[Assessment, ...]:
    """`count` tokens like the runbook's (a zone, two permissions, two consumers) warned at 5 days."""
    return tuple(
        assessment_of(Token(name=f"CF_DNS_EDIT_ZONE_{i:03d}_EXAMPLE_COM", zones=("raxx.app",),
                            permissions=("DNS Write", "Zone Read"), scope="Zone:DNS:Edit, Zone:Zone:Read",
                            cadence_days=90, unblocks="deploys of the marketing site and its preview builds",
                            consumers=(Consumer(who="GitHub Actions: raxx/web", how="secret CF_API_TOKEN"),
                                       Consumer(who="Heroku app raxx-api", how="config var CLOUDFLARE_TOKEN"))), 5)
        for i in range(count))


@pytest.mark.parametrize("count", [30, 50])
def test_a_digest_past_slacks_total_text_limit_is_split_and_every_part_is_accepted(count):
    findings = Findings(warnings=bulk_warnings(count))
    whole = sum(text_length(blocks) for _, blocks in render_digest(findings, INVENTORY, NOW))

    messages = render_digest(findings, INVENTORY, NOW)

    for text, blocks in messages:
        check_message(text, blocks)  # raises msg_blocks_too_long past the stand-in's 11,000
        assert text_length(blocks) <= BLOCKS_TEXT_BUDGET < MAX_BLOCKS_TEXT
    values = [s["accessory"]["value"] for _, blocks in messages for s in sections(blocks) if "accessory" in s]
    assert len(set(values)) == count
    assert (whole > MAX_BLOCKS_TEXT) == (len(messages) > 1)


@pytest.mark.parametrize(
    ("left", "text"),
    [
        (timedelta(days=13, hours=23, minutes=59), "13 days 23 h"),
        (timedelta(days=7), "7 days"),
        (timedelta(days=1, hours=2), "1 day 2 h"),
        (timedelta(hours=5, minutes=30), "5 h"),
        (timedelta(minutes=20), "20 min"),
        (timedelta(seconds=20), "under a minute"),
    ],
)
def test_time_left_reads_in_days_and_hours(left: timedelta, text: str):
    assert time_left_text(left) == text


def footer(blocks: list[dict]) -> str:
    return blocks[-1]["elements"][0]["text"]


def test_a_digest_of_only_a_health_problem_mentions_neither_thresholds_nor_request_roll():
    problem = Problem(kind="pin", severity="warning", detail="pin differs", next_step="Edit the inventory.",
                      seen_at=NOW, seen_by="scan")
    health = Health(checked_at=NOW, source="scan", state="warning", problems=(problem,))

    ((_, blocks),) = render_digest(Findings(alerts=(Alert(WAF, problem, health),)), INVENTORY, NOW)

    assert footer(blocks).startswith("Expiry scan ")
    assert "threshold" not in footer(blocks) and "Request roll" not in footer(blocks)


def test_a_digest_with_an_expiry_warning_explains_thresholds_and_request_roll():
    ((_, blocks),) = render_digest(Findings(warnings=(assessment_of(WAF, 6),)), INVENTORY, NOW)

    assert "Each threshold is posted once per expiry" in footer(blocks)
    assert "*Request roll* opens the usual approval request" in footer(blocks)


def test_a_management_token_warning_explains_thresholds_but_not_a_button_it_lacks():
    ((_, blocks),) = render_digest(Findings(warnings=(assessment_of(MGMT, 3),)), INVENTORY, NOW)

    assert "Each threshold" in footer(blocks) and "Request roll" not in footer(blocks)
