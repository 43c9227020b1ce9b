"""Expiry warnings: pure decisions (thresholds, drift, the no-expiry cadence reminder) and the thin `scan` edge.

One scan reads the vault folder once and Cloudflare's token list once (all pages), assesses every inventory
token, refreshes the status `/cftoken list` shows, claims each new finding in Redis with an atomic SET NX (so two
scans at once, or a scan repeated, post it once) and posts what it claimed as one digest.

Redis keys (values are markers, fingerprints and timestamps; never a token value):
    cftoken:warned:<NAME>:<expiry epoch>:<14d|7d|…|expired>   a threshold posted for one expiry instant
    cftoken:reminded:<NAME>:<last-rotation epoch>:<period>     a no-expiry token's cadence reminder posted
    cftoken:drift:<NAME>                                        fingerprint of the drift last posted
    cftoken:rotated:<NAME>                                      ISO-8601 time of the last roll (written by roll)
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import redis

from domain.cloudflare_tokens import CfToken
from domain.errors import CftokenError
from domain.inventory import Token
from domain.status import TokenStatus, last_rotations, record_statuses
from domain.timestamps import parse_timestamp
from domain.vault import Vault
from workers.operations import management_client, read_vault
from workers.services import Services

log = logging.getLogger(__name__)

EXPIRED = 0  # the threshold after the last warning day: no time left
EXPIRY_TOLERANCE = timedelta(minutes=1)  # __EXPIRES_AT within this of Cloudflare's expires_on is not drift
CLAIM_TTL = timedelta(days=400)  # de-dup keys outlive any cadence, then tidy themselves away
WARNED_PREFIX = "cftoken:warned:"
REMINDED_PREFIX = "cftoken:reminded:"
DRIFT_PREFIX = "cftoken:drift:"

DriftKind = Literal["expires_at", "token_id", "missing_at_cloudflare", "vault_value_missing"]
DRIFT_LABELS: dict[str, str] = {
    "expires_at": "__EXPIRES_AT disagrees with Cloudflare",
    "token_id": "__TOKEN_ID disagrees with the inventory",
    "missing_at_cloudflare": "missing at Cloudflare",
    "vault_value_missing": "no value in the vault",
}


@dataclass(frozen=True)
class Drift:
    kind: DriftKind
    detail: str


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
    drift: tuple[Drift, ...]
    cloudflare_status: str | None
    listing_read: bool


@dataclass(frozen=True)
class Findings:
    """What a scan claimed and will post."""

    warnings: tuple[Assessment, ...] = ()
    reminders: tuple[Assessment, ...] = ()
    drift: tuple[Assessment, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.warnings or self.reminders or self.drift)


@dataclass(frozen=True)
class ScanReport:
    checked: int
    warned: tuple[str, ...]  # "NAME:7d" per threshold posted
    reminded: tuple[str, ...]
    drifted: tuple[str, ...]
    messages: tuple[str, ...]  # ts of each message posted
    cloudflare_error: str | None = None


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


def drift_key(name: str) -> str:
    return DRIFT_PREFIX + name


def drift_fingerprint(drift: Sequence[Drift]) -> str:
    """A short digest of a token's drift, so the same drift is posted once and a changed one again."""
    text = "\n".join(sorted(f"{item.kind}:{item.detail}" for item in drift))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def gather_facts(
    token: Token, vault: Vault, listing: Mapping[str, CfToken] | None, rotated: datetime | None
) -> TokenFacts:
    """One token's facts from the scan's three readings (listing None: Cloudflare could not be read)."""
    vault_token_id = vault.text(token.companion("__TOKEN_ID")) or None
    token_id = token.token_id or vault_token_id
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


def detect_drift(facts: TokenFacts) -> tuple[Drift, ...]:
    """Where the vault, the inventory and Cloudflare disagree about one token."""
    name, found = facts.token.name, []
    if facts.revoked:  # the bot revoked it on purpose: its absence at Cloudflare is not news
        return ()
    if not facts.has_value:
        found.append(Drift("vault_value_missing", f"{name} has no value in the vault"))
    if facts.token.token_id and facts.vault_token_id and facts.vault_token_id != facts.token.token_id:
        found.append(
            Drift(
                "token_id", f"{name}__TOKEN_ID is {facts.vault_token_id} but the inventory says {facts.token.token_id}"
            )
        )
    if facts.listing_read and facts.listed is None:
        found.append(
            Drift(
                "missing_at_cloudflare",
                f"Cloudflare has no token with id {facts.token_id}"
                if facts.token_id
                else f"{name} has no token id in the inventory or __TOKEN_ID",
            )
        )
    vault_expiry = parse_timestamp(facts.expires_at_text)
    if facts.expires_at_text and vault_expiry is None:
        found.append(Drift("expires_at", f"{name}__EXPIRES_AT is not an ISO-8601 time"))
    elif facts.listed is not None:
        said = _expires_at_disagreement(vault_expiry, facts.listed.expires_on)
        if said:
            found.append(Drift("expires_at", f"{name}__EXPIRES_AT {said}"))
    return tuple(found)


def _expires_at_disagreement(vault_expiry: datetime | None, cloudflare_expiry: datetime | None) -> str | None:
    if vault_expiry is None and cloudflare_expiry is not None:
        return f"is missing; Cloudflare says {stamp(cloudflare_expiry)}"
    if vault_expiry is not None and cloudflare_expiry is None:
        return f"says {stamp(vault_expiry)}; Cloudflare has no expiry"
    if vault_expiry and cloudflare_expiry and abs(vault_expiry - cloudflare_expiry) > EXPIRY_TOLERANCE:
        return f"says {stamp(vault_expiry)}; Cloudflare says {stamp(cloudflare_expiry)}"
    return None


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
        drift=detect_drift(facts),
        cloudflare_status=facts.listed.status if facts.listed else None,
        listing_read=facts.listing_read,
    )


def status_of(assessment: Assessment, now: datetime) -> TokenStatus:
    """The snapshot `/cftoken list` shows for one assessed token."""
    notes = []
    if assessment.threshold is not None:
        notes.append("expired" if assessment.threshold == EXPIRED else f"{assessment.threshold}-day warning")
    if assessment.reminder:
        notes.append("rotation due")
    if assessment.cloudflare_status not in (None, "active"):
        notes.append(f"{assessment.cloudflare_status} at Cloudflare")
    notes += [DRIFT_LABELS[item.kind] for item in assessment.drift]
    if not assessment.listing_read:
        notes.append("Cloudflare's token list was unreadable")
    failing = (
        assessment.threshold == EXPIRED
        or assessment.cloudflare_status not in (None, "active")
        or any(item.kind in ("missing_at_cloudflare", "vault_value_missing") for item in assessment.drift)
    )
    if failing:
        state = "failing"
    elif assessment.threshold is not None or assessment.reminder or assessment.drift:
        state = "warning"
    else:
        state = "healthy" if assessment.listing_read else "unknown"
    return TokenStatus(
        checked_at=now, source="scan", state=state, expires_on=assessment.expires_on, summary="; ".join(notes)
    )


def stamp(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def scan(services: Services) -> ScanReport:
    """One expiry scan: read once, assess every token, refresh statuses, post new findings once as a digest."""
    from workers.expiry_messages import render_digest  # imported here: it imports this module's types

    now = services.now()
    vault = read_vault(services)
    listing, cloudflare_error = _list_cloudflare(services, vault)
    rotated = last_rotations(services.redis, services.inventory.names)
    levels = thresholds(services.settings.warn_days)
    assessments = [
        assess(gather_facts(token, vault, listing, rotated.get(token.name)), now, levels)
        for token in services.inventory.tokens
    ]
    record_statuses(services.redis, {a.token.name: status_of(a, now) for a in assessments})
    findings, claimed_keys = _claim(services.redis, assessments)
    posted: list[str] = []
    if findings:
        try:
            for text, blocks in render_digest(findings, services.inventory, now, cloudflare_error=cloudflare_error):
                posted.append(services.slack.post(text, blocks))
        except CftokenError:
            if not posted:  # nothing reached the channel: let the next scan post it
                services.redis.delete(*claimed_keys)
            raise
    return ScanReport(
        checked=len(assessments),
        warned=tuple(
            f"{a.token.name}:{threshold_label(a.threshold)}" for a in findings.warnings if a.threshold is not None
        ),
        reminded=tuple(a.token.name for a in findings.reminders),
        drifted=tuple(a.token.name for a in findings.drift),
        messages=tuple(posted),
        cloudflare_error=cloudflare_error,
    )


def _list_cloudflare(services: Services, vault: Vault) -> tuple[dict[str, CfToken] | None, str | None]:
    """Cloudflare's tokens by id, or None and the reason when the list cannot be read (vault expiry still counts)."""
    try:
        with management_client(services, vault) as cloudflare:
            return {listed.id: listed for listed in cloudflare.list_tokens()}, None
    except CftokenError as exc:
        log.warning("expiry scan could not read Cloudflare's token list: %s", exc)
        return None, str(exc)


def _claim(conn: redis.Redis, assessments: Sequence[Assessment]) -> tuple[Findings, list[str]]:
    """Claim each finding with one atomic SET (NX; GET for drift) in one pipeline; return what this scan won."""
    ttl = int(CLAIM_TTL.total_seconds())
    asked: list[tuple[str, Assessment, str, str | None]] = []  # (kind, assessment, key, drift fingerprint)
    for a in assessments:
        if a.threshold is not None and a.expires_on is not None:
            asked.append(("warning", a, warning_key(a.token.name, a.expires_on, a.threshold), None))
        if a.reminder is not None:
            asked.append(("reminder", a, reminder_key(a.token.name, a.reminder), None))
        if a.drift and a.listing_read:  # half the facts are missing without Cloudflare: judge drift later
            asked.append(("drift", a, drift_key(a.token.name), drift_fingerprint(a.drift)))
    pipe = conn.pipeline(transaction=False)
    for _, _, key, fingerprint in asked:
        if fingerprint is not None:
            pipe.set(key, fingerprint, ex=ttl, get=True)  # answers the fingerprint posted before, if any
        else:
            pipe.set(key, "1", nx=True, ex=ttl)
    for a in assessments:
        if not a.drift and a.listing_read:
            pipe.delete(drift_key(a.token.name))  # drift gone: a recurrence is news again
    answers = pipe.execute()[: len(asked)]
    won: dict[str, list[Assessment]] = {"warning": [], "reminder": [], "drift": []}
    keys: list[str] = []
    for (kind, assessment, key, fingerprint), answer in zip(asked, answers, strict=True):
        new = (answer is None or _text(answer) != fingerprint) if fingerprint is not None else bool(answer)
        if new:
            won[kind].append(assessment)
            keys.append(key)
    return Findings(tuple(won["warning"]), tuple(won["reminder"]), tuple(won["drift"])), keys


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
