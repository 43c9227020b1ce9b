"""The verify report as Block Kit: healthy in one line; otherwise the failing checks first with their next steps."""

from __future__ import annotations

from typing import Any

from domain.actions import REQUEST_REVOKE, ROLL_AFTER_VERIFY, VERIFY_AGAIN
from domain.health import ROLL_HELPS, Health
from domain.health_words import facts_age_text, headline, problem_line
from domain.messages import clip, slack_date
from domain.mrkdwn import mention
from workers.verify.report import Diagnosis

ICONS = {"ok": "✅", "skip": "➖", "warn": "⚠️", "fail": "❌"}  # skip: not checked, and why (no ✅ for it)


def render_diagnosis(diagnosis: Diagnosis, health: Health | None = None, *, requested_by: str | None = None,
                     can_roll: bool = True) -> tuple[str, list[dict[str, Any]]]:
    """The report as (fallback text, Block Kit). Healthy: one line, the checks in a context block. Otherwise the
    failing checks first, each with its runbook step, then the passed ones, and the buttons for the next step."""
    now = diagnosis.checked_at
    health = health or diagnosis.health
    assert health is not None
    carried = [p for p in health.problems if p.seen_at != now]
    kept = ("\n*Still open from earlier checks (this one cannot see them):*\n"
            + "\n".join(problem_line(p, now) for p in carried)) if carried else ""
    asked = f" · asked by {_who(requested_by)}" if requested_by else ""
    when = f"`/cftoken verify {diagnosis.token_name}` {slack_date(now)}{asked} · {facts_age_text(health, now)}"
    passed = [c for c in diagnosis.checks if c.status in ("ok", "skip")]
    problems = sorted((c for c in diagnosis.checks if c.status in ("warn", "fail")), key=lambda c: c.status != "fail")
    blocks: list[dict[str, Any]] = [_section(headline(diagnosis.token_name, health, now) + kept)]
    for check in problems:
        line = f"{ICONS[check.status]} *{check.title}* — {check.detail}"
        blocks.append(_section(line + (f"\n      ↳ _Next:_ {check.next_step}" if check.next_step else "")))
    passed_text = "\n".join(f"{ICONS[c.status]} *{c.title}* — {c.detail}" for c in passed)
    blocks.append(_context(f"{passed_text}\n{when}" if passed_text else when))
    if problems or carried:
        buttons = _next_step_buttons(diagnosis.token_name, health, can_roll=can_roll)
        buttons.append(_button("Verify again", VERIFY_AGAIN, diagnosis.token_name))
        blocks.append({"type": "actions", "elements": buttons})
    return clip(f"verify {diagnosis.token_name}: {health.state} — {health.summary}", 3000), blocks


def _next_step_buttons(name: str, health: Health, *, can_roll: bool) -> list[dict[str, Any]]:
    """A compromised token's next step is a revoke (a roll cannot bring it back); one the bot revoked, or one gone
    from Cloudflare, is provisioned anew, not rolled; Request roll only beside a problem a roll fixes (not a
    policy: an over-privileged or under-privileged token keeps its policy through a roll; not a token of the other
    kind than the inventory says, which is fixed in the inventory)."""
    if health.state == "compromised":
        return [_button("Request revoke", REQUEST_REVOKE, name)]
    if health.state == "revoked" or health.problem("deleted") or health.problem("kind") or not can_roll:
        return []
    if not any(problem.kind in ROLL_HELPS for problem in health.problems):
        return []
    return [_button("Request roll", ROLL_AFTER_VERIFY, name)]


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 3000)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, 3000)}]}


def _button(label: str, action_id: str, value: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "value": value, "text": {"type": "plain_text", "text": label}}


def _who(user: str) -> str:
    return mention(user)
