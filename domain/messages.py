"""Pure Block Kit builders: every message the bot shows, as (fallback text, blocks).

User-typed text is always passed through `escape`, so a reason of `<!channel>` pings nobody.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.provision_messages import plan_text, replacement_button

if TYPE_CHECKING:  # messages stays importable by commands without a cycle
    from domain.approvals import Request
    from domain.audit import AuditEvent
    from domain.errors import CftokenError
    from domain.inventory import Inventory, Token
    from domain.status import TokenStatus

Blocks = list[dict[str, Any]]
Message = tuple[str, Blocks]

VERBS = {"roll": "Roll", "revoke": "Revoke", "provision": "Provision"}
REQUEST_REROLL = "request_reroll"  # the button that asks for a roll after an operation was cut short
CONSEQUENCES = {
    "roll": "the current value stops working immediately; consumers reading from the vault pick up the new one.",
    "revoke": "the token is deleted at Cloudflare; an incident is opened.",
    "provision": "a new token is created at Cloudflare as shown above and its value and companions are stored.",
}
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
    ("/cftoken history NAME", "the last 20 requests, approvals and results for a token"),
    ("/cftoken roll NAME [reason]", "replace the token's value; needs another approver"),
    ("/cftoken revoke NAME reason", "delete the token at Cloudflare and open an incident; needs another approver"),
    ("/cftoken provision NAME [reason]", "create a declared token that the vault lacks (or holds REVOKED); needs "
     "another approver"),
)


def escape(text: str) -> str:
    """Slack's mrkdwn escaping for text a person typed."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_notice(text: str) -> Message:
    """A one-paragraph answer (usually ephemeral); `text` must already be escaped where a person typed it."""
    return text, [_section(text)]


def render_error(error: CftokenError) -> Message:
    """A typed error as the user reads it, with the runbook's next step under it."""
    text = str(error)
    blocks = [_section(text)]
    if error.runbook:
        blocks.append(_context(error.runbook))
    return text, blocks


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
    people = ", ".join(f"<@{user}>" for user in sorted(approvers))
    blocks = [
        _section("*/cftoken* verifies, rolls and revokes the team's Cloudflare API tokens.\n" + lines),
        _section(f"*Tokens:* {names}\n*Approvers* (may ask for and approve a roll or revoke): {people}"),
        _context("A roll or revoke runs only after an approver other than the one who asked presses Approve."),
    ]
    return "How to use /cftoken", blocks


def render_list(
    inventory: Inventory,
    statuses: Mapping[str, TokenStatus],
    now: datetime,
    rotations: Mapping[str, datetime] | None = None,
) -> Message:
    """Every token with its expected scope, the last known state (and its age), and its last roll by the bot."""
    rotations = rotations or {}
    blocks: Blocks = [
        _section(f"*{len(inventory.tokens)} tokens* (last known state; `/cftoken verify NAME` refreshes one)")
    ]
    for token in inventory.tokens:
        facts = f"*{token.name}* — {token.scope} · {zones_text(token)} · roll every {token.cadence_days} days"
        rolled = rotations.get(token.name)
        last_roll = (
            f"last rolled by the bot {rolled.astimezone(UTC):%Y-%m-%d}" if rolled else "not rolled by the bot yet"
        )
        blocks.append(_section(f"{facts}\n{_status_line(statuses.get(token.name), now)} · {last_roll}"))
    return f"{len(inventory.tokens)} Cloudflare tokens", blocks


def render_history(token: Token, events: Sequence[AuditEvent]) -> Message:
    if not events:
        return render_notice(f"No history yet for {token.name}.")
    lines = [_history_line(event) for event in events]
    blocks = [_section(f"*History of {token.name}* (newest first, last {len(events)})")]
    blocks += [_section("\n".join(lines[i : i + 10])) for i in range(0, len(lines), 10)]  # 3000-char limit
    return f"History of {token.name}", blocks


def render_verify_queued(token: Token) -> Message:
    return render_notice(
        f":mag: Verify of *{token.name}* is queued; the report will appear in this channel in a moment."
    )


def render_already_open(request: Request) -> Message:
    where = (
        f"<{message_link(request.channel, request.message_ts)}|this message>" if request.message_ts else "the channel"
    )
    return render_notice(
        f"A {request.action} of *{request.token}* is already open ({STATE_LABELS[request.state]}, asked by "
        f"<@{request.requester}> at {clock_time(request.created_at)}): see {where}. Request `{request.id}`."
    )


def render_request(request: Request, inventory: Inventory) -> Message:
    """The approval message in its current state; buttons only while it is pending."""
    token = inventory.find(request.token)
    verb = VERBS[request.action]
    title = f"{STATE_ICONS[request.state]} *{verb} {request.token}* — {STATE_LABELS[request.state]}"
    reason = escape(request.reason) if request.reason else "_none given_"
    blocks: Blocks = [
        _section(title),
        _fields(
            f"*Asked by*\n<@{request.requester}>",
            f"*Reason*\n{reason}",
            f"*Scope*\n{token.scope if token else 'unknown'}",
            f"*Zones*\n{zones_text(token) if token else 'unknown'}",
        ),
        _section(f"*Consumers*\n{_consumers(token)}"),
    ]
    if request.action == "provision":
        blocks.append(_section(plan_text(token, inventory)))
    blocks += [
        _section(f"*What will happen:* {CONSEQUENCES[request.action]}"),
        *([_section(f"*Supersedes* the open roll `{request.supersedes}`: approving this revoke cancels it first.")]
          if request.supersedes else []),
        _context(_decision_line(request)),
    ]
    progress = _progress_line(request)
    if progress:
        blocks.append(_section(progress))
    if request.state == "pending":
        blocks.append(_buttons(request))
    if request.action == "revoke" and request.state == "succeeded":
        blocks.append(replacement_button(request.id))
    blocks.append(_context(f"Request `{request.id}`"))
    fallback = f"{verb} {request.token} asked by <@{request.requester}>: {STATE_LABELS[request.state]}"
    return fallback, blocks


def zones_text(token: Token) -> str:
    if token.all_zones:
        return "all zones"
    return ", ".join(token.zones) if token.zones else "not zone-scoped"


def clock_time(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%H:%M} UTC"


def message_link(channel: str, ts: str) -> str:
    """Slack's permalink form for a message (it redirects to the workspace for members)."""
    return f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"


def _decision_line(request: Request) -> str:
    approvals = ", ".join(f"<@{a.user}> at {clock_time(a.at)}" for a in request.approvals)
    parts = [f"Approved by {approvals}" if approvals else "No approvals yet"]
    if request.state == "pending":
        parts.append(f"{len(request.approvals)} of {request.needed} needed")
        parts.append(f"expires at {clock_time(request.expires_at)} unless approved")
    elif request.state == "denied":
        parts.append(f"denied by <@{request.denied_by}> at {clock_time(request.updated_at)}")
    elif request.state == "cancelled":
        parts.append(f"cancelled by <@{request.requester}> at {clock_time(request.updated_at)}")
    elif request.state == "expired":
        parts.append(f"expired at {clock_time(request.expires_at)}; nothing was done")
    return " · ".join(parts)


def _progress_line(request: Request) -> str:
    if request.state in ("approved", "queued"):
        return ":inbox_tray: Queued: waiting for a worker."
    if request.state == "running":
        step = f" (step: {escape(request.step)})" if request.step else ""
        return f":gear: Running{step}."
    if request.state in ("succeeded", "failed"):
        icon = ":white_check_mark: Done" if request.state == "succeeded" else ":x: Failed"
        ticket = f"\nIncident ticket: <{request.ticket_url}>" if request.ticket_url else ""
        return f"{icon}: {escape(request.result or '')}{ticket}"
    return ""


def _consumers(token: Token | None) -> str:
    if token is None or not token.consumers:
        return "none listed in the inventory"
    return "\n".join(f"• {consumer.who}: {consumer.how}" for consumer in token.consumers)


def _status_line(status: TokenStatus | None, now: datetime) -> str:
    if status is None:
        return ":white_circle: not checked yet"
    icon = HEALTH_ICONS.get(status.state, ":white_circle:")
    expiry = _expiry_text(status.expires_on, now)
    summary = f" · {escape(status.summary)}" if status.summary else ""
    older = [p for p in status.problems if p.seen_by != status.source or p.seen_at != status.checked_at]
    if older:  # a problem a fuller check found, kept until a check that can see it clears it
        summary += " · " + "; ".join(f"{p.kind} seen by {p.seen_by} {_age(now - p.seen_at)}" for p in older)
    return f"{icon} {status.state} · {expiry} · by {status.source} {_age(now - status.checked_at)}{summary}"


def _expiry_text(expires_on: datetime | None, now: datetime) -> str:
    if expires_on is None:
        return "no expiry"
    when = f"{expires_on.astimezone(UTC):%Y-%m-%d}"
    return f"expires {when} (in {time_left_text(expires_on - now)})" if expires_on > now else f"expired {when}"


def time_left_text(time_left: timedelta) -> str:
    """`6 days 23 h`, `1 day 2 h`, `5 h`, `under an hour`."""
    days, hours = time_left.days, time_left.seconds // 3600
    if days >= 2:
        return f"{days} days" + (f" {hours} h" if hours else "")
    if days == 1:
        return "1 day" + (f" {hours} h" if hours else "")
    return f"{hours} h" if hours else "under an hour"


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def _history_line(event: AuditEvent) -> str:
    who = "the bot" if event.who == "cftoken" else f"<@{event.who}>"
    what = f"{event.event} {event.action}".strip()
    detail = f" — {escape(event.detail)}" if event.detail else ""
    request = f" `{event.request_id}`" if event.request_id else ""
    return f"{event.at.astimezone(UTC):%Y-%m-%d %H:%M} UTC · *{what}* by {who}{request}{detail}"


def _buttons(request: Request) -> dict[str, Any]:
    approve: dict[str, Any] = _button("Approve", "approve", request.id, style="primary")
    if request.action == "revoke":
        approve["confirm"] = {
            "title": {"type": "plain_text", "text": "Revoke for good?"},
            "text": {
                "type": "mrkdwn",
                "text": f"{request.token} will be deleted at Cloudflare; an incident is opened.",
            },
            "confirm": {"type": "plain_text", "text": "Revoke it"},
            "deny": {"type": "plain_text", "text": "Back"},
            "style": "danger",
        }
    elements = [approve, _button("Deny", "deny", request.id, style="danger"), _button("Cancel", "cancel", request.id)]
    return {"type": "actions", "block_id": "actions", "elements": elements}


def _button(label: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button", "action_id": action_id, "value": value, "text": {"type": "plain_text", "text": label},
    }
    if style:
        button["style"] = style
    return button


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _fields(*texts: str) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": text} for text in texts]}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
