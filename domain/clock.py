"""The bot's notion of now: UTC, shifted only in the sandbox, whose fast-forward moves every process's time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import redis

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def make_clock(conn: redis.Redis, offset_key: str | None) -> Clock:
    """Real UTC; with `offset_key` (CFTOKEN_CLOCK_OFFSET_KEY, sandbox only), plus the seconds stored there."""
    if offset_key is None:
        return utc_now

    def shifted() -> datetime:
        raw = conn.get(offset_key)
        return utc_now() + timedelta(seconds=float(raw or 0))

    return shifted
