"""The audit trail: every request transition (and every verify) appended to Redis streams that outlive requests.

Two capped streams hold the same events: `cftoken:audit` (everything) and `cftoken:audit:<NAME>` (one token),
so `/cftoken history NAME` is a single XREVRANGE.
"""

from __future__ import annotations

from datetime import datetime

import redis
from pydantic import BaseModel, ConfigDict

GLOBAL_STREAM = "cftoken:audit"
MAXLEN = 10_000
HISTORY_LENGTH = 20


class AuditEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    who: str  # a Slack user id, or "cftoken" for the bot itself
    event: str  # requested, approved, denied, cancelled, expired, queued, ran, succeeded, failed, verify
    token: str
    action: str = ""
    request_id: str = ""
    detail: str = ""


def token_stream(name: str) -> str:
    return f"{GLOBAL_STREAM}:{name}"


def append(conn: redis.Redis | redis.client.Pipeline, event: AuditEvent) -> None:
    """Add `event` to both streams; works inside a MULTI pipeline so it commits with the transition."""
    fields = {key: value.isoformat() if isinstance(value, datetime) else value for key, value in event}
    for stream in (GLOBAL_STREAM, token_stream(event.token)):
        conn.xadd(stream, fields, maxlen=MAXLEN, approximate=True)


def recent(conn: redis.Redis, token_name: str, count: int = HISTORY_LENGTH) -> list[AuditEvent]:
    """The newest `count` events for one token, newest first."""
    entries = conn.xrevrange(token_stream(token_name), count=count)
    return [_event(fields) for _, fields in entries]


def _event(fields: dict[bytes, bytes]) -> AuditEvent:
    return AuditEvent.model_validate({_text(key): _text(value) for key, value in fields.items()})


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
