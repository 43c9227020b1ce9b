"""Telling people about a record Redis alone wrote: one audit event and one channel message per record.

Whoever refuses it (a worker, reconcile, or the web on a click) logs an error every time and calls
`claim_report`; only the first caller gets the text to post, so the channel hears of each forgery once.
"""

from __future__ import annotations

from datetime import datetime

import redis

from domain import audit
from domain.errors import RecordTampered
from domain.inventory import Inventory
from domain.mrkdwn import escape

REPORTED_KEY = "cftoken:refused:{}"
REPORTED_SECONDS = 7 * 24 * 3600
BOT = "cftoken"
RECORD_ID_SHOWN = 80  # characters of a refused record's id quoted in the channel


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
