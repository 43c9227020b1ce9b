"""The scan's assessments: expiry warnings (thresholds, the no-expiry cadence reminder) and each token's health.

One scan (`workers.scan.scan`) reads the vault folder once and Cloudflare's token list once (all pages),
verifies the values that are due a daily check (`workers.scan.health_watch`, within the request budget), computes
every inventory token's Health (`domain.health`, keeping what fuller checks found), refreshes the status
`/cftoken list` shows, and claims each new finding together with the one digest that tells it
(`workers.scan.digest`: new problems with the button for their next step, fixes, expiry warnings),
which the outbox then posts exactly once.

Redis keys (values are markers, fingerprints and timestamps; never a token value):
    cftoken:warned:<NAME>:<expiry epoch>:<14d|7d|…|expired>   a threshold posted for one expiry instant
    cftoken:reminded:<NAME>:<last-rotation epoch>:<period>     a no-expiry token's cadence reminder posted
    cftoken:rotated:<NAME>                                      ISO-8601 time of the last roll (written by roll)
    and the health watch's keys (see workers.scan.health_watch)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.cloudflare_tokens import CfToken
from domain.inventory import Token
from domain.timestamps import parse_timestamp
from domain.vault import Vault, known_token_id
from workers.scan.health_watch import Alert, Fixed

log = logging.getLogger(__name__)

EXPIRED = 0  # the threshold after the last warning day: no time left
CLAIM_TTL = timedelta(days=400)  # de-dup keys outlive any cadence, then tidy themselves away
WARNED_PREFIX = "cftoken:warned:"
REMINDED_PREFIX = "cftoken:reminded:"


@dataclass(frozen=True)
class Reminder:
    """A no-expiry token whose rotation cadence has run out `period` times since `last_rotated`."""

    last_rotated: datetime
    due_on: datetime
    period: int


@dataclass(frozen=True)
class TokenFacts:
    """What one scan knows about one token, gathered from the vault, Cloudflare's list and Redis."""

    token: Token
    token_id: str | None
    vault_token_id: str | None
    has_value: bool
    expires_at_text: str | None
    listed: CfToken | None
    listing_read: bool
    last_rotated: datetime | None
    revoked: bool = False  # the vault holds the bot's REVOKED placeholder


@dataclass(frozen=True)
class Assessment:
    """One token's findings at one instant."""

    token: Token
    expires_on: datetime | None
    time_left: timedelta | None
    threshold: int | None
    reminder: Reminder | None
    cloudflare_status: str | None
    listing_read: bool


@dataclass(frozen=True)
class Findings:
    """What a scan claimed and will post."""

    warnings: tuple[Assessment, ...] = ()
    reminders: tuple[Assessment, ...] = ()
    alerts: tuple[Alert, ...] = ()
    fixed: tuple[Fixed, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.warnings or self.reminders or self.alerts or self.fixed)


def thresholds(warn_days: Iterable[int]) -> tuple[int, ...]:
    """The warning days, loosest first, then EXPIRED."""
    return (*sorted({day for day in warn_days if day > 0}, reverse=True), EXPIRED)


def threshold_for(time_left: timedelta, levels: Sequence[int]) -> int | None:
    """The tightest threshold reached with `time_left` to go (EXPIRED once none is left), or None."""
    if time_left <= timedelta(0):
        return EXPIRED
    reached = [day for day in levels if day > 0 and time_left <= timedelta(days=day)]
    return min(reached) if reached else None


def threshold_label(threshold: int) -> str:
    return "expired" if threshold == EXPIRED else f"{threshold}d"


def warning_key(name: str, expires_on: datetime, threshold: int) -> str:
    """De-dup key: one post per token, per expiry instant, per threshold (a roll moves the instant)."""
    return f"{WARNED_PREFIX}{name}:{int(expires_on.timestamp())}:{threshold_label(threshold)}"


def cadence_reminder(last_rotated: datetime | None, cadence_days: int, now: datetime) -> Reminder | None:
    """The reminder due for a token with no expiry: once each whole cadence since its last rotation."""
    if last_rotated is None:
        return None
    cadence = timedelta(days=cadence_days)
    period = (now - last_rotated) // cadence
    return Reminder(last_rotated, last_rotated + cadence, period) if period >= 1 else None


def reminder_key(name: str, reminder: Reminder) -> str:
    return f"{REMINDED_PREFIX}{name}:{int(reminder.last_rotated.timestamp())}:{reminder.period}"


def gather_facts(
    token: Token, vault: Vault, listing: Mapping[str, CfToken] | None, rotated: datetime | None
) -> TokenFacts:
    """One token's facts from the scan's three readings (listing None: Cloudflare could not be read)."""
    vault_token_id = vault.text(token.companion("__TOKEN_ID")) or None
    token_id = known_token_id(token, vault)
    listed = listing.get(token_id) if listing is not None and token_id else None
    last_rotated = rotated or (listed.modified_on or listed.issued_on if listed else None)
    return TokenFacts(
        token=token,
        token_id=token_id,
        vault_token_id=vault_token_id,
        has_value=token.name in vault.values,
        revoked=vault.revoked(token.name),
        expires_at_text=vault.text(token.companion("__EXPIRES_AT")) or None,
        listed=listed,
        listing_read=listing is not None,
        last_rotated=last_rotated,
    )


def assess(facts: TokenFacts, now: datetime, levels: Sequence[int]) -> Assessment:
    """Time to expiry (Cloudflare's, else __EXPIRES_AT), the threshold reached, the cadence reminder, drift."""
    listed_expiry = facts.listed.expires_on if facts.listed else None
    expires_on = listed_expiry or parse_timestamp(facts.expires_at_text)
    time_left = expires_on - now if expires_on else None
    due = expires_on is None and not facts.revoked
    reminder = cadence_reminder(facts.last_rotated, facts.token.cadence_days, now) if due else None
    return Assessment(
        token=facts.token,
        expires_on=expires_on,
        time_left=time_left,
        threshold=threshold_for(time_left, levels) if time_left is not None and not facts.revoked else None,
        reminder=reminder,
        cloudflare_status=facts.listed.status if facts.listed else None,
        listing_read=facts.listing_read,
    )


def stamp(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
