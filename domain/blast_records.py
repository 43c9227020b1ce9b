"""Where a revoke's blast radius waits between the worker that read it and whoever draws it: one signed Redis
string per request, `cftoken:blast:<request id>` = {"radius": …, "tag": HMAC} (domain/integrity.py), kept 30 days.

The approval message, the result and the incident show only a record cftoken signed: a record written by hand
reads as "not written by cftoken" in one line, never as the token's activity.
"""

from __future__ import annotations

import json
from datetime import datetime

import redis

from domain import blast_radius, integrity
from domain.requests import Request

PREFIX = "cftoken:blast:"
KEEP_SECONDS = 30 * 24 * 3600


def save(conn: redis.Redis | redis.client.Pipeline, request_id: str, radius: blast_radius.BlastRadius) -> None:
    payload = radius.model_dump_json()
    tag = integrity.tag(integrity.process_key(), "blast", request_id, payload.encode())
    conn.set(PREFIX + request_id, json.dumps({"radius": payload, "tag": tag}), ex=KEEP_SECONDS)


def for_request(conn: redis.Redis, request: Request, *, now: datetime) -> blast_radius.BlastRadius | None:
    """A revoke's blast radius as its message shows it (None for any other request, or while none is read)."""
    return load(conn, request.id, now=now) if request.action == "revoke" else None


def load(conn: redis.Redis, request_id: str, *, now: datetime) -> blast_radius.BlastRadius | None:
    """The request's blast radius; None while none is read; a forged record reads as unavailable."""
    raw = conn.get(PREFIX + request_id)
    if raw is None:
        return None
    try:
        stored = json.loads(raw)
        payload = stored["radius"]
        if integrity.verifies_any("blast", request_id, payload.encode(), stored.get("tag")):
            return blast_radius.BlastRadius.model_validate_json(payload)
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return blast_radius.unavailable("?", "the stored audit-log summary was not written by cftoken",
                                    "The worker reads it again when the revoke runs.", days=0, now=now)
