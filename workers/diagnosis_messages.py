"""The verify report as Block Kit: the token's state, one ✅ / ⚠️ / ❌ line per check with its next step."""

from __future__ import annotations

import re
from typing import Any

from domain.messages import escape
from domain.timestamps import utc_stamp
from workers.diagnosis import Diagnosis

ICONS = {"ok": "✅", "warn": "⚠️", "fail": "❌"}
STATE_WORDS = {"healthy": "✅ healthy", "warning": "⚠️ warning", "failing": "❌ failing"}
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def render_diagnosis(diagnosis: Diagnosis, *, requested_by: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The report as (fallback text, Block Kit): header, one line per check with next steps, then when and who."""
    headline = f"verify {diagnosis.token_name}: {diagnosis.state}"
    lines = []
    for check in diagnosis.checks:
        line = f"{ICONS[check.status]} *{check.title}* — {check.detail}"
        if check.next_step and check.status != "ok":
            line += f"\n      ↳ _Next:_ {check.next_step}"
        lines.append(line)
    asked = f" · asked by {_who(requested_by)}" if requested_by else ""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"verify {diagnosis.token_name}"[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{diagnosis.token_name}* is "
                                     f"*{STATE_WORDS[diagnosis.state]}* — {diagnosis.summary}"[:3000]}},
        *({"type": "section", "text": {"type": "mrkdwn", "text": line[:3000]}} for line in lines),
        {"type": "context", "elements": [{"type": "mrkdwn",
                                          "text": f"Checked {utc_stamp(diagnosis.checked_at)}{asked}"}]},
    ]
    return f"{headline} — {diagnosis.summary}", blocks


def _who(user: str) -> str:
    return f"<@{user}>" if _USER_ID.match(user) else escape(user)
