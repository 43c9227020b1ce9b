"""How a Health reads (pure): its icons and labels, its age, its headline and problem lines, and what a result says
still holds; every drawing of a health (verify, the scan, list, the approval message, results) takes them here.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.health import Health, Problem
from domain.timestamps import utc_stamp

PROBLEM_LABELS = {
    "revoked": "revoked by the bot", "compromised": "marked compromised (revoked (exposed))",
    "deleted": "gone from Cloudflare", "disabled": "disabled at Cloudflare", "expired": "expired",
    "vault_missing": "no value in the vault", "value": "vault value out of step", "probe": "job probe refused",
    "zones": "zones differ from the inventory", "permissions": "permissions differ from the inventory",
    "ip": "IP condition differs from the inventory", "companions": "companion drift", "expiring": "expiring soon",
    "duplicate": "a second live token with this name", "pin": "inventory token_id differs from __TOKEN_ID",
}
STATE_ICONS = {"healthy": "🟢", "warning": "🟡", "failing": "🔴", "revoked": "⚫", "compromised": "🚨",
               "unknown": "⚪"}
ACTION_LABELS = {"roll": "Request roll", "verify": "Verify", "revoke": "Request revoke"}


def unchanged_text(known: Health | None, now: datetime) -> str:
    """What holds when an operation changed nothing: the same vault value, its health only as old as its last check
    (never "it still works" unchecked)."""
    if known is None:
        return "the vault holds the value it held before (not checked yet: `/cftoken verify` checks it)"
    return (f"the vault holds the value it held before; its last known health ({known.source} "
            f"{age_text(now - known.checked_at)}) is {known.state}: {known.summary}")


def age_text(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def last_used_text(health: Health, now: datetime | None = None) -> str:
    """Cloudflare's last use, and whether it was only the bot's own check (the fact a revoke approver needs),
    with when Cloudflare's record was read."""
    used, ours = health.last_used_on, health.bot_used_at
    read = health.facts_at.get("cloudflare")
    when = f" (Cloudflare's last_used_on, read {age_text(now - read)})" if read and now else ""
    if used is None:
        return f"never used{when}"
    stamp = utc_stamp(used)
    if ours is not None and used <= ours + timedelta(minutes=1):
        return f"last used {stamp}, which was cftoken's own check: nothing but cftoken has used it since{when}"
    mine = f"; cftoken's last check: {utc_stamp(ours)}" if ours else ""
    return f"last used {stamp} by something other than cftoken{mine}{when}"


def problem_line(problem: Problem, now: datetime) -> str:
    """One problem as Slack mrkdwn: what, how old, and the runbook step."""
    return (f"{STATE_ICONS[problem.severity]} {problem.detail} _(seen by {problem.seen_by} "
            f"{age_text(now - problem.seen_at)})_\n      ↳ _Next:_ {problem.next_step}")


def headline(name: str, health: Health, now: datetime) -> str:
    """The one line every view starts with: icon, state and the worst problem (or the expiry)."""
    return f"{STATE_ICONS[health.state]} *{name}* is *{health.state}* — {health.summary}"


def facts_age_text(health: Health, now: datetime) -> str:
    """How old each fact is: 'vault 2 min ago · Cloudflare 2 min ago · value 5 h ago · probe never'."""
    labels = (("vault", "vault"), ("cloudflare", "Cloudflare"), ("value", "value verified"), ("probe", "job probe"))
    parts = [f"{label} {age_text(now - health.facts_at[key]) if key in health.facts_at else 'never'}"
             for key, label in labels]
    return "facts: " + " · ".join(parts)


def unfixed_text(health: Health, now: datetime) -> str:
    """What a roll did not fix: each remaining problem with its step, or ''."""
    if not health.problems:
        return ""
    return "Not fixed by the roll:\n" + "\n".join(problem_line(p, now) for p in health.problems)
