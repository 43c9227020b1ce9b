"""The verify report as Block Kit: the token's state, one ✅ / ⚠️ / ❌ line per check with its next step."""

from __future__ import annotations

import re
from typing import Any

from domain.health import Health, facts_age_text, headline, problem_line
from domain.messages import escape
from domain.timestamps import utc_stamp
from workers.diagnosis import Diagnosis

ICONS = {"ok": "✅", "warn": "⚠️", "fail": "❌"}
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def render_diagnosis(diagnosis: Diagnosis, health: Health | None = None, *, requested_by: str | None = None
                     ) -> tuple[str, list[dict[str, Any]]]:
    """The report as (fallback text, Block Kit): the token's health, problems earlier checks found that this one
    could not see, one line per check with next steps, then how old each fact is and who asked."""
    now = diagnosis.checked_at
    health = health or diagnosis.health
    assert health is not None
    carried = [p for p in health.problems if p.seen_at != now]
    kept = ("\n*Still open from earlier checks (this one cannot see them):*\n"
            + "\n".join(problem_line(p, now) for p in carried)) if carried else ""
    lines = []
    for check in diagnosis.checks:
        line = f"{ICONS[check.status]} *{check.title}* — {check.detail}"
        if check.next_step and check.status != "ok":
            line += f"\n      ↳ _Next:_ {check.next_step}"
        lines.append(line)
    asked = f" · asked by {_who(requested_by)}" if requested_by else ""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"verify {diagnosis.token_name}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn",
                                     "text": (headline(diagnosis.token_name, health, now) + kept)[:3000]}},
        *({"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}} for line in lines),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Checked {utc_stamp(now)}{asked} · "
                                          f"{facts_age_text(health, now)}"}]},
    ]
    return f"verify {diagnosis.token_name}: {health.state} — {health.summary}", blocks


def _who(user: str) -> str:
    return f"<@{user}>" if _USER_ID.match(user) else escape(user)
