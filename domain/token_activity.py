"""What Cloudflare's audit log says happened to and with a token, decided purely: which entries are writes to an
inventory token (a roll, an edit, a delete, a create under its name) made by someone other than the bot's management
token, how each reads in the channel, and the token's recent entries for verify and history.

Every field shown came from Cloudflare, so it is escaped. The last activity verify read is kept per token, signed
(`cftoken:activity:<NAME>`), for `/cftoken history NAME`, which reads only Redis.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import redis
from pydantic import BaseModel, ConfigDict

from domain import integrity
from domain.cloudflare_audit import AuditEntry
from domain.mrkdwn import escape
from domain.timestamps import slack_date

_TOKEN_WRITE = re.compile(r"^/(?:user|accounts/[^/]+)/tokens(?:/(?P<token_id>[0-9a-f]{32}))?(?P<value>/value)?/?$")
VERBS = {"roll": "rolled", "update": "edited", "delete": "deleted", "create": "created"}
ACTIVITY_PREFIX = "cftoken:activity:"
MOST = 5


@dataclass(frozen=True)
class TokenChange:
    """A write to an inventory token, as the audit log recorded it."""

    token: str
    kind: str  # roll | update | delete | create
    entry: AuditEntry


class TokenActivity(BaseModel):
    """A token's recent entries as verify read them: made with it, and made to it."""

    model_config = ConfigDict(frozen=True)

    token: str
    read_at: datetime
    days: int
    made_with: tuple[AuditEntry, ...] = ()
    made_to: tuple[AuditEntry, ...] = ()


def change_of(entry: AuditEntry, names_by_id: Mapping[str, str], names: Collection[str]) -> TokenChange | None:
    """The inventory token `entry` wrote to, and how; None for anything else (a read, a failure, another token)."""
    match = _TOKEN_WRITE.match(entry.uri)
    if match is None or not entry.succeeded or entry.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return None
    if match["token_id"] is None:  # a create: which name it was made under
        return TokenChange(entry.name_sent, "create", entry) if entry.method == "POST" and \
            entry.name_sent in names else None
    name = names_by_id.get(match["token_id"])
    if name is None:
        return None
    kind = "roll" if match["value"] else ("delete" if entry.method == "DELETE" else "update")
    return TokenChange(name, kind, entry)


def outside_changes(entries: Sequence[AuditEntry], names_by_id: Mapping[str, str], names: Collection[str],
                    managers: Collection[str]) -> list[TokenChange]:
    """Writes to inventory tokens whose actor is not one of the bot's management tokens, oldest first."""
    found = [change_of(entry, names_by_id, names) for entry in entries
             if entry.actor_token_id is None or entry.actor_token_id not in managers]
    return sorted((change for change in found if change is not None), key=lambda change: change.entry.time)


def by_whom(entry: AuditEntry) -> str:
    """`alice@example.com from 203.0.113.7`, or the token's name when a token acted (escaped)."""
    who = entry.actor_email if entry.actor_context == "dash" or not entry.actor_token_name else \
        f"the token {entry.actor_token_name}" + (f" ({entry.actor_email})" if entry.actor_email else "")
    where = f" from `{escape(entry.actor_ip)}`" if entry.actor_ip else ""
    return f"{escape(who or entry.who)}{where}"


def change_text(change: TokenChange) -> str:
    """One line: what changed, by whom, from where, when (escaped)."""
    entry = change.entry
    return (f"{change.token} was {VERBS[change.kind]} at Cloudflare by {by_whom(entry)} {slack_date(entry.time)} "
            f"(`{escape(entry.method)} {escape(entry.uri)}`)")


def meaning(change: TokenChange) -> str:
    """What the change means for the vault, and the next step."""
    name = change.token
    if change.kind == "roll":
        return (f"the vault's value stopped working then — `/cftoken roll {name}` puts a working value in the "
                "vault (or paste the new value there)")
    if change.kind == "delete":
        return (f"the vault's value no longer works — `/cftoken verify {name}` says what to do (provision a "
                "replacement)")
    if change.kind == "create":
        return (f"a second token carries the name; the vault's value is unchanged — `/cftoken verify {name}` "
                "shows both")
    return f"its policy or expiry may now differ from the inventory — `/cftoken verify {name}` checks it"


def outside_alert(change: TokenChange) -> str:
    return f":mag: *Changed outside the bot:* {change_text(change)}; {meaning(change)}."


def entry_line(entry: AuditEntry) -> str:
    """One recent entry for verify and history (escaped)."""
    zone = f" on {escape(entry.zone_name)}" if entry.zone_name else ""
    return (f"{slack_date(entry.time)} {escape(entry.action or '?')} `{escape(entry.method)} {escape(entry.uri)}`"
            f"{zone} → {entry.status_code or '?'} by {by_whom(entry)}")


def activity_lines(activity: TokenActivity) -> list[str]:
    """The last few entries made with the token and made to it."""
    lines = []
    for label, entries in (("made with it", activity.made_with), ("made to it", activity.made_to)):
        newest = sorted(entries, key=lambda entry: entry.time, reverse=True)[:MOST]
        more = f" ({len(entries)} in all)" if len(entries) > MOST else ""
        lines.append(f"*Changes {label}* (last {activity.days} days{more}): " +
                     ("none" if not newest else "\n• " + "\n• ".join(entry_line(entry) for entry in newest)))
    return lines


def latest_outside(activity: TokenActivity, managers: Collection[str], token_id: str | None) -> TokenChange | None:
    """The newest write made to the token by someone other than the bot."""
    names_by_id = {token_id: activity.token} if token_id else {}
    found = outside_changes(activity.made_to, names_by_id, (activity.token,), managers)
    return found[-1] if found else None


def cause(change: TokenChange | None, otherwise: str) -> str:
    """Failure mode B's cause when the audit log names it: ` — rolled at Cloudflare by … (…)`, else `otherwise`."""
    if change is None:
        return f" {otherwise}" if otherwise else ""
    return f": {change_text(change)}"


def activity_check(activity: TokenActivity | Exception) -> tuple[str, str, str]:
    """verify's line for the audit log: (status, title, detail); ➖ with why when it was not read."""
    title = "Changes at Cloudflare (audit log)"
    if isinstance(activity, Exception):
        return "skip", title, f"not checked: {escape(str(activity))}"
    return "ok", title, "\n".join(activity_lines(activity))


def history_block(activity: TokenActivity) -> dict:
    """`/cftoken history NAME`'s section on Cloudflare's audit log, as verify last read it."""
    text = (f"*At Cloudflare* (the audit log as `/cftoken verify {activity.token}` read it "
            f"{slack_date(activity.read_at)}):\n" + "\n".join(activity_lines(activity)))
    return {"type": "section", "text": {"type": "mrkdwn", "text": text if len(text) <= 2900 else text[:2899] + "…"}}


def save_activity(conn: redis.Redis, activity: TokenActivity) -> None:
    payload = activity.model_dump_json()
    tag = integrity.tag(integrity.process_key(), "activity", activity.token, payload.encode())
    conn.set(ACTIVITY_PREFIX + activity.token, json.dumps({"activity": payload, "tag": tag}), ex=30 * 24 * 3600)


def load_activity(conn: redis.Redis, name: str) -> TokenActivity | None:
    """The activity verify last read for `name`; None when there is none or cftoken did not sign it."""
    raw = conn.get(ACTIVITY_PREFIX + name)
    try:
        stored = json.loads(raw) if raw is not None else None
        payload = stored["activity"] if stored else None
        if payload and integrity.verifies_any("activity", name, payload.encode(), stored.get("tag")):
            return TokenActivity.model_validate_json(payload)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return None
