"""Timestamps as Cloudflare and the vault companions write them (UTC, to the second, with Z), read leniently."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_stamp(moment: datetime) -> str:
    """2026-07-05T12:00:00Z: how Cloudflare writes expires_on, and how __EXPIRES_AT is written."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def slack_date(moment: datetime) -> str:
    """A moment each reader sees in their own time zone; clients that cannot render it show the UTC fallback."""
    moment = moment.astimezone(UTC)
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} {{time}}|{moment:%Y-%m-%d %H:%M} UTC>"


def parse_timestamp(text: str | None) -> datetime | None:
    """An ISO-8601 timestamp (Z or an offset; naive read as UTC), or None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
