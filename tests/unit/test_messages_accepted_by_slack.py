"""Whatever people type and whatever the inventory holds, every message builder makes a message Slack accepts.

Each builder runs over ≥ 1,000 generated inputs (arbitrary text, `&<>`-heavy text that escaping expands,
inventories of 1–60 tokens) and its output is checked with the rules the Slack stand-in applies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import parse_command
from domain.audit import AuditEvent
from domain.blast_radius import BlastRadius, summarise, unavailable
from domain.cloudflare_audit import AuditEntry
from domain.errors import CftokenError, UsageError
from domain.health import Health, Problem
from domain.inventory import Consumer, Inventory, Token, Vault, load_inventory
from domain.message_parts import split_message
from domain.messages import (
    render_already_open,
    render_deny_modal,
    render_error,
    render_help,
    render_history,
    render_list,
    render_notice,
)
from domain.requests import Approval, Request
from domain.revoke_targets import Kept, Known, Overlap
from domain.settings import DEFAULT_INVENTORY
from standins.block_kit import check_message, check_view
from workers.approval_message import render_request
from workers.scan.expiry import EXPIRED, Assessment, Findings, Reminder
from workers.scan.expiry_messages import render_digest
from workers.verify.diagnosis_messages import render_diagnosis
from workers.verify.report import Check, Diagnosis

EXAMPLES = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHIPPED = load_inventory(DEFAULT_INVENTORY)
ZONE_ID = "0" * 31 + "1"
PERMISSION_ID = "0" * 31 + "2"

# Plenty of Slack's special characters: escaping turns each of & < > into 4–5 characters.
typed = st.one_of(
    st.text(max_size=4000),
    st.text(alphabet="&<>@!*_~`\n abc", max_size=4000),
    st.builds(lambda n, c: c * n, st.integers(0, 3000), st.sampled_from(["&", "<", ">", "x", "é", "🔥"])),
)
short = st.text(min_size=1, max_size=300)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
def token(n: int, long: bool, scope: str, consumers: list[tuple[str, str]], all_zones: bool, cadence: int) -> Token:
    name = f"CF_TOKEN_{n}" + ("_X" * 50 if long else "")
    return Token(name=name[:120].rstrip("_"), scope=scope, zones=("*",) if all_zones else ("example.com",),
                 permissions=("DNS Write",), cadence_days=cadence,
                 consumers=tuple(Consumer(who=w, how=h) for w, h in consumers))




@st.composite
def inventories(draw, most: int = 60) -> Inventory:
    """1..`most` tokens whose scopes and consumers cycle through a few arbitrary texts (cheap to draw, as long)."""
    count, texts = draw(st.integers(1, most)), draw(st.lists(short, min_size=1, max_size=4))
    long_name = draw(st.booleans())

    def text(n: int) -> str:
        return texts[n % len(texts)]

    drawn = [token(n, long_name and n == 0, text(n), [(text(n + 1), text(n + 2))] * (n % 5), n % 3 == 0,
                   1 + n % 3650) for n in range(count)]
    return Inventory(vault=Vault(path="/p", environment="prod"), management_token=drawn[0].name,
                     zones={"example.com": ZONE_ID}, permission_groups={"DNS Write": PERMISSION_ID},
                     tokens=tuple(drawn))


statuses = st.builds(
    Health, checked_at=moments, source=st.sampled_from(["verify", "scan", "roll", "revoke"]),
    state=st.sampled_from(["healthy", "warning", "failing", "revoked", "compromised", "unknown"]),
    expires_on=st.one_of(st.none(), moments), summary=st.text(max_size=600),
)


@st.composite
def requests(draw) -> tuple[Request, Inventory]:
    inventory = draw(st.one_of(st.just(SHIPPED), inventories(most=3)))
    state = draw(st.sampled_from(["pending", "approved", "queued", "running", "succeeded", "failed", "denied",
                                  "cancelled", "expired"]))
    approvals = [Approval(user=f"U0{n:07d}", at=T0) for n in range(draw(st.integers(0, 5)))]
    request = Request(
        id="roll-0123456789ab", action=draw(st.sampled_from(["roll", "revoke", "provision"])),
        token=draw(st.sampled_from(inventory.names)), requester="U0ALICE01", reason=draw(typed)[:1000],
        state=state, needed=draw(st.integers(1, 5)), approvals=approvals, denied_by="U0BOB0002",
        deny_reason=draw(typed)[:1000], created_at=T0, expires_at=draw(moments), channel="C0SRE0001",
        message_ts="1.0", step=draw(st.one_of(st.none(), short)), result=draw(st.one_of(st.none(), typed)),
        ticket_url=draw(st.one_of(st.none(), st.just("https://support.example/conversation/7"))), updated_at=T0,
        retire_at=draw(st.one_of(st.none(), moments)),
        overlap_end=draw(st.sampled_from([None, "retire_now", "keep_old", "deadline"])),
        overlap_end_by="U0BOB0002", overlap_end_at=draw(st.one_of(st.none(), moments)),
    )
    return request, inventory


def accepted(message: tuple[str, list[dict]]) -> None:
    check_message(*message)


def accepted_in_parts(message: tuple[str, list[dict]]) -> None:
    """A long answer as the bot sends it (split_message): each part accepted, every block in one of them."""
    parts = split_message(message)
    for part in parts:
        accepted(part)
    assert [block for _, blocks in parts for block in blocks] == message[1]


@EXAMPLES
@given(typed)
def test_every_answer_to_typed_commands_is_accepted(text):
    for command in (text, f"roll {text}", f"verify {text}", f"roll CF_WAF_EDIT_RAXX_APP {text}",
                    f"history CF_WAF_EDIT_RAXX_APP {text}", f"{text} CF_WAF {text}"):
        try:
            parse_command(command, SHIPPED)
        except UsageError as refused:
            accepted(render_error(refused))


@EXAMPLES
@given(typed)
def test_notices_and_errors_are_accepted(text):
    accepted(render_notice(text or "x"))
    accepted(render_error(CftokenError(text or "x")))


@EXAMPLES
@given(inventories(), st.sets(st.from_regex(r"\AU[A-Z0-9]{8}\Z"), max_size=40))
def test_help_is_accepted(inventory, approvers):
    accepted(render_help(inventory, approvers))


@EXAMPLES
@given(inventories(), st.lists(statuses, min_size=1, max_size=3), st.lists(moments, min_size=1, max_size=3),
       st.integers(1, 4))
def test_list_is_accepted(inventory, drawn, rolled, every):
    shown = {t.name: drawn[n % len(drawn)] for n, t in enumerate(inventory.tokens) if n % every == 0}
    rotations = {t.name: rolled[n % len(rolled)] for n, t in enumerate(inventory.tokens) if n % every != 1}

    accepted_in_parts(render_list(inventory, shown, T0, rotations))


events = st.builds(AuditEvent, at=moments, who=st.one_of(st.just("cftoken"), st.from_regex(r"\AU[A-Z0-9]{8}\Z")),
                   event=st.sampled_from(["requested", "approved", "denied", "failed", "verify"]),
                   token=st.just("CF_WAF_EDIT_RAXX_APP"), action=st.sampled_from(["roll", "revoke", ""]),
                   request_id=st.just("roll-0123456789ab"), detail=typed)


@EXAMPLES
@given(st.lists(events, min_size=1, max_size=3), st.integers(0, 20), st.integers(1, 50), st.booleans())
def test_history_is_accepted(drawn, count, page, more):
    shown = [drawn[n % len(drawn)] for n in range(count)]  # a page of up to 20, each as long as drawn

    accepted_in_parts(render_history(SHIPPED.tokens[0], shown, page=page, more=more))


@EXAMPLES
@given(requests())
def test_the_approval_message_is_accepted_in_every_state(drawn):
    request, inventory = drawn

    accepted(render_request(request, inventory))
    accepted(render_already_open(request))
    check_view(render_deny_modal(request))


@EXAMPLES
@given(requests(), moments)
def test_a_waiting_overlap_rolls_buttons_are_accepted(drawn, retire_at):
    request, inventory = drawn
    waiting = request.model_copy(update={"action": "roll", "state": "running", "retire_at": retire_at,
                                         "overlap_end": None})

    accepted(render_request(waiting, inventory))


ids = st.text(alphabet="0123456789abcdef", min_size=32, max_size=32)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.lists(st.tuples(ids, moments), max_size=60), st.booleans(), st.booleans())
def test_an_open_revokes_message_listing_every_token_it_deletes_is_accepted(drawn, kept, overlapping, forged):
    request, inventory = drawn
    revoke = request.model_copy(update={"action": "revoke", "state": "pending"})
    known = Known(T0, kept=tuple(Kept(i, "roll-0123456789ab", at, "U0ALICE01") for i, at in kept),
                  overlap=Overlap("roll-0123456789ab", "a" * 32, None, T0) if overlapping else None, forged=forged)

    accepted(render_request(revoke, inventory, None, T0, known))


@st.composite
def blast_radii(draw) -> BlastRadius:
    """What a token did, with Cloudflare's fields drawn from hostile text (or a log that could not be read)."""
    if draw(st.booleans()):
        return unavailable("CF_X", draw(typed), draw(short), days=30, now=T0)
    entries = [AuditEntry(id=str(n), time=draw(moments), action=draw(st.sampled_from(["create", "update", "x"])),
                          actor_ip=draw(short), zone_name=draw(st.one_of(st.none(), short)),
                          resource_type=draw(short), method="PATCH", uri=draw(short), status_code=200)
               for n in range(draw(st.integers(0, 80)))]
    return summarise(entries, token="CF_X", token_id="a" * 32, days=30, now=T0, last_used_on=draw(moments))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.one_of(st.none(), blast_radii()))
def test_a_revokes_message_with_its_blast_radius_is_accepted(drawn, blast):
    request, inventory = drawn
    revoke = request.model_copy(update={"action": "revoke"})

    accepted(render_request(revoke, inventory, None, T0, None, blast))


@st.composite
def findings(draw) -> tuple[Findings, Inventory]:
    inventory = draw(inventories())
    picked = draw(st.lists(st.sampled_from(inventory.tokens), max_size=60))
    warnings, reminders = [], []
    for t in picked:
        left = draw(st.timedeltas(min_value=timedelta(days=-400), max_value=timedelta(days=15)))
        threshold = EXPIRED if left < timedelta(0) else draw(st.sampled_from([14, 7, 3, 1]))
        reminder = Reminder(last_rotated=T0 - timedelta(days=200), due_on=T0, period=1)
        assessment = Assessment(t, T0 + left, left, threshold, reminder, "active", True)
        [warnings, reminders][draw(st.integers(0, 1))].append(assessment)
    return Findings(tuple(warnings), tuple(reminders)), inventory


@EXAMPLES
@given(findings(), st.one_of(st.none(), typed))
def test_the_expiry_digest_is_accepted(drawn, cloudflare_error):
    found, inventory = drawn

    for message in render_digest(found, inventory, T0, cloudflare_error=cloudflare_error):
        accepted(message)


checks = st.builds(Check, status=st.sampled_from(["ok", "warn", "fail"]), title=short, detail=typed,
                   next_step=st.one_of(st.none(), typed))
problems = st.builds(Problem, kind=st.sampled_from(["expired", "value", "zones", "probe"]),
                     severity=st.sampled_from(["warning", "failing", "revoked", "compromised"]), detail=typed,
                     next_step=typed, seen_at=moments, seen_by=st.sampled_from(["verify", "scan"]))


@EXAMPLES
@given(st.lists(checks, min_size=1, max_size=3), st.integers(1, 12), st.lists(problems, max_size=2),
       st.integers(0, 5), statuses, st.booleans(), st.one_of(st.none(), st.just("U0ALICE01"), typed))
def test_the_verify_report_is_accepted(drawn, count, old, many, health, can_roll, requested_by):
    found = [drawn[n % len(drawn)] for n in range(count)]  # a report has up to a dozen checks
    carried = [old[n % len(old)] for n in range(many)] if old else []
    health = health.model_copy(update={"problems": tuple(carried)})
    diagnosis = Diagnosis(token_name="CF_WAF_EDIT_RAXX_APP", state=health.state, checks=tuple(found),
                          summary=health.summary, checked_at=T0, health=health)

    accepted_in_parts(render_diagnosis(diagnosis, requested_by=requested_by, can_roll=can_roll))
