"""What the bot's messages say, read as a person reads them in Slack."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.actions import OVERLAP_KEEP_OLD, OVERLAP_RETIRE_NOW
from domain.audit import AuditEvent
from domain.errors import ManagementTokenInvalid
from domain.health import Problem
from domain.inventory import load_inventory
from domain.messages import escape, render_error, render_help, render_history, render_list, slack_date
from domain.requests import Approval, Request
from domain.settings import DEFAULT_INVENTORY
from domain.status import TokenStatus
from standins.slack import Message, SlackStandIn
from tests.conftest import APPROVER_A, APPROVER_B, TEST_CHANNEL
from workers.approval_message import render_request

INVENTORY = load_inventory(DEFAULT_INVENTORY)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
READER = SlackStandIn()  # never started: used only to render Block Kit as text


def read(message: tuple[str, list[dict]]) -> str:
    text, blocks = message
    return READER.as_text(Message("1.0", TEST_CHANNEL, "U0CFTBOT1", text, blocks))


def buttons(message: tuple[str, list[dict]]) -> list[tuple[str, str]]:
    return [(e["action_id"], e["value"]) for b in message[1] if b["type"] == "actions" for e in b["elements"]]


def request(**changes) -> Request:
    values = dict(
        id="roll-0123456789ab", action="roll", token="CF_WAF_EDIT_RAXX_APP", requester=APPROVER_A,
        reason="quarterly", state="pending", needed=1, created_at=T0, expires_at=T0 + timedelta(minutes=30),
        channel=TEST_CHANNEL, message_ts="1.0", updated_at=T0,
    )
    values.update(changes)
    return Request(**values)


def test_a_pending_request_has_buttons_that_carry_only_its_id():
    shown = render_request(request(), INVENTORY)

    assert buttons(shown) == [("approve", "roll-0123456789ab"), ("deny", "roll-0123456789ab"),
                              ("cancel", "roll-0123456789ab")]
    assert "No approvals yet · 0 of 1 needed · expires <!date^1772368200^{date_short_pretty} {time}|2026-03-01 12:30 UTC>" \
        " unless approved" in read(shown)


@pytest.mark.parametrize(
    "state", ["approved", "queued", "running", "succeeded", "failed", "denied", "cancelled", "expired"]
)
def test_a_decided_request_has_no_buttons(state):
    assert buttons(render_request(request(state=state, denied_by=APPROVER_B), INVENTORY)) == []


def test_the_approval_message_names_token_scope_zones_consumers_and_consequence():
    text = read(render_request(request(), INVENTORY))

    assert "*Roll CF_WAF_EDIT_RAXX_APP* — waiting for approval" in text
    assert "*Scope*\nZone:WAF:Edit, Zone:Zone:Read" in text and "*Zones*\nraxx.app" in text
    assert "• sre-agent (CI/scripted): Deploy and update WAF rate-limit rules" in text
    assert "consumers reading from the vault pick up the new one" in text


def test_approvals_are_listed_with_names_and_times():
    approvals = [Approval(user=APPROVER_B, at=T0 + timedelta(minutes=4))]

    text = read(render_request(request(state="queued", approvals=approvals), INVENTORY))

    assert f"Approved by <@{APPROVER_B}> {slack_date(T0 + timedelta(minutes=4))}" in text
    assert "Queued: waiting for a worker" in text


def test_progress_and_results_are_shown_in_place():
    running = read(render_request(request(state="running", step="stored"), INVENTORY))
    done = read(render_request(request(state="succeeded", result="new value verified at Cloudflare"), INVENTORY))
    failed = read(render_request(request(state="failed", result="Cloudflare said 1000"), INVENTORY))
    revoked = read(render_request(request(action="revoke", state="succeeded", result="revoked",
                                          ticket_url="https://support.example/conversation/7"), INVENTORY))

    assert "Running (step: stored)" in running
    assert f"Done {slack_date(T0)}: new value verified at Cloudflare" in done
    assert f"Failed {slack_date(T0)}: Cloudflare said 1000" in failed
    assert "*Revoked CF_WAF_EDIT_RAXX_APP*" in revoked and "*Rolled CF_WAF_EDIT_RAXX_APP*" in done
    assert "*Roll of CF_WAF_EDIT_RAXX_APP failed*" in failed


@pytest.mark.parametrize("state", ["succeeded", "failed", "denied", "cancelled", "expired"])
def test_a_finished_request_reads_finished(state):
    text = read(render_request(request(state=state, denied_by=APPROVER_B, result="r"), INVENTORY))

    assert "What will happen" not in text and "waiting" not in text and "expires" not in text


def test_a_denial_shows_who_denied_and_why():
    denied = request(state="denied", denied_by=APPROVER_B, deny_reason="<!here> not during the freeze",
                     updated_at=T0 + timedelta(minutes=3))

    text = read(render_request(denied, INVENTORY))

    assert "*Roll of CF_WAF_EDIT_RAXX_APP denied*" in text
    assert (f"denied by <@{APPROVER_B}> {slack_date(T0 + timedelta(minutes=3))}: “&lt;!here&gt; not during the "
            "freeze”; nothing was done") in text


def test_revoke_approval_asks_for_confirmation():
    (approve,) = [e for b in render_request(request(action="revoke"), INVENTORY)[1] if b["type"] == "actions"
                  for e in b["elements"] if e["action_id"] == "approve"]

    assert approve["confirm"]["title"]["text"] == "Revoke for good?"


def test_a_typed_reason_cannot_mention_anyone():
    text = read(render_request(request(reason="<!channel> <@U0BOB0002> & co"), INVENTORY))

    assert "&lt;!channel&gt; &lt;@U0BOB0002&gt; &amp; co" in text
    assert escape("a<b>&c") == "a&lt;b&gt;&amp;c"


def test_list_shows_expiry_health_and_age_without_asking_anyone():
    statuses = {
        "CF_PAGES_DEPLOY": TokenStatus(checked_at=T0 - timedelta(minutes=20), source="scan", state="warning",
                                       expires_on=T0 + timedelta(days=6, hours=1)),
        "CF_PAGES_READ": TokenStatus(checked_at=T0 - timedelta(days=3), source="verify", state="failing",
                                     expires_on=T0 - timedelta(days=1), summary="token expired"),
    }

    text = read(render_list(INVENTORY, statuses, T0, {"CF_PAGES_DEPLOY": T0 - timedelta(days=84)}))

    soon, past = slack_date(T0 + timedelta(days=6, hours=1)), slack_date(T0 - timedelta(days=1))
    assert f":large_yellow_circle: warning · expires {soon} (in 6 days 1 h) · checked by scan 20 min ago" in text
    assert "checked by scan 20 min ago · last rolled by the bot 84 days ago" in text
    assert text.count("not rolled by the bot yet") == 4
    assert f":red_circle: failing · expired {past} (1 day ago) · checked by verify 3 days ago · token expired" in text
    assert text.count("not checked yet") == 3


def test_history_lists_who_did_what_and_when():
    events = [
        AuditEvent(at=T0 + timedelta(minutes=2), who=APPROVER_B, event="approved", token="CF_PAGES_DEPLOY",
                   action="roll", request_id="roll-0123456789ab", detail="1 of 1"),
        AuditEvent(at=T0, who=APPROVER_A, event="requested", token="CF_PAGES_DEPLOY", action="roll",
                   request_id="roll-0123456789ab", detail="<!here> rotate"),
    ]

    text = read(render_history(INVENTORY.find("CF_PAGES_DEPLOY"), events))

    later = slack_date(T0 + timedelta(minutes=2))
    assert f"{later} · *approved roll* by <@U0BOB0002> `roll-0123456789ab` — 1 of 1" in text
    assert f"{slack_date(T0)} · *requested roll* by <@U0ALICE01> `roll-0123456789ab` — &lt;!here&gt; rotate" in text


def test_help_names_the_approvers():
    assert f"<@{APPROVER_A}>, <@{APPROVER_B}>" in read(render_help(INVENTORY, {APPROVER_B, APPROVER_A}))


def test_typed_errors_show_the_runbooks_next_step():
    text = read(render_error(ManagementTokenInvalid("CF_ACCESS_MGMT was refused")))

    assert "CF_ACCESS_MGMT was refused" in text and "Failure mode D" in text


def test_a_waiting_overlap_roll_offers_retire_old_now_and_keep_old_until_a_choice():
    waiting = request(state="running", retire_at=T0 + timedelta(hours=24))
    chosen = waiting.model_copy(update={"overlap_end": "keep_old", "overlap_end_by": APPROVER_B,
                                        "overlap_end_at": T0 + timedelta(hours=1)})

    shown = render_request(waiting, INVENTORY)
    blocks = {e["action_id"]: e for b in shown[1] if b["type"] == "actions" for e in b["elements"]}

    assert buttons(shown) == [(OVERLAP_RETIRE_NOW, waiting.id), (OVERLAP_KEEP_OLD, waiting.id)]
    assert blocks[OVERLAP_RETIRE_NOW]["confirm"]["style"] == "danger"
    assert "second live token" in blocks[OVERLAP_KEEP_OLD]["confirm"]["text"]["text"]
    assert "the old value keeps working until <!date^1772452800^" in read(shown)
    assert buttons(render_request(chosen, INVENTORY)) == []
    assert f"<@{APPROVER_B}> pressed *Keep old* <!date^" in read(render_request(chosen, INVENTORY))
    assert buttons(render_request(waiting.model_copy(update={"overlap_end": "deadline"}), INVENTORY)) == []


def test_a_result_keeps_the_bots_mentions_and_dates_but_not_a_quoted_channel_ping():
    done = request(state="succeeded", result="kept by <@U0BOB0002> <!date^1772452800^{date_short_pretty} {time}|"
                                             "2026-03-02 12:00 UTC>; Cloudflare said <!channel>")

    shown = read(render_request(done, INVENTORY))

    assert "kept by <@U0BOB0002> <!date^1772452800^" in shown and "&lt;!channel&gt;" in shown


@pytest.mark.parametrize("state", ["succeeded", "failed", "denied", "cancelled", "expired"])
def test_a_finished_roll_shows_no_planned_expiry_only_the_expiry_now(state):
    health = TokenStatus(state="healthy", summary="active", source="verify", checked_at=T0,
                         expires_on=T0 + timedelta(days=90))
    text = read(render_request(request(state=state, denied_by=APPROVER_B), INVENTORY, health, T0))

    assert "*Planned expiry*" not in text and "*Expiry now*" in text
    assert "*Planned expiry*" in read(render_request(request(), INVENTORY, health, T0))


def test_a_revoke_beside_a_roll_does_not_say_the_roll_is_still_open_when_it_may_have_ended():
    text = read(render_request(request(id="revoke-0123456789ab", action="revoke", supersedes="roll-0123456789ab"),
                               INVENTORY))

    assert "the open roll" not in text
    assert "`roll-0123456789ab`, open when this revoke was asked" in text and "if it is still open" in text


def test_list_never_clips_a_problem_off_a_token_with_a_long_scope():
    seen = T0 - timedelta(minutes=5)
    problems = tuple(Problem(kind=kind, severity="failing", detail=kind, next_step="verify", seen_at=seen,
                             seen_by="verify") for kind in ("zones", "permissions"))
    statuses = {"CF_ACCESS_MGMT": TokenStatus(checked_at=seen, source="verify", state="failing", problems=problems,
                                              expires_on=T0 + timedelta(days=60))}

    text = read(render_list(INVENTORY, statuses, T0))

    assert "zones differ from the inventory (seen by verify 5 min ago)" in text
    assert "permissions differ from the inventory (seen by verify 5 min ago)" in text
    assert "*CF_ACCESS_MGMT*" in text


def test_a_provision_of_a_token_last_seen_live_shows_its_health_to_the_approver():
    health = TokenStatus(state="healthy", summary="active, 61 days left", source="scan", checked_at=T0,
                         expires_on=T0 + timedelta(days=61))
    text = read(render_request(request(id="provision-0123456789ab", action="provision"), INVENTORY, health, T0))

    assert "*Health* :large_green_circle: healthy — active, 61 days left · checked by scan just now" in text
    assert "*Planned expiry*" not in text and "*Last use*" not in text and "*Expiry now*" not in text


def test_a_clip_never_cuts_inside_slack_markup():
    from domain.messages import clip

    text = ("the old value dies <!date^1796543640^{date_short_pretty} at {time}|2026-12-06 10:00 UTC>, asked by "
            "<@U0ALICE01> in <https://example.slack.com/archives/C1/p1|the thread> &amp; more")

    for limit in range(2, len(text)):
        clipped = clip(text, limit)
        assert len(clipped) <= limit and clipped.endswith("…")
        assert clipped.count("<") == clipped.count(">"), clipped
        assert not any(clipped[:-1].endswith(part) for part in ("&", "&a", "&am", "&amp")), clipped
    assert clip(text, 30) == "the old value dies …"
    assert clip(text, len(text)) == text


def test_the_deny_modals_reason_is_optional_and_its_label_leaves_saying_so_to_slack():
    from domain.messages import render_deny_modal

    (field,) = [block for block in render_deny_modal(request())["blocks"] if block["type"] == "input"]

    assert field["optional"] is True
    assert "optional" not in field["label"]["text"].lower()  # Slack shows "(optional)" beside an optional input


@pytest.mark.parametrize("state", ["failed", "denied", "cancelled", "expired"])
def test_a_roll_that_did_not_succeed_tells_its_strategy_in_the_past_tense(state):
    text = read(render_request(request(state=state, denied_by=APPROVER_B, result="r"), INVENTORY))

    (line,) = [part for part in text.split("\n") if part.startswith("*Strategy:*")]
    assert "replaces the value" not in line and "stops working" not in line, line
    assert "was not replaced" in line or "was to replace" in line
