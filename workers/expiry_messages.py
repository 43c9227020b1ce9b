"""Pure Block Kit for the expiry scan's digest: one section per token with a Request roll button, then drift."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.inventory import Inventory, Token
from domain.messages import Blocks, Message, clock_time, escape, time_left_text, zones_text
from workers.expiry import EXPIRED, Assessment, Findings, stamp

MAX_BLOCKS = 50  # Slack's limit per message; a bigger digest continues in a second message
MAX_TEXT = 3000  # Slack's limit per section text
DRIFT_LINES_PER_SECTION = 12
REQUEST_ROLL = "request_roll"


def render_digest(
    findings: Findings, inventory: Inventory, now: datetime, *, cloudflare_error: str | None = None
) -> list[Message]:
    """Everything one scan found, as one message (more only past Slack's 50-block limit)."""
    warnings = sorted(findings.warnings, key=lambda a: a.time_left or timedelta(0))
    blocks: Blocks = [_section(_headline(findings))]
    blocks += [_token_section(_warning_text(a), a.token, inventory) for a in warnings]
    blocks += [_token_section(_reminder_text(a, now), a.token, inventory) for a in findings.reminders]
    blocks += _drift_sections(findings.drift)
    if cloudflare_error:
        blocks.append(
            _context(
                f":warning: Cloudflare's token list could not be read ({escape(cloudflare_error)}); "
                "expiry times come from the vault's __EXPIRES_AT."
            )
        )
    blocks.append(
        _context(
            f"Expiry scan at {clock_time(now)}. Each threshold is posted once per expiry; a roll "
            "starts afresh. *Request roll* opens the usual approval request in your name."
        )
    )
    text = _fallback(warnings, findings)
    chunks = [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)]
    if len(chunks) == 1:
        return [(text, chunks[0])]
    return [(f"{text} (part {n} of {len(chunks)})", chunk) for n, chunk in enumerate(chunks, start=1)]


def request_roll_button(name: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": REQUEST_ROLL,
        "value": name,
        "text": {"type": "plain_text", "text": "Request roll"},
    }


def _headline(findings: Findings) -> str:
    expired = sum(1 for a in findings.warnings if a.threshold == EXPIRED)
    parts = []
    if len(findings.warnings) - expired:
        parts.append(f"{len(findings.warnings) - expired} expiring soon")
    if expired:
        parts.append(f"{expired} expired")
    if findings.reminders:
        parts.append(f"{len(findings.reminders)} due for rotation")
    if findings.drift:
        parts.append(f"drift on {len(findings.drift)}")
    return ":alarm_clock: *Cloudflare token check*: " + ", ".join(parts)


def _warning_text(assessment: Assessment) -> str:
    name, left = assessment.token.name, assessment.time_left or timedelta(0)
    assert assessment.expires_on is not None
    if assessment.threshold == EXPIRED:
        head = f":red_circle: *{name}* expired {time_left_text(-left)} ago"
    else:
        icon = ":rotating_light:" if (assessment.threshold or 0) <= 3 else ":warning:"
        head = f"{icon} *{name}* expires in *{time_left_text(left)}* ({assessment.threshold}-day warning)"
    return f"{head}\n*Expires* {stamp(assessment.expires_on)}" + _facts(assessment.token)


def _reminder_text(assessment: Assessment, now: datetime) -> str:
    token, reminder = assessment.token, assessment.reminder
    assert reminder is not None
    ago = (now - reminder.last_rotated).days
    head = f":repeat: *{token.name}* has no expiry; its {token.cadence_days}-day rotation is due"
    return f"{head}\n*Last rotated* {stamp(reminder.last_rotated)} ({ago} days ago)" + _facts(token)


def _facts(token: Token) -> str:
    consumers = "; ".join(f"{escape(c.who)}: {escape(c.how)}" for c in token.consumers) or "none listed"
    return f" · *Zones* {escape(zones_text(token))}\n*Consumers* {consumers}"


def _token_section(text: str, token: Token, inventory: Inventory) -> dict[str, Any]:
    if inventory.is_management(token):
        note = (
            f"\n_The bot cannot roll {token.name}: an operator rotates it in the Cloudflare dashboard "
            "(runbook failure mode D)._"
        )
        return _section(_clip(text, len(note)) + note)
    return {**_section(text), "accessory": request_roll_button(token.name)}


def _drift_sections(drifting: tuple[Assessment, ...]) -> Blocks:
    lines = [f"• *{a.token.name}*: {escape(item.detail)}" for a in drifting for item in a.drift]
    if not lines:
        return []
    title = ":mag: *Drift*: the vault, the inventory and Cloudflare disagree\n"
    chunks = [lines[i : i + DRIFT_LINES_PER_SECTION] for i in range(0, len(lines), DRIFT_LINES_PER_SECTION)]
    return [_section((title if n == 0 else "") + "\n".join(chunk)) for n, chunk in enumerate(chunks)]


def _fallback(warnings: list[Assessment], findings: Findings) -> str:
    parts = [
        f"{a.token.name} expired"
        if a.threshold == EXPIRED
        else f"{a.token.name} expires in {time_left_text(a.time_left or timedelta(0))}"
        for a in warnings
    ]
    parts += [f"{a.token.name} is due for rotation" for a in findings.reminders]
    if findings.drift:
        parts.append("drift on " + ", ".join(a.token.name for a in findings.drift))
    return _clip("Cloudflare token check: " + "; ".join(parts), 0, limit=1000)


def _clip(text: str, reserve: int, *, limit: int = MAX_TEXT) -> str:
    room = limit - reserve
    return text if len(text) <= room else text[: room - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, 0)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, 0)}]}
