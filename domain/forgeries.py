"""Telling people about a record Redis alone wrote: one audit event and one channel message per record.

Whoever refuses it (a worker, reconcile, or the web on a click) logs an error every time and calls
`claim_report`; only the first caller gets the text to post, so the channel hears of each forgery once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

import redis

from domain import audit
from domain.errors import RecordTampered
from domain.inventory import Inventory
from domain.mrkdwn import clip, escape

REPORTED_KEY = "cftoken:refused:{}"
REPORTED_SECONDS = 7 * 24 * 3600
BOT = "cftoken"
RECORD_ID_SHOWN = 80  # characters of a refused record's id quoted in the channel


def refusal_text(exc: RecordTampered) -> str:
    """The channel's ⚠️ for a refused record: which one, that nothing was done, what to do. The record's id came from
    Redis (a set anyone with Redis access can add to), so it and the words quoting it are escaped and clipped."""
    record = escape(clip(exc.record_id, RECORD_ID_SHOWN))
    words = escape(str(exc).replace(exc.record_id, clip(exc.record_id, RECORD_ID_SHOWN)))
    return f"⚠️ Refused `{record}`: {words}. Nothing was done with it.\nNext step: {exc.runbook}"


def claim_report(conn: redis.Redis, exc: RecordTampered, *, inventory: Inventory, now: datetime) -> str | None:
    """The message to post when this is the first report of the record (audited now), else None.

    Nothing in the record is trusted: the token it names is kept only when it is an inventory name.
    """
    if not conn.set(REPORTED_KEY.format(exc.record_id), "1", nx=True, ex=REPORTED_SECONDS):
        return None
    token = exc.token if inventory.find(exc.token) is not None else "unknown"
    audit.append(conn, audit.AuditEvent(
        at=now, who=BOT, event="refused", token=token, request_id=exc.record_id,
        detail="integrity tag missing or wrong: not carried out",
    ))
    return refusal_text(exc)


OUTBOX_REPORTED_KEY = "cftoken:refused:outbox"
OUTBOX_REPORT_SECONDS = 10 * 60
OUTBOX_REFUSAL = (
    "⚠️ Refused a channel message cftoken did not write: an entry in the bot's Slack outbox had no valid integrity "
    "tag, so someone with write access to Redis wrote or changed it. It was not posted (nothing it says is shown "
    "here), and nothing was done. Every refused entry is in the worker's log and the audit; this warning is repeated "
    "at most every 10 minutes.\nNext step: rotate the Redis password (REDIS_URL) and find who else can write to it "
    "(README 'Threat model')."
)


def claim_outbox_report(conn: redis.Redis, key: str, *, now: datetime) -> str | None:
    """Audit a refused outbox entry (named by a digest of its key: the key itself is the forger's text); the ⚠️
    to post when none was posted in the last 10 minutes, else None. It quotes nothing of the entry."""
    digest = hashlib.sha256(key.encode(errors="replace")).hexdigest()[:12]
    audit.append(conn, audit.AuditEvent(
        at=now, who=BOT, event="refused", token="unknown", request_id=f"outbox-{digest}",
        detail="an outbox entry without a valid integrity tag: not posted",
    ))
    if not conn.set(OUTBOX_REPORTED_KEY, "1", nx=True, ex=OUTBOX_REPORT_SECONDS):
        return None
    return OUTBOX_REFUSAL
