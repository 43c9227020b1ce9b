"""Operation counters for GET /metrics, kept in Redis so every worker adds to the same numbers."""

from __future__ import annotations

import redis

OPERATIONS_KEY = "cftoken:metrics:operations"  # hash "<action>:<outcome>" → count


def count_operation(conn: redis.Redis, action: str, outcome: str) -> None:
    """One roll, revoke or provision ended with `outcome` (succeeded, failed)."""
    conn.hincrby(OPERATIONS_KEY, f"{action}:{outcome}", 1)


def operation_counts(conn: redis.Redis) -> dict[tuple[str, str], int]:
    counts = {}
    for key, value in conn.hgetall(OPERATIONS_KEY).items():
        text = key.decode() if isinstance(key, bytes) else key
        action, _, outcome = text.partition(":")
        counts[(action, outcome)] = int(value)
    return counts
