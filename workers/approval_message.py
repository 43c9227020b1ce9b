"""The approval message of a request, as the worker draws it (since the outbox, only the worker does): title,
what will happen, the rotation strategy, the token's health, the decision and progress lines, and the buttons.
The web keeps its own answers (domain/messages.py); the ids both sides agree on are domain/actions.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain import blast_radius, consumer_words
from domain.actions import APPROVE, CANCEL, DENY, OVERLAP_KEEP_OLD, OVERLAP_RETIRE_NOW
from domain.blast_radius import BlastRadius
from domain.consumer_records import ConsumerRecord
from domain.health_words import last_used_text
from domain.inventory import Inventory, Token
from domain.messages import (
    HEALTH_ICONS,
    MAX_REASON,
    STATE_ICONS,
    STATE_LABELS,
    VERBS,
    Blocks,
    Message,
    _button,
    _context,
    _paragraphs,
    _problem_label,
    _section,
    approver_mentions,
    clip,
    consumers_text,
    duration_text,
    escape_keeping_marks,
    expiry_text,
    from_now,
    ticket_link,
    zones_text,
)
from domain.mrkdwn import escape
from domain.provision_messages import plan_text, replacement_offer
from domain.requests import Request
from domain.revoke_targets import Known, approval_lines
from domain.status import TokenStatus
from domain.timestamps import slack_date

FIELD_TEXT = 2000
GONE = "none: Cloudflare has no such token (deleted)"
PAST = {"roll": "Rolled", "revoke": "Revoked", "provision": "Provisioned"}
FINISHED_WORDS = {"failed": "failed", "denied": "denied", "cancelled": "cancelled",
                  "expired": "expired without approval"}
CONSEQUENCES = {
    "roll": "the current value stops working immediately; consumers reading from the vault pick up the new one.",
    "revoke": "the token is deleted at Cloudflare; an incident is opened.",
    "provision": "a new token is created at Cloudflare as shown above and its value and companions are stored.",
}


def render_request(request: Request, inventory: Inventory, health: TokenStatus | None = None,
                   now: datetime | None = None, known: Known | None = None,
                   blast: BlastRadius | None = None, consumers: ConsumerRecord | None = None) -> Message:
    """The approval message in its current state: what will happen while open, what happened once finished; with
    the token's last known health (and its age), its current expiry and, for a roll, the planned new one; for an open
    revoke, the other tokens of the name the bot's records (`known`) say it deletes too, and a revoke's blast radius
    (`blast`, from its signed record; "reading the audit log …" while an open revoke has none)."""
    token = inventory.find(request.token)
    reason = clip(escape(request.reason), MAX_REASON) if request.reason else "_none given_"
    blocks: Blocks = [
        _section(_title(request)),
        _fields(
            f"*Asked by*\n<@{request.requester}>",
            f"*Reason*\n{reason}",
            f"*Scope*\n{escape(token.scope) if token else 'unknown'}",
            f"*Zones*\n{escape(zones_text(token)) if token else 'unknown'}",
        ),
        _section(f"*Consumers*\n{consumers_text(token)}"),
    ]
    if token is not None:  # a provision's approver too: a live token shows here before the pre-flight refuses it
        blocks.append(_section(health_text(token, request, health, now or request.updated_at)))
    if token is not None and request.action == "roll":
        blocks.append(_section(f"*Strategy:* {strategy_text(token, now or request.updated_at, request)}"))
    if request.action == "provision":
        blocks.append(_section(plan_text(token, inventory, request.state)))
    if request.action == "revoke" and (blast is not None or request.state in ("pending", "approved", "queued",
                                                                              "running")):
        blocks.append(_section(clip("\n".join(blast_radius.slack_lines(blast)), 2900)))
    blocks += [
        *([_section(f"*Supersedes* the roll `{request.supersedes}`, open when this revoke was asked: approving "
                    "this revoke cancels it first if it is still open.")]
          if request.supersedes and request.state == "pending" else []),
    ]
    if request.state in ("pending", "approved", "queued", "running"):
        blocks += _what_will_happen(request, token, known)
    blocks.append(_context(_decision_line(request, token)))
    progress = _progress_line(request)
    if progress:
        blocks.append(_section(progress))
    blocks += _consumer_blocks(consumers)
    if request.state == "pending":
        blocks.append(_buttons(request, others=_others(known)))
    if request.action == "roll" and request.retire_at is not None:
        blocks += overlap_blocks(request)
    if request.action == "revoke" and request.state == "succeeded":
        blocks.append(_context(f"Replaced by `{request.replaced_by}`") if request.replaced_by
                      else replacement_offer(request.id, token, inventory))
    blocks.append(_context(f"Request `{request.id}`"))
    fallback = f"{_title_words(request)} (asked by <@{request.requester}>)"
    return fallback, blocks


def _consumer_blocks(consumers: ConsumerRecord | None) -> Blocks:
    """'consumers: 3 of 4 on the new value', from its signed record (workers/consumers/follow.py)."""
    return [consumer_words.message_block(consumers)] if consumers is not None and consumers.total else []


def _what_will_happen(request: Request, token: Token | None, known: Known | None) -> Blocks:
    """An open request's consequence; an overlap roll's by its deadline once fixed, a revoke's with the other tokens
    of the name the bot's records say it deletes too."""
    consequence = CONSEQUENCES[request.action]
    if request.action == "roll" and token is not None and token.rotation == "overlap":
        until = (f"until {slack_date(request.retire_at)}" if request.retire_at is not None
                 else f"{duration_text(token.overlap)} more")
        consequence = (f"a twin token is created and stored; the current value keeps working {until}, then the "
                       "old token is deleted.")
    blocks = [_section(f"*What will happen:* {consequence}")]
    if request.action == "revoke" and known is not None:
        blocks += _paragraphs(approval_lines(known), 2)
    return blocks


def strategy_text(token: Token, now: datetime, request: Request | None = None) -> str:
    """How a roll of `token` ends the old value: at once (roll), or an overlap later; before approval dated from
    `now` (an estimate), after it by the deadline the worker fixed (`retire_at`), in the past tense once finished."""
    state = request.state if request is not None else "pending"
    if token.rotation == "roll":
        if state == "succeeded":
            return "roll: Cloudflare replaced the value in place; the old value stopped working at once."
        if state in ("denied", "cancelled", "expired"):
            return "roll (in place): it did not run, so the value was not replaced."
        if state == "failed":
            return ("roll: Cloudflare was to replace the value in place, the old value stopping at once; the roll "
                    "failed (the result says which value is where).")
        return "roll: Cloudflare replaces the value in place; the old value stops working at once."
    if state == "pending":
        dies = now + timedelta(minutes=token.overlap)
        return (f"overlap: a twin token is created, stored and verified first; the old value keeps working "
                f"{duration_text(token.overlap)} after the new one is in the vault (about {slack_date(dies)} if it "
                "runs now), then the old token is deleted.")
    assert request is not None
    if state in ("approved", "queued", "running"):
        until = (f"until {slack_date(request.retire_at)}" if request.retire_at is not None else
                 f"{duration_text(token.overlap)} after the new one is in the vault (the worker fixes the deadline "
                 "then)")
        return (f"overlap: a twin token is created, stored and verified first; the old value keeps working {until}, "
                "then the old token is deleted.")
    return overlap_outcome(token, request)


def overlap_outcome(token: Token, request: Request) -> str:
    """A finished overlap roll's strategy line, in the past tense: how the old value ended, or that it never ran."""
    if request.state in ("denied", "cancelled", "expired"):
        return f"overlap ({duration_text(token.overlap)}): it did not run, so no twin was created."
    planned = (f"until {slack_date(request.retire_at)}" if request.retire_at is not None
               else f"{duration_text(token.overlap)} after the new one was in the vault")
    if request.state == "failed":
        return (f"overlap: the old value was to keep working {planned}; the roll ended before the overlap did (the "
                "result says which value is where).")
    if request.overlap_end == "keep_old":
        return (f"overlap: a twin token was created, stored and verified first; the old value was to keep working "
                f"{planned}, and was kept live (Keep old).")
    if request.overlap_end == "retire_now":
        return (f"overlap: a twin token was created, stored and verified first; the old value was to keep working "
                f"{planned}, and the old token was deleted early (Retire old now).")
    return (f"overlap: a twin token was created, stored and verified first; the old value kept working {planned}, "
            "then the old token was deleted.")


def health_text(token: Token, request: Request, health: TokenStatus | None, now: datetime) -> str:
    """What the approver decides on: the token's health now, its expiry, the planned one, and its last use."""
    gone = health is not None and health.problem("deleted") is not None  # "no expiry" would read as alive
    if health is None:
        lines = ["*Health* not checked yet: `/cftoken verify " + token.name + "` checks it"]
    else:
        icon = HEALTH_ICONS.get(health.state, ":white_circle:")
        problems = "; ".join(_problem_label(p, now) for p in health.problems) or escape(health.summary)
        lines = [f"*Health* {icon} {escape(health.state)} — {problems} · checked by {escape(health.source)} "
                 f"{from_now(health.checked_at, now)}"]
        if request.action != "provision":  # no token yet, or one the pre-flight refuses to provision over
            lines.append(f"*Expiry now* {GONE if gone else expiry_text(health.expires_on, now)}")
        if request.action == "revoke":
            lines.append(f"*Last use* {escape(last_used_text(health, now))}")
    if request.action == "roll" and request.state in ("pending", "approved", "queued", "running") and not gone:
        planned = request.created_at + timedelta(days=token.cadence_days)
        lines.append(f"*Planned expiry* {slack_date(planned)} (the roll's date + {token.cadence_days} days)"
                     if health is None or health.expires_on is not None
                     else "*Planned expiry* none: the token has no expiry at Cloudflare")
    return "\n".join(lines)


def _title(request: Request) -> str:
    return f"{STATE_ICONS[request.state]} {_title_words(request, bold='*')}"


def _title_words(request: Request, *, bold: str = "") -> str:
    """`Roll X — waiting for approval` while open; past tense once finished: `Rolled X`, `Roll of X denied`."""
    verb, name = VERBS[request.action], request.token
    if request.state == "succeeded":
        return f"{bold}{PAST[request.action]} {name}{bold}"
    if request.state in FINISHED_WORDS:
        return f"{bold}{verb} of {name} {FINISHED_WORDS[request.state]}{bold}"
    return f"{bold}{verb} {name}{bold} — {STATE_LABELS[request.state]}"


def _decision_line(request: Request, token: Token | None) -> str:
    approvals = ", ".join(f"<@{a.user}> {slack_date(a.at)}" for a in request.approvals)
    parts = [f"Approved by {approvals}" if approvals else "No approvals yet"]
    if request.state == "pending":
        parts.append(f"{len(request.approvals)} of {request.needed} needed")
        if token is not None and token.approvers:
            parts.append(f"approvers of this token: {approver_mentions(token.approvers)}")
        parts.append(f"expires {slack_date(request.expires_at)} unless approved")
    elif request.state == "denied":
        why = f": “{clip(escape(request.deny_reason), MAX_REASON)}”" if request.deny_reason else " (no reason given)"
        parts.append(f"denied by <@{request.denied_by}> {slack_date(request.updated_at)}{why}; nothing was done")
    elif request.state == "cancelled":
        parts.append(f"cancelled by <@{request.requester}> {slack_date(request.updated_at)}; nothing was done")
    elif request.state == "expired":
        parts.append(f"expired {slack_date(request.expires_at)} without enough approvals; nothing was done")
    return " · ".join(parts)


def _progress_line(request: Request) -> str:
    if request.state in ("approved", "queued"):
        return ":inbox_tray: Queued: waiting for a worker."
    if request.state == "running":
        step = f" (step: {escape_keeping_marks(request.step)})" if request.step else ""
        return f":gear: Running{step}."
    if request.state in ("succeeded", "failed"):
        icon = ":white_check_mark: Done" if request.state == "succeeded" else ":x: Failed"
        link = ticket_link(request.ticket_url, request.ticket_number)
        ticket = f"\nIncident ticket: {link}" if request.ticket_url else ""
        return f"{icon} {slack_date(request.updated_at)}: {escape_keeping_marks(request.result or '')}{ticket}"
    return ""


def _others(known: Known | None) -> int:
    """How many other tokens an open revoke's records name (an overlap counts its old token and twin)."""
    if known is None:
        return 0
    return len(known.kept) + (2 if known.overlap else 0)


def _buttons(request: Request, *, others: int = 0) -> dict[str, Any]:
    approve: dict[str, Any] = _button("Approve", APPROVE, request.id, style="primary")
    if request.action == "revoke":
        also = f", with the {others} other tokens of the name listed on the message" if others else ""
        approve["confirm"] = {
            "title": {"type": "plain_text", "text": "Revoke for good?"},
            "text": {
                "type": "mrkdwn",
                "text": f"{request.token} will be deleted at Cloudflare{also}; an incident is opened.",
            },
            "confirm": {"type": "plain_text", "text": "Revoke it"},
            "deny": {"type": "plain_text", "text": "Back"},
            "style": "danger",
        }
    elements = [approve, _button("Deny", DENY, request.id, style="danger"), _button("Cancel", CANCEL, request.id)]
    return {"type": "actions", "block_id": "actions", "elements": elements}


def overlap_blocks(request: Request) -> Blocks:
    """A waiting overlap roll: until when the old value works and the two buttons; once pressed, who chose what."""
    if request.overlap_end in ("retire_now", "keep_old"):
        words = {"retire_now": "the old token is deleted now.", "keep_old": "both tokens stay live."}
        label = "Retire old now" if request.overlap_end == "retire_now" else "Keep old"
        at = slack_date(request.overlap_end_at) if request.overlap_end_at else ""
        return [_context(f"<@{request.overlap_end_by}> pressed *{label}* {at}: {words[request.overlap_end]}")]
    if request.state != "running" or request.overlap_end is not None or request.retire_at is None:
        return []
    name = request.token
    retire = _button("Retire old now", OVERLAP_RETIRE_NOW, request.id, style="danger")
    retire["confirm"] = _confirm("Delete the old token now?", f"The old token of {name} is deleted at Cloudflare "
                                 "now: anything still using the old value stops working.", "Delete it", danger=True)
    keep = _button("Keep old", OVERLAP_KEEP_OLD, request.id)
    keep["confirm"] = _confirm("Keep both tokens live?", f"The old token of {name} is not deleted: it works until "
                               "its own expiry or until deleted in the Cloudflare dashboard, and verify and the scan "
                               "report it as a second live token. A revoke deletes both.", "Keep both")
    return [
        _section(f"*Overlap:* the old value keeps working until {slack_date(request.retire_at)}, then the bot "
                 "deletes the old token. An approver may end it early: *Retire old now* deletes the old token at "
                 "once; *Keep old* leaves both tokens live."),
        {"type": "actions", "block_id": "overlap_end", "elements": [retire, keep]},
    ]


def _confirm(title: str, text: str, confirm: str, *, danger: bool = False) -> dict[str, Any]:
    dialog: dict[str, Any] = {
        "title": {"type": "plain_text", "text": title},
        "text": {"type": "mrkdwn", "text": clip(text, 300)},
        "confirm": {"type": "plain_text", "text": confirm},
        "deny": {"type": "plain_text", "text": "Back"},
    }
    if danger:
        dialog["style"] = "danger"
    return dialog


def _fields(*texts: str) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": clip(text, FIELD_TEXT)} for text in texts]}
