"""Replayed slash commands: the same signed body (signature and timestamp) or the same trigger_id, seen twice.

Slack signs a request once; a copy re-sent inside the 5-minute signature window verifies again. Each delivery
is remembered for SEEN_SECONDS (the window plus a minute) with SET NX, so the second one is answered but not
acted on.
"""

from __future__ import annotations

import hashlib

import redis

SEEN_SECONDS = 6 * 60


def first_delivery(conn: redis.Redis, *, signature: str | None, timestamp: str | None, trigger_id: str | None) -> bool:
    """True the first time this signature+timestamp and this trigger_id arrive; False for any repeat."""
    keys = []
    if signature and timestamp:
        keys.append("cftoken:seen:signature:" + hashlib.sha256(f"{timestamp}:{signature}".encode()).hexdigest())
    if trigger_id:
        keys.append("cftoken:seen:trigger:" + hashlib.sha256(trigger_id.encode()).hexdigest())
    with conn.pipeline(transaction=False) as pipe:  # one round trip for both
        for key in keys:
            pipe.set(key, 1, nx=True, ex=SEEN_SECONDS)
        fresh = pipe.execute()
    return all(bool(answer) for answer in fresh)
