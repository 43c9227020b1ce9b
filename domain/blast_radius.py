"""A token's blast radius: what it did at Cloudflare in the last CFTOKEN_AUDIT_DAYS, from the audit log.

`summarise` is pure: the entries made with the token in, a `BlastRadius` out — the changes counted by action and
resource ("12 DNS record updates on getraxx.com"), the distinct IPs with their first and last time, the first and
last change, and Cloudflare's `last_used_on`. `unavailable` makes the one-line summary of a log that could not be
read (why, and the fix). The renderers turn it into Slack lines (escaped: every field came from Cloudflare) and
into the incident's text, whose full list is paged. Nothing in it is a token value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from domain.cloudflare_audit import AuditEntry
from domain.mrkdwn import escape as _escape
from domain.timestamps import slack_date

MOST_IPS = 5  # IPs shown in Slack; the incident lists all
INCIDENT_PAGE = 50  # entries per incident note
READING = "_Reading Cloudflare's audit log …_ (this message is redrawn when the worker has it)"
_ACTIONS = {"create": ("creation", "creations"), "update": ("update", "updates"), "delete": ("deletion", "deletions")}


class IpSeen(BaseModel):
    model_config = ConfigDict(frozen=True)

    address: str
    first: datetime
    last: datetime
    changes: int


class BlastRadius(BaseModel):
    model_config = ConfigDict(frozen=True)

    token: str
    token_id: str | None = None
    days: int
    read_at: datetime
    changes: tuple[tuple[str, str, str, int], ...] = ()  # (resource, action, where, count), most first
    ips: tuple[IpSeen, ...] = ()
    first: datetime | None = None
    last: datetime | None = None
    total: int = 0
    last_used_on: datetime | None = None
    complete: bool = True
    unavailable: str | None = None  # why the log was not read, and the fix: one line
    entries: tuple[AuditEntry, ...] = ()  # the full list, for the incident


def summarise(entries: Sequence[AuditEntry], *, token: str, token_id: str | None, days: int, now: datetime,
              last_used_on: datetime | None, complete: bool = True) -> BlastRadius:
    """What the token did: its changes by action and resource, its IPs, its first and last change."""
    ordered = sorted(entries, key=lambda entry: entry.time)
    counted = Counter(change_kind(entry) for entry in ordered)
    ips: dict[str, list[datetime]] = {}
    for entry in ordered:
        if entry.actor_ip:
            ips.setdefault(entry.actor_ip, []).append(entry.time)
    seen = sorted((IpSeen(address=ip, first=times[0], last=times[-1], changes=len(times)) for ip, times in
                   ips.items()), key=lambda ip: (-ip.changes, ip.address))
    return BlastRadius(
        token=token, token_id=token_id, days=days, read_at=now,
        changes=tuple((*kind, count) for kind, count in counted.most_common()),
        ips=tuple(seen), first=ordered[0].time if ordered else None, last=ordered[-1].time if ordered else None,
        total=len(ordered), last_used_on=last_used_on, complete=complete, entries=tuple(ordered))


def unavailable(token: str, why: str, fix: str, *, days: int, now: datetime,
                last_used_on: datetime | None = None) -> BlastRadius:
    """The summary of a log that could not be read: why and the fix, in one line."""
    return BlastRadius(token=token, days=days, read_at=now, unavailable=f"{why.rstrip('.')}. {fix}".strip(),
                       last_used_on=last_used_on)


def change_kind(entry: AuditEntry) -> tuple[str, str, str]:
    """(`DNS record`, `update`, `getraxx.com`): the resource, the action on it, and where."""
    action = entry.action if entry.action in _ACTIONS else "change"
    return resource_noun(entry), action, entry.zone_name or "the account"


def resource_noun(entry: AuditEntry) -> str:
    kind = f"{entry.resource_type} {entry.resource_product} {entry.uri}".lower()
    if "dns" in kind:
        return "DNS record"
    if "waf" in kind or "ruleset" in kind or "firewall" in kind:
        return "WAF rule"
    if "token" in kind:
        return "API token"
    return (entry.resource_type or entry.resource_product or "resource").replace(".", " ").replace("_", " ")


def change_text(noun: str, action: str, where: str, count: int) -> str:
    """`12 DNS record updates on getraxx.com`."""
    words = _ACTIONS.get(action, ("change", "changes"))
    return f"{count} {noun} {words[0] if count == 1 else words[1]} on {where}"


def slack_lines(radius: BlastRadius | None, *, escaped: bool = True) -> list[str]:
    """The blast radius for a Slack message: one line when unread or unreadable, else the changes, IPs and times
    (`escaped=False` for text the caller escapes itself, such as a request's result)."""
    escape = _escape if escaped else str
    if radius is None:
        return [READING]
    used = (f" Cloudflare's last use: {slack_date(radius.last_used_on)}." if radius.last_used_on
            else "")
    if radius.unavailable is not None:
        return [f":warning: *Audit log not read:* {escape(radius.unavailable)}{used}"]
    head = f"*What the token did* (Cloudflare's audit log, last {radius.days} days, read {slack_date(radius.read_at)})"
    if radius.total == 0:
        return [f"{head}: no changes made with it (reads are not recorded).{used}"]
    assert radius.first is not None and radius.last is not None
    changes = ", ".join(escape(change_text(*change)) for change in radius.changes)
    more = "" if radius.complete else " (at least: the log was read up to its page limit)"
    lines = [f"{head}: {changes}{more}; first {slack_date(radius.first)}, last {slack_date(radius.last)}.{used}"]
    shown = [f"`{escape(ip.address)}` ({ip.changes}, {slack_date(ip.first)} – {slack_date(ip.last)})"
             for ip in radius.ips[:MOST_IPS]]
    rest = len(radius.ips) - MOST_IPS
    if shown:
        lines.append(f"*From {len(radius.ips)} IP address{'es' if len(radius.ips) != 1 else ''}:* "
                     + ", ".join(shown) + (f" and {rest} more" if rest > 0 else ""))
    return lines


def plain_text(radius: BlastRadius | None) -> str:
    """The summary for the incident (plain text, UTC)."""
    if radius is None:
        return "Audit log: not read."
    used = f"\nLast used (Cloudflare): {_utc(radius.last_used_on)}" if radius.last_used_on else ""
    if radius.unavailable is not None:
        return f"Audit log not read: {radius.unavailable}{used}"
    head = f"What the token did (Cloudflare's audit log, last {radius.days} days, read {_utc(radius.read_at)})"
    if radius.total == 0:
        return f"{head}: no changes made with it (reads are not recorded).{used}"
    changes = ", ".join(change_text(*change) for change in radius.changes)
    ips = "\n".join(f"  {ip.address}: {ip.changes} change{'s' if ip.changes != 1 else ''}, {_utc(ip.first)} – "
                    f"{_utc(ip.last)}" for ip in radius.ips)
    return (f"{head}: {changes}{'' if radius.complete else ' (at least: read up to the page limit)'}\n"
            f"First change: {_utc(radius.first)}; last change: {_utc(radius.last)}{used}\n"
            f"Distinct IP addresses ({len(radius.ips)}):\n{ips}")


def incident_pages(radius: BlastRadius) -> list[str]:
    """The full list of entries, INCIDENT_PAGE per note, oldest first."""
    entries = radius.entries
    pages = []
    for start in range(0, len(entries), INCIDENT_PAGE):
        chunk = entries[start:start + INCIDENT_PAGE]
        lines = [f"{_utc(e.time)}  {e.action or '?'} {e.method} {e.uri} -> {e.status_code or '?'}  "
                 f"zone {e.zone_name or '-'}  from {e.actor_ip or '?'}  by {e.who}" for e in chunk]
        pages.append(f"Audit log entries {start + 1}–{start + len(chunk)} of {len(entries)} "
                     f"({radius.token}):\n" + "\n".join(lines))
    return pages


def _utc(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else "unknown"
