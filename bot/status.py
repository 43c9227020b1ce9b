"""The last known state of each token, written by verify and scan jobs and read by `/cftoken list`.

`list` must answer inside Slack's 3 seconds without calling Cloudflare or Infisical, so it reads only these
snapshots (`cftoken:status:<NAME>`), each saying when and by which job it was taken.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import redis
from pydantic import BaseModel, ConfigDict

STATUS_PREFIX = "cftoken:status:"
ROTATED_PREFIX = "cftoken:rotated:"


class TokenStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    checked_at: datetime
    source: Literal["verify", "scan", "roll", "revoke"]
    state: Literal["healthy", "warning", "failing", "unknown"]
    expires_on: datetime | None = None
    summary: str = ""


def status_key(name: str) -> str:
    return STATUS_PREFIX + name


def record_status(conn: redis.Redis, name: str, snapshot: TokenStatus) -> None:
    """Store `snapshot` as the token's last known state, unless a newer one is already stored."""
    current = read_status(conn, name)
    if current is not None and current.checked_at > snapshot.checked_at:
        return
    conn.set(status_key(name), snapshot.model_dump_json())


def read_status(conn: redis.Redis, name: str) -> TokenStatus | None:
    raw = conn.get(status_key(name))
    return TokenStatus.model_validate_json(raw) if raw is not None else None


def read_statuses(conn: redis.Redis) -> dict[str, TokenStatus]:
    """Every stored snapshot by token name."""
    keys = sorted(conn.scan_iter(match=STATUS_PREFIX + "*", count=100))
    values = conn.mget(keys) if keys else []
    return {
        _text(key).removeprefix(STATUS_PREFIX): TokenStatus.model_validate_json(raw)
        for key, raw in zip(keys, values, strict=True)
        if raw is not None
    }


def record_rotation(conn: redis.Redis, name: str, *, at: datetime) -> None:
    """Remember when the bot last rolled `name` (for `list` and the no-expiry cadence reminder)."""
    conn.set(ROTATED_PREFIX + name, at.isoformat())


def last_rotation(conn: redis.Redis, name: str) -> datetime | None:
    raw = conn.get(ROTATED_PREFIX + name)
    return datetime.fromisoformat(_text(raw)) if raw is not None else None


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
