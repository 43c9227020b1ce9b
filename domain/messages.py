"""Pure Block Kit builders: the web's answers (help, list, history, errors, the deny modal) and the pieces every
message shares (limits, clipping, escaping, sections, buttons), as (fallback text, blocks). The approval message is
drawn by the worker (workers/approval_message.py), the scan's and verify's words in their rooms.

User-typed text is always passed through `escape`, so a reason of `<!channel>` pings nobody.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.actions import (
    DENY_REASON,
    DENY_VIEW,
    REQUEST_REROLL,
)
from domain.health_words import PROBLEM_LABELS
from domain.mrkdwn import clip, escape, mention
from domain.timestamps import slack_date

if TYPE_CHECKING:  # messages stays importable by commands without a cycle
    from domain.audit import AuditEvent
    from domain.errors import CftokenError
    from domain.inventory import Inventory, Token
    from domain.requests import Request
    from domain.status import TokenStatus

Blocks = list[dict[str, Any]]
Message = tuple[str, Blocks]

# Slack's limits (it answers invalid_blocks / msg_too_long past them); builders clip or split to stay inside.
MAX_BLOCKS = 50
SECTION_TEXT = 3000
CONTEXT_TEXT = 3000
FALLBACK_TEXT = 3000  # the top-level text may hold 40,000; a notification needs far less
MAX_REASON = 1000  # characters of a typed reason, counted after escaping (`&` is 5 characters in Slack)
ECHO = 100  # characters of typed input quoted back in an answer
LIST_FACTS = 140  # characters of a token's name, scope, zones and cadence in /cftoken list
LIST_LINE = 280  # characters of its state line (health, expiry, problems and their ages, last roll)
HISTORY_LINE = 1400  # characters per audit event: a full reason fits

VERBS = {"roll": "Roll", "revoke": "Revoke", "provision": "Provision"}
STATE_LABELS = {
    "pending": "waiting for approval",
    "approved": "approved",
    "queued": "approved and queued",
    "running": "running",
    "succeeded": "done",
    "failed": "failed",
    "denied": "denied",
    "cancelled": "cancelled",
    "expired": "expired",
}
STATE_ICONS = {
    "pending": ":hourglass_flowing_sand:", "approved": ":white_check_mark:", "queued": ":inbox_tray:",
    "running": ":gear:", "succeeded": ":white_check_mark:", "failed": ":x:", "denied": ":no_entry:",
    "cancelled": ":heavy_multiplication_x:", "expired": ":alarm_clock:",
}
HEALTH_ICONS = {"healthy": ":large_green_circle:", "warning": ":large_yellow_circle:", "failing": ":red_circle:",
                "revoked": ":black_circle:", "compromised": ":rotating_light:", "unknown": ":white_circle:"}
HELP_LINES = (
    ("/cftoken list", "every token with its scope, zones, cadence and last known expiry"),
    ("/cftoken verify NAME", "check a token at Cloudflare and in the vault; the report appears in this channel"),
    ("/cftoken history NAME [page]", "the last 20 requests, approvals and results for a token; page 2 the 20 "
     "before"),
    ("/cftoken roll NAME [reason]", "replace the token's value; needs another approver"),
    ("/cftoken revoke NAME reason", "delete the token at Cloudflare and open an incident; needs another approver"),
    ("/cftoken provision NAME [reason]", "create a declared token that the vault lacks (or holds REVOKED); needs "
     "another approver"),
    ("/cftoken roll|revoke|provision NAME … --dry-run", "every pre-flight check and the plan; changes nothing, "
     "needs no approval"),
)


_MARKS = re.compile(r"&lt;(@[UW][A-Z0-9]{2,20}|!date\^\d{1,12}\^\{date_short_pretty\} \{time\}\|[0-9: -]{16} UTC)&gt;")


def escape_keeping_marks(text: str) -> str:
    """A step or result the bot wrote, escaped like typed text, except the bot's own mentions (`<@U…>`) and dates
    (`slack_date`), which stay live: an error quoted in it can still not ping `@channel` or format the message."""
    return _MARKS.sub(r"<\1>", escape(text))


def echo(typed: str) -> str:
    """What a person typed, quoted back safely: escaped, then clipped to ECHO characters."""
    return clip(escape(typed), ECHO)


def from_now(moment: datetime, now: datetime) -> str:
    """The one wording for how far away a moment is: `in 3 days`, `in 5 h`, `2 days ago`, `just now`."""
    if abs(moment - now) < timedelta(minutes=1):
        return "just now"
    return f"in {time_left_text(moment - now)}" if moment > now else f"{time_left_text(now - moment)} ago"


def render_notice(text: str) -> Message:
    """A one-paragraph answer (usually ephemeral); `text` must already be escaped where a person typed it."""
    return clip(text, FALLBACK_TEXT), [_section(text)]


def render_error(error: CftokenError) -> Message:
    """A typed error as the user reads it, with the runbook's next step under it."""
    text = str(error)
    blocks = [_section(text)]
    if error.runbook:
        blocks.append(_context(error.next_step()))
    return clip(text, FALLBACK_TEXT), blocks


def render_unexpected(reference: str) -> Message:
    return render_notice(
        f"Sorry, something went wrong on our side. Nothing further was done. "
        f"Quote reference `{reference}` to whoever runs the bot; it is in the log."
    )


def render_interrupted(text: str, token: str, *, reroll: bool) -> Message:
    """An operation's outcome told outside its approval message; `reroll` adds a one-click Request roll."""
    blocks: Blocks = [_section(text)]
    if reroll:
        blocks.append({"type": "actions", "block_id": "reroll", "elements": [
            _button("Request roll", REQUEST_REROLL, token, style="primary")
        ]})
    return text, blocks


def render_help(inventory: Inventory, approvers: Collection[str]) -> Message:
    lines = "\n".join(f"`{usage}` — {what}" for usage, what in HELP_LINES)
    names = ", ".join(f"`{name}`" for name in inventory.names)
    people = ", ".join(f"<@{user}>" for user in sorted(approvers)) or "nobody yet"
    own = "; ".join(f"`{token.name}`: {own_approvers_text(token)}" for token in inventory.tokens
                    if token.approvers or token.approvals is not None)
    blocks = [
        _section("*/cftoken* verifies, rolls and revokes the team's Cloudflare API tokens.\n" + lines),
        _section(f"*Tokens:* {names}"),
        _section(f"*Approvers* (may ask for and approve a roll, revoke or provision): {people}"),
        *([_section(f"*Tokens with their own approvers* (instead of those above): {own}")] if own else []),
        _context(f"A roll, revoke or provision runs only after an approver other than the one who asked presses "
                 f"Approve. "
                 f"A reason may be up to {MAX_REASON:,} characters."),
    ]
    return "How to use /cftoken", blocks


def render_list(
    inventory: Inventory,
    statuses: Mapping[str, TokenStatus],
    now: datetime,
    rotations: Mapping[str, datetime] | None = None,
    retiring: Mapping[str, datetime] | None = None,
) -> Message:
    """Every token with its expected scope and rotation strategy, then (first, during an overlap) when the old
    value dies, the last known state (and its age), and its last roll by the bot."""
    rotations = rotations or {}
    lines = []
    for token in inventory.tokens:
        facts = (f"*{token.name}* — {escape(token.scope)} · {escape(zones_text(token))} · "
                 f"roll every {token.cadence_days} days"
                 + (f" · overlap ({duration_text(token.overlap)})" if token.rotation == "overlap" else ""))
        rolled = rotations.get(token.name)
        last_roll = f"last rolled by the bot {from_now(rolled, now)}" if rolled else "not rolled by the bot yet"
        status = statuses.get(token.name)
        missing = _not_provisioned(token, status, now, management=inventory.is_management(token))
        state = missing or f"{_status_line(status, now)} · {last_roll}"
        retire_at = (retiring or {}).get(token.name)
        if token.rotation == "overlap" and retire_at is not None and retire_at > now:
            # The key fact of an open overlap leads its state line, so no clipping of a long scope can drop it.
            state = f"{strategy_short(token, retire_at, now)} · {state}"
        if not missing and status is not None and status.problem("deleted") is not None:  # one path: a new token
            state = f"{_status_line(status, now)} — `/cftoken provision {token.name}` for a replacement"
        # Each half clipped on its own: a long scope never pushes the state's problems off the line.
        lines.append(f"{clip(facts, LIST_FACTS)}\n{clip(state, LIST_LINE)}")
    head = _section(f"*{len(inventory.tokens)} tokens* (last known state; `/cftoken verify NAME` refreshes one; "
                    "each rolls in place unless marked overlap)")
    return f"{len(inventory.tokens)} Cloudflare tokens", [head, *_paragraphs(lines, MAX_BLOCKS - 1)]


def render_history(
    token: Token, events: Sequence[AuditEvent], *, page: int = 1, per_page: int = 20, more: bool = False
) -> Message:
    """One page of a token's audit events, newest first, with the command for the next page when there is one."""
    if not events:
        return render_notice(f"No history for {token.name}" + (f" on page {page}." if page > 1 else " yet."))
    lines = [clip(_history_line(event), HISTORY_LINE) for event in events]
    first = (page - 1) * per_page + 1
    title = f"*History of {token.name}* (newest first, events {first}–{first + len(events) - 1})"
    blocks = [_section(title), *_paragraphs(lines, MAX_BLOCKS - 2)]
    if more:
        blocks.append(_context(f"Older events: `/cftoken history {token.name} {page + 1}`"))
    return f"History of {token.name}", blocks


def render_verify_queued(token: Token) -> Message:
    return render_notice(
        f":mag: Verifying *{token.name}*: the report will appear in this channel in a moment."
    )


def render_already_open(request: Request) -> Message:
    where = (
        f"<{message_link(request.channel, request.message_ts)}|this message>" if request.message_ts else "the channel"
    )
    return render_notice(
        f"A {request.action} of *{request.token}* is already open ({STATE_LABELS[request.state]}, asked by "
        f"<@{request.requester}> {slack_date(request.created_at)}): see {where}. Request `{request.id}`."
    )


def duration_text(minutes: int) -> str:
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def strategy_short(token: Token, retire_at: datetime | None, now: datetime) -> str:
    """The strategy in a few words for `list`; during an overlap, when the old value dies."""
    if token.rotation == "roll":
        return "roll in place"
    if retire_at is not None and retire_at > now:
        return f"overlap: the old value dies {slack_date(retire_at)}"
    return f"overlap ({duration_text(token.overlap)})"


def render_deny_modal(request: Request) -> dict[str, Any]:
    """The modal a Deny click opens: an optional reason, shown on the request and kept in its history."""
    verb = VERBS[request.action].lower()
    return {
        "type": "modal",
        "callback_id": DENY_VIEW,
        "private_metadata": request.id,
        "title": {"type": "plain_text", "text": f"Deny the {verb}"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Back"},
        "blocks": [
            _section(f"Deny the {verb} of *{request.token}* asked by <@{request.requester}>? Nothing will be done; "
                     "the reason is shown on the request and kept in its history."),
            {
                "type": "input", "block_id": DENY_REASON, "optional": True,
                "label": {"type": "plain_text", "text": "Why?"},  # Slack adds "(optional)" itself
                "element": {"type": "plain_text_input", "action_id": DENY_REASON, "multiline": True,
                            "max_length": MAX_REASON},
            },
        ],
    }


def mark_requested(blocks: Blocks, action_id: str, value: str, note: str) -> Blocks:
    """The message's blocks with the pressed button (by action_id and value) replaced by `note`, so the message
    shows the request was made and nobody presses it again."""
    pressed = {"action_id": action_id, "value": value}

    def is_pressed(element: dict[str, Any]) -> bool:
        return all(element.get(key) == want for key, want in pressed.items())

    marked: Blocks = []
    for block in blocks:
        if block.get("type") == "section" and is_pressed(block.get("accessory") or {}):
            block = {key: item for key, item in block.items() if key != "accessory"}
            text = block.get("text") or {"type": "mrkdwn", "text": ""}
            block["text"] = {**text, "text": clip(f"{text.get('text', '')}\n{note}".strip(), SECTION_TEXT)}
        elif block.get("type") == "actions" and any(is_pressed(e) for e in block.get("elements", [])):
            kept = [e for e in block["elements"] if not is_pressed(e)]
            if kept:
                marked.append({**block, "elements": kept})
            block = _context(note)
        marked.append(block)
    return marked


def reason_too_long(reason: str) -> str | None:
    """Why a typed reason is refused (longer than MAX_REASON once escaped), or None when it fits."""
    length = len(escape(reason))
    if length <= MAX_REASON:
        return None
    return (f"A reason can be at most {MAX_REASON:,} characters, and yours is {length:,} "
            "(`&` counts as 5 and `<`, `>` as 4, as Slack stores them).")


def zones_text(token: Token) -> str:
    if token.all_zones:
        return "all zones"
    return ", ".join(token.zones) if token.zones else "not zone-scoped"


def message_link(channel: str, ts: str) -> str:
    """Slack's permalink form for a message (it redirects to the workspace for members)."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def approver_mentions(entries: tuple[str, ...]) -> str:
    """Configured approver entries as Slack shows them: a user (U…/W…) or a user group (S…)."""
    return ", ".join(f"<!subteam^{entry}>" if entry.startswith("S") else f"<@{entry}>" for entry in entries)


def own_approvers_text(token: Token) -> str:
    """A token's own approvers and the approvals it needs, as the inventory names them (for help)."""
    who = approver_mentions(token.approvers) or "the approvers above"
    needed = token.approvals
    return who + (f", {needed} approval{'s' if needed > 1 else ''} besides the requester" if needed else "")


def ticket_link(url: str | None, number: int | None) -> str:
    """The incident as Slack shows it: its number as the link text (FreeScout's URL holds its internal id)."""
    if not url:
        return "pending"
    return f"<{url}|#{number}>" if number is not None else f"<{url}|the incident ticket>"


NO_CONSUMERS = "none listed in the inventory"


def consumers_text(token: Token | None, *, bullet: str = "• ") -> str:
    """A token's consumers, described the same way in every message and the ticket."""
    if token is None or not token.consumers:
        return NO_CONSUMERS
    return "\n".join(f"{bullet}{escape(c.who)}: {escape(c.how)}" for c in token.consumers)


def _not_provisioned(token: Token, status: TokenStatus | None, now: datetime, *, management: bool) -> str | None:
    """A declared token the last check found missing (or REVOKED) in the vault: say so, with the command."""
    problem = next((p for p in status.problems if p.kind in ("vault_missing", "revoked")), None) if status else None
    if problem is None:
        return None
    if problem.kind == "revoked":  # revoked reads as revoked: by which request, when, and the incident
        replace = f"`/cftoken provision {token.name}` for a replacement"
        return f"{HEALTH_ICONS['revoked']} revoked · {escape_keeping_marks(problem.detail)} — {replace}"
    why = "the vault holds a REVOKED placeholder" if problem.kind == "revoked" else "no value in the vault"
    fix = ("an operator creates it in the Cloudflare dashboard" if management
           else f"`/cftoken provision {token.name}`")
    seen = f"seen by {escape(problem.seen_by)} {from_now(problem.seen_at, now)}"
    return f":white_circle: not provisioned ({why}; {seen}) — {fix}"


def _status_line(status: TokenStatus | None, now: datetime) -> str:
    if status is None:
        return ":white_circle: not checked yet"
    icon = HEALTH_ICONS.get(status.state, ":white_circle:")
    deleted = status.problem("deleted") is not None  # "no expiry" would read as alive
    expiry = "deleted at Cloudflare" if deleted else expiry_text(status.expires_on, now)
    # Each problem by its short label and the age of the check that saw it (a fuller check's problems are kept
    # until a check that can see them clears them); verify and the scan's alert give the detail.
    labels = [_problem_label(p, now) for p in status.problems]
    summary = " · " + "; ".join(labels) if labels else (f" · {escape(status.summary)}" if status.summary else "")
    return (f"{icon} {escape(status.state)} · {expiry} · checked by {escape(status.source)} "
            f"{from_now(status.checked_at, now)}{summary}")


def _problem_label(problem: Any, now: datetime) -> str:
    """A problem of the last known state (a Redis record): its short label and who saw it when, escaped."""
    label = PROBLEM_LABELS.get(problem.kind, problem.kind)
    return f"{escape(label)} (seen by {escape(problem.seen_by)} {from_now(problem.seen_at, now)})"


def expiry_text(expires_on: datetime | None, now: datetime) -> str:
    """`expires <date> (in 3 days)` or `expired <date> (2 days ago)`: the tense follows the clock."""
    if expires_on is None:
        return "no expiry"
    verb = "expires" if expires_on > now else "expired"
    return f"{verb} {slack_date(expires_on)} ({from_now(expires_on, now)})"


def time_left_text(time_left: timedelta) -> str:
    """`6 days 23 h`, `1 day 2 h`, `5 h`, `25 min`, `under a minute`."""
    days, hours, minutes = time_left.days, time_left.seconds // 3600, time_left.seconds // 60 % 60
    if days >= 2:
        return f"{days} days" + (f" {hours} h" if hours else "")
    if days == 1:
        return "1 day" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h"
    return f"{minutes} min" if minutes else "under a minute"


def _history_line(event: AuditEvent) -> str:
    """One audit event (a stream anyone with Redis access can append to): every field escaped, people by id only."""
    who = "the bot" if event.who == "cftoken" else mention(event.who)
    what = escape(f"{event.event} {event.action}".strip())
    detail = f" — {escape(event.detail)}" if event.detail else ""
    request = f" `{escape(event.request_id)}`" if event.request_id else ""
    return f"{slack_date(event.at)} · *{what}* by {who}{request}{detail}"


def _button(label: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button", "action_id": action_id, "value": value, "text": {"type": "plain_text", "text": label},
    }
    if style:
        button["style"] = style
    return button


def _paragraphs(lines: Sequence[str], most: int) -> Blocks:
    """Lines packed into as few sections as Slack's 3,000 characters allow, at most `most` of them."""
    sections: list[list[str]] = [[]]
    for line in lines:
        if sections[-1] and len("\n".join([*sections[-1], line])) > SECTION_TEXT:
            sections.append([])
        sections[-1].append(line)
    if len(sections) > most:
        left = sum(len(chunk) for chunk in sections[most - 1 :])
        sections = [*sections[: most - 1], [f"… and {left} more"]]
    return [_section("\n".join(chunk)) for chunk in sections]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text or " ", SECTION_TEXT)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text or " ", CONTEXT_TEXT)}]}
