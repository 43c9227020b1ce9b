"""The scan's digest, recorded in the outbox in the same Redis transaction as the claims on what it tells.

A finding (an expiry threshold, a cadence reminder, a new problem, a fix) is claimed and its digest queued for
`workers/delivery.py` in one MULTI/EXEC, watched: a worker killed mid-scan leaves neither or both, Slack being down
only delays the digest (the outbox retries, and looks for a post whose answer was lost before posting again), and
two scans at once claim each finding once (the one whose watched keys changed reads again and finds it taken).

Outbox keys: `digest:<scan instant, µs>:<hash of what it claims>:<part>`, the parts of one digest in one
conversation (delivered in order).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import redis

from domain import outbox
from domain.health import Health
from domain.inventory import Inventory
from workers.scan import health_watch
from workers.scan.expiry import CLAIM_TTL, Assessment, Findings, reminder_key, warning_key
from workers.scan.expiry_messages import render_digest


@dataclass(frozen=True)
class Recorded:
    """What one scan claimed and the outbox keys of the digest that tells it (none when nothing was new)."""

    findings: Findings
    keys: tuple[str, ...]


def claims_asked(assessments: Sequence[Assessment]) -> list[tuple[str, Assessment, str]]:
    """(warning | reminder, assessment, claim key) for each expiry finding this scan would post."""
    asked = []
    for a in assessments:
        if a.threshold is not None and a.expires_on is not None:
            asked.append(("warning", a, warning_key(a.token.name, a.expires_on, a.threshold)))
        if a.reminder is not None:
            asked.append(("reminder", a, reminder_key(a.token.name, a.reminder)))
    return asked


def gone(health: Health | None) -> bool:
    """The token is gone from Cloudflare: no expiry warning or reminder (a roll cannot bring it back); the scan's
    own 'gone from Cloudflare' finding says to provision a replacement."""
    return health is not None and health.problem("deleted") is not None


def digest_key(now: datetime, claims: Sequence[str], writes: Sequence[health_watch.LedgerWrite]) -> str:
    """One digest's outbox key: the scan's instant and a hash of everything it claims."""
    told = sorted([*claims, *(f"{w.name}:{w.kind}:{w.fingerprint}" for w in writes)])
    digest = hashlib.sha256("\n".join(told).encode()).hexdigest()[:16]
    return f"digest:{now.timestamp():.6f}:{digest}"


def record_digest(conn: redis.Redis, assessments: Sequence[Assessment], healths: dict[str, Health],
                  inventory: Inventory, now: datetime, *, cloudflare_error: str | None) -> Recorded:
    """Claim what is new and queue the digest telling it, atomically (retried when another scan got there first)."""
    asked = claims_asked([a for a in assessments if not gone(healths.get(a.token.name))])
    tokens = inventory.tokens
    watched = [key for _, _, key in asked] + [health_watch.ledger_key(t.name) for t in tokens]

    def claim_and_queue(pipe: redis.client.Pipeline) -> Recorded:
        taken = conn.mget([key for _, _, key in asked]) if asked else []
        won = [(kind, a, key) for (kind, a, key), value in zip(asked, taken, strict=True) if value is None]
        alerts, fixed, writes = health_watch.alert_changes(tokens, health_watch.read_ledgers(conn, tokens), healths)
        findings = Findings(warnings=tuple(a for kind, a, _ in won if kind == "warning"),
                            reminders=tuple(a for kind, a, _ in won if kind == "reminder"),
                            alerts=tuple(alerts), fixed=tuple(fixed))
        messages = render_digest(findings, inventory, now, cloudflare_error=cloudflare_error) if findings else []
        group = digest_key(now, [key for _, _, key in won], writes)
        keys = tuple(f"{group}:{part}" for part in range(1, len(messages) + 1))
        pipe.multi()
        for _, _, key in won:
            pipe.set(key, "1", ex=int(CLAIM_TTL.total_seconds()))
        health_watch.write_ledgers(pipe, writes)
        for key, (text, blocks) in zip(keys, messages, strict=True):
            outbox.post_in(pipe, key, text, blocks, group=group, now=now)
        return Recorded(findings, keys)

    return conn.transaction(claim_and_queue, *watched, value_from_callable=True)
