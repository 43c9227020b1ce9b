"""Operation counters for GET /metrics, kept in Redis so every worker adds to the same numbers."""

from __future__ import annotations

import redis

OPERATIONS_KEY = "cftoken:metrics:operations"  # hash "<action>:<outcome>" → count
SLACK_TOKEN_REFUSED_KEY = "cftoken:metrics:slack_token_refused"  # set while a deliverer finds the bot token refused


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


def mark_slack_token_refused(conn: redis.Redis, refused: bool, *, ttl_seconds: int = 300) -> None:
    """A deliverer found Slack refusing the bot token (kept `ttl_seconds`, renewed at each failed check), or
    found it working again."""
    if refused:
        conn.set(SLACK_TOKEN_REFUSED_KEY, "1", ex=ttl_seconds)
    else:
        conn.delete(SLACK_TOKEN_REFUSED_KEY)


def slack_token_refused(conn: redis.Redis) -> bool:
    return bool(conn.exists(SLACK_TOKEN_REFUSED_KEY))


AUDIT_KEY = "cftoken:metrics:audit"  # hash "<counter>:<label>" → count


def count_audit(conn: redis.Redis, counter: str, label: str, by: int = 1) -> None:
    """An audit-log read (`audit_reads`, ok|failed) or outside changes found (`outside_changes`, cloudflare|vault)."""
    conn.hincrby(AUDIT_KEY, f"{counter}:{label}", by)


def audit_counts(conn: redis.Redis) -> dict[tuple[str, str], int]:
    counts = {}
    for key, value in conn.hgetall(AUDIT_KEY).items():
        text = key.decode() if isinstance(key, bytes) else key
        counter, _, label = text.partition(":")
        counts[(counter, label)] = int(value)
    return counts
