"""Pure Block Kit for the scan's digest: new health problems (each with the button for its next step), fixes,
then expiry warnings and cadence reminders (each with a Request roll button)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.actions import REQUEST_REVOKE, REQUEST_ROLL, VERIFY_AGAIN, alert_block_id
from domain.health_words import ACTION_LABELS, PROBLEM_LABELS, STATE_ICONS, age_text, facts_age_text
from domain.inventory import Inventory, Token
from domain.message_parts import split_message
from domain.messages import (
    Blocks,
    Message,
    clip,
    consumers_text,
    escape,
    slack_date,
    time_left_text,
    zones_text,
)
from workers.scan.expiry import EXPIRED, Assessment, Findings
from workers.scan.health_watch import Alert, Fixed

MAX_TEXT = 3000  # Slack's limit per section text
FIXED_LINES_PER_SECTION = 12
ACTION_IDS = {"roll": REQUEST_ROLL, "verify": VERIFY_AGAIN, "revoke": REQUEST_REVOKE}


def render_digest(
    findings: Findings, inventory: Inventory, now: datetime, *, cloudflare_error: str | None = None
) -> list[Message]:
    """Everything one scan found, as one message (more only past Slack's 50 blocks or its total text limit)."""
    told_expired = {a.token.name for a in findings.alerts if a.problem.kind == "expired"}
    warnings = sorted((a for a in findings.warnings if not (a.threshold == EXPIRED and a.token.name in told_expired)),
                      key=lambda a: a.time_left or timedelta(0))
    blocks: Blocks = [_section(_headline(findings, warnings))]
    blocks += [_alert_section(alert, inventory, now) for alert in findings.alerts]
    blocks += _fixed_sections(findings.fixed, now)
    blocks += [_token_section(_warning_text(a), a.token, inventory) for a in warnings]
    blocks += [_token_section(_reminder_text(a, now), a.token, inventory) for a in findings.reminders]
    if cloudflare_error:
        blocks.append(
            _context(
                f":warning: Cloudflare's token list could not be read ({escape(cloudflare_error)}); "
                "expiry times come from the vault's __EXPIRES_AT."
            )
        )
    blocks.append(_context(_footer(now, bool(warnings), blocks)))
    return split_message((_fallback(warnings, findings), blocks))


def _footer(now: datetime, warned: bool, blocks: Blocks) -> str:
    """The scan's footer: the threshold rule only beside an expiry warning, Request roll only beside its button."""
    rolls = any(block.get("accessory", {}).get("action_id") == REQUEST_ROLL for block in blocks)
    parts = [f"Expiry scan {slack_date(now)}."]
    if warned:
        parts.append("Each threshold is posted once per expiry; a roll starts afresh.")
    if rolls:
        parts.append("*Request roll* opens the usual approval request in your name.")
    return " ".join(parts)


def request_roll_button(name: str) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": REQUEST_ROLL,
        "value": name,
        "text": {"type": "plain_text", "text": "Request roll"},
    }


def action_button(action: str, name: str) -> dict[str, Any]:
    """The button for a problem's next step: Request roll, Verify or Request revoke (the value is the name)."""
    return {"type": "button", "action_id": ACTION_IDS[action], "value": name,
            "text": {"type": "plain_text", "text": ACTION_LABELS[action]}}


def _headline(findings: Findings, warnings: list[Assessment]) -> str:
    expired = sum(1 for a in warnings if a.threshold == EXPIRED)
    parts = []
    if findings.alerts:
        tokens = len({a.token.name for a in findings.alerts})
        parts.append(f"{len(findings.alerts)} new problem{'s' * (len(findings.alerts) != 1)} on {tokens} "
                     f"token{'s' * (tokens != 1)}")
    if findings.fixed:
        parts.append(f"{len(findings.fixed)} fixed")
    if len(warnings) - expired:
        parts.append(f"{len(warnings) - expired} expiring soon")
    if expired:
        parts.append(f"{expired} expired")
    if findings.reminders:
        parts.append(f"{len(findings.reminders)} due for rotation")
    return ":alarm_clock: *Cloudflare token check*: " + ", ".join(parts)


def _alert_section(alert: Alert, inventory: Inventory, now: datetime) -> dict[str, Any]:
    """One new problem: what, its runbook step, how old the facts are, and the button for the next step."""
    problem, name = alert.problem, alert.token.name
    text = (f"{STATE_ICONS[problem.severity]} *{name}* — {escape(problem.detail)}\n↳ _Next:_ "
            f"{escape(problem.next_step)}\n_seen by {problem.seen_by} {age_text(now - problem.seen_at)} · "
            f"{facts_age_text(alert.health, now)}_") + _facts(alert.token)
    action = problem.action
    if action == "roll" and inventory.is_management(alert.token):
        action = "verify"  # the bot cannot roll the management token (failure mode D)
    section = {**_section(text), "block_id": alert_block_id(name, problem.kind)}  # a roll's reason names it
    if action == "none":
        return section
    return {**section, "accessory": action_button(action, name)}


def _fixed_sections(fixed: tuple[Fixed, ...], now: datetime) -> Blocks:
    lines = [f"✅ *{f.token.name}*: {KIND_WORDS.get(f.kind, f.kind)} — fixed (cleared by the {f.health.source} at "
             f"{slack_date(f.health.checked_at)}; now {f.health.state})" for f in fixed]
    chunks = [lines[i : i + FIXED_LINES_PER_SECTION] for i in range(0, len(lines), FIXED_LINES_PER_SECTION)]
    return [_section("\n".join(chunk)) for chunk in chunks]


KIND_WORDS = PROBLEM_LABELS


def _warning_text(assessment: Assessment) -> str:
    name, left = assessment.token.name, assessment.time_left or timedelta(0)
    assert assessment.expires_on is not None
    if assessment.threshold == EXPIRED:
        head = f":red_circle: *{name}* expired {time_left_text(-left)} ago"
    else:
        icon = ":rotating_light:" if (assessment.threshold or 0) <= 3 else ":warning:"
        head = f"{icon} *{name}* expires in *{time_left_text(left)}* ({assessment.threshold}-day warning)"
    label = "*Expired*" if assessment.threshold == EXPIRED else "*Expires*"
    return f"{head}\n{label} {slack_date(assessment.expires_on)}" + _facts(assessment.token)


def _reminder_text(assessment: Assessment, now: datetime) -> str:
    token, reminder = assessment.token, assessment.reminder
    assert reminder is not None
    ago = (now - reminder.last_rotated).days
    head = f":repeat: *{token.name}* has no expiry; its {token.cadence_days}-day rotation is due"
    return f"{head}\n*Last rotated* {slack_date(reminder.last_rotated)} ({ago} days ago)" + _facts(token)


def _facts(token: Token) -> str:
    return f" · *Zones* {escape(zones_text(token))}\n*Consumers*\n{consumers_text(token)}"


def _token_section(text: str, token: Token, inventory: Inventory) -> dict[str, Any]:
    if inventory.is_management(token):
        note = (
            f"\nThe bot cannot roll `{token.name}`: an operator rotates it in the Cloudflare dashboard "
            "(runbook failure mode D)."
        )
        return _section(_clip(text, len(note)) + note)
    return {**_section(text), "accessory": request_roll_button(token.name)}


def _fallback(warnings: list[Assessment], findings: Findings) -> str:
    parts = [
        f"{a.token.name} expired"
        if a.threshold == EXPIRED
        else f"{a.token.name} expires in {time_left_text(a.time_left or timedelta(0))}"
        for a in warnings
    ]
    parts += [f"{a.token.name} is due for rotation" for a in findings.reminders]
    parts = [f"{a.token.name}: {a.problem.detail}" for a in findings.alerts] + parts
    parts += [f"{f.token.name}: {KIND_WORDS.get(f.kind, f.kind)} fixed" for f in findings.fixed]
    return _clip("Cloudflare token check: " + "; ".join(parts), 0, limit=1000)


def _clip(text: str, reserve: int, *, limit: int = MAX_TEXT) -> str:
    return clip(text, limit - reserve)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, 0)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, 0)}]}
