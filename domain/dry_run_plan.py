"""A dry run's findings and the message that shows them (pure): every pre-flight result, the plan, and a button
that asks for the real operation.

The worker gathers the facts (workers/operations/dry_run.py); this module decides nothing but how they read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from domain.actions import REQUEST_REAL
from domain.messages import SECTION_TEXT, Message, clip, escape, escape_keeping_marks
from domain.mrkdwn import mention

VERBS = {"roll": "Roll", "revoke": "Revoke", "provision": "Provision"}
ICONS = {True: "✅", False: "❌", None: "➖"}
BUTTON_VALUE = 2000  # Slack's limit on a button's value


@dataclass(frozen=True)
class CheckResult:
    """One pre-flight check: passed (True), failed (False) or not made (None), and what it found."""

    label: str
    ok: bool | None
    detail: str


@dataclass(frozen=True)
class PlannedStep:
    label: str
    changes: str


@dataclass(frozen=True)
class DryRun:
    """What a real `action` of `token` would check and do, as found just now."""

    action: str
    token: str
    reason: str
    requested_by: str
    checks: tuple[CheckResult, ...]
    steps: tuple[PlannedStep, ...]
    expiry: str  # the new expiry, in words
    strategy: str  # how the old value ends
    consumers: tuple[str, ...]
    extra: tuple[str, ...] = field(default=())  # anything else the plan says (the policies to create, the tokens a
    # revoke deletes); the bot's own mentions and dates in it render
    replaces: str | None = None  # a provision that replaces this revoke: the button opens it as a replacement

    @property
    def blockers(self) -> tuple[CheckResult, ...]:
        return tuple(check for check in self.checks if check.ok is False)


def button_value(action: str, token: str, reason: str, replaces: str | None = None) -> str:
    """The real request the button opens: the action, the token, the reason typed with the dry run (clipped
    when its JSON would pass Slack's 2,000 characters for a button value) and the revoke a provision replaces."""
    asked = {"action": action, "token": token} | ({"replaces": replaces} if replaces else {})
    while True:
        value = json.dumps({**asked, "reason": reason}, separators=(",", ":"), ensure_ascii=False)
        if len(value) <= BUTTON_VALUE or not reason:
            return value
        reason = clip(reason, len(reason) - (len(value) - BUTTON_VALUE) // 2 - 1)


def read_button_value(value: str) -> tuple[str, str, str] | None:
    """(action, token, reason) from a button value; None when it is not one this module wrote."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    action, token, reason = data.get("action"), data.get("token"), data.get("reason", "")
    if action not in VERBS or not isinstance(token, str) or not isinstance(reason, str):
        return None
    return action, token, reason


def button_replaces(value: str) -> str | None:
    """The revoke a dry run's provision button replaces (the listener checks it before it counts), or None."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    replaces = data.get("replaces") if isinstance(data, dict) else None
    return replaces if isinstance(replaces, str) else None


def render_dry_run(run: DryRun) -> Message:
    """The dry run's answer: what was checked (each result), what would change where, and the button."""
    verb = VERBS[run.action]
    stops = run.blockers
    verdict = (f"❌ {len(stops)} check{'s' if len(stops) != 1 else ''} would stop it: "
               + "; ".join(escape(check.label) for check in stops) if stops else "✅ Nothing found that would stop it.")
    head = (f"*Dry run: {verb.lower()} {escape(run.token)}* (asked by {mention(run.requested_by)}). Nothing was "
            f"changed anywhere and no approval was needed.\n{verdict}")
    checks = "\n".join(f"{ICONS[c.ok]} {escape(c.label)}: {escape(c.detail)}" for c in run.checks)
    steps = "\n".join(f"{n}. {escape(s.label)} — {escape(s.changes)}" for n, s in enumerate(run.steps, 1))
    consumers = "\n".join(f"• {escape(c)}" for c in run.consumers) or "• none listed in the inventory"
    plan = f"*New expiry:* {escape(run.expiry)}\n*Strategy:* {escape(run.strategy)}"
    if run.extra:
        plan += "\n" + "\n".join(escape_keeping_marks(line) for line in run.extra)
    sections = [head, f"*Pre-flight, checked just now:*\n{checks}", f"*The steps, and what each changes where:*\n"
                f"{steps}", plan, f"*Consumers to tell:*\n{consumers}"]
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_TEXT)}}
                                    for text in sections]
    if stops:  # the real request would stop at the same check: no button leads there
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            "Nothing to request while a ❌ check stands: do what it says, then run the dry run again.")}]})
    else:
        blocks.append({"type": "actions", "elements": [{
            "type": "button", "text": {"type": "plain_text", "text": f"Request {verb.lower()}"},
            "action_id": REQUEST_REAL, "value": button_value(run.action, run.token, run.reason, run.replaces),
        }]})
    text = f"Dry run: {verb.lower()} {run.token}: " + (f"{len(stops)} check(s) would stop it" if stops
                                                        else "nothing found that would stop it")
    return text, blocks
