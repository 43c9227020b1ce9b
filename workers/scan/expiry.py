"""The scheduled scan: expiry warnings (thresholds, the no-expiry cadence reminder) and each token's health.

One scan reads the vault folder once and Cloudflare's token list once (all pages), verifies the values that are
due a daily check (`workers.scan.health_watch`, within the request budget), computes every inventory token's Health
(`domain.health`, keeping what fuller checks found), refreshes the status `/cftoken list` shows, and claims each new
finding together with the one digest that tells it (`workers.scan.digest`: new problems with the button for their next
step, fixes, expiry warnings), which the outbox then posts exactly once.

Redis keys (values are markers, fingerprints and timestamps; never a token value):
    cftoken:warned:<NAME>:<expiry epoch>:<14d|7d|…|expired>   a threshold posted for one expiry instant
    cftoken:reminded:<NAME>:<last-rotation epoch>:<period>     a no-expiry token's cadence reminder posted
    cftoken:rotated:<NAME>                                      ISO-8601 time of the last roll (written by roll)
    and the health watch's keys (see workers.scan.health_watch)
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain import health
from domain.cloudflare_tokens import CfToken
from domain.errors import CftokenError
from domain.inventory import Token
from domain.status import last_rotations, read_bot_uses, read_statuses, record_bot_use, record_statuses
from domain.timestamps import parse_timestamp
from domain.vault import Vault, known_token_id
from workers.clients.cloudflare import PER_PAGE
from workers.operations.checkpoints import minting_tokens
from workers.scan import health_watch
from workers.scan.health_watch import Alert, Fixed
from workers.services import Services
from workers.verify.verification import bot_revocation

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


@dataclass(frozen=True)
class ScanReport:
    checked: int
    warned: tuple[str, ...]  # "NAME:7d" per threshold posted
    reminded: tuple[str, ...]
    problems: tuple[str, ...]  # "NAME:kind" per new problem posted
    fixed: tuple[str, ...]  # "NAME:kind" per fix posted
    messages: tuple[str, ...]  # outbox key of each digest message queued for the channel
    cloudflare_error: str | None = None
    value_checks: tuple[str, ...] = ()  # tokens whose vault value this scan verified


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


def scan(services: Services) -> ScanReport:
    """One scan: read once, check due values, assess every token, refresh statuses, post new findings once."""
    from workers.scan.digest import record_digest  # imported here: it imports this module's types

    now, conn, settings = services.now(), services.redis, services.settings
    vault = services.read_vault()
    listing, cloudflare_error, pages = _list_cloudflare(services, vault)
    rotated = last_rotations(conn, services.inventory.names)
    levels = thresholds(settings.warn_days)
    facts = [gather_facts(token, vault, listing, rotated.get(token.name)) for token in services.inventory.tokens]
    assessments = [assess(f, now, levels) for f in facts]
    bot_used = read_bot_uses(conn)  # before this scan's own checks: Cloudflare's list was read before them too
    checks = _value_checks(services, vault, facts, now, pages)
    if checks:
        record_bot_use(conn, list(checks), at=now)
    healths = _healths(services, vault, facts, listing, checks, bot_used)
    record_statuses(conn, healths)
    recorded = record_digest(conn, assessments, healths, services.inventory, now, cloudflare_error=cloudflare_error)
    findings = recorded.findings
    return ScanReport(
        checked=len(assessments),
        warned=tuple(
            f"{a.token.name}:{threshold_label(a.threshold)}" for a in findings.warnings if a.threshold is not None
        ),
        reminded=tuple(a.token.name for a in findings.reminders),
        problems=tuple(f"{a.token.name}:{a.problem.kind}" for a in findings.alerts),
        fixed=tuple(f"{f.token.name}:{f.kind}" for f in findings.fixed),
        messages=recorded.keys,
        cloudflare_error=cloudflare_error,
        value_checks=tuple(checks),
    )


def _healths(services: Services, vault: Vault, facts: Sequence[TokenFacts], listing: Mapping[str, CfToken] | None,
             checks: Mapping[str, health_watch.ValueCheck], bot_used: Mapping[str, datetime]
             ) -> dict[str, health.Health]:
    """Each token's Health from this scan's readings, keeping what fuller checks found before."""
    now, conn = services.now(), services.redis
    previous = read_statuses(conn)
    by_name = health_watch.tokens_by_name(listing)
    minting = minting_tokens(conn) if by_name is not None else frozenset()
    healths = {}
    for f in facts:
        name = f.token.name
        revoked = bot_revocation(services, vault, f.token) if f.revoked else None
        named = None if by_name is None else by_name.get(name, ())
        kept = health_watch.kept_by_keep_old(conn, name) if named and len(named) > 1 else ()
        current = health.assess(health_watch.scan_facts(
            f.token, vault, now=now, listing_read=f.listing_read, listed=f.listed, token_id=f.token_id,
            revoked=revoked, check=checks.get(name), bot_used_at=bot_used.get(name),
            named=named, overlapping=name in minting, kept=kept), services.inventory)
        healths[name] = health.carry(previous.get(name), current)
    return healths


def _value_checks(services: Services, vault: Vault, facts: Sequence[TokenFacts], now: datetime, pages: int
                  ) -> dict[str, health_watch.ValueCheck]:
    """Verify the values due their daily check, within the quota for this scan and the request budget."""
    settings, conn = services.settings, services.redis
    health_watch.count_requests(conn, now, pages)
    candidates = [f.token.name for f in facts if f.has_value and not f.revoked and f.listed is not None
                  and f.listed.status == "active"]
    quota = health_watch.value_check_quota(len(candidates), settings.cftoken_scan_interval_minutes,
                                           settings.cftoken_value_check_hours)
    budget_left = settings.cftoken_cloudflare_budget - health_watch.requests_in_window(conn, now)
    names = health_watch.choose_value_checks(
        candidates, health_watch.last_value_checks(conn), now,
        period=timedelta(hours=settings.cftoken_value_check_hours), quota=quota, budget_left=budget_left)
    if not names:
        return {}
    with services.cloudflare(None) as cloudflare:
        return health_watch.run_value_checks(conn, cloudflare, vault, names, now)


def _list_cloudflare(services: Services, vault: Vault) -> tuple[dict[str, CfToken] | None, str | None, int]:
    """Cloudflare's tokens by id (None and the reason when the list cannot be read), and the pages requested.

    Not read at all when its pages would take the bot past its request budget for these five minutes: the scan
    then sees less (problems found before are kept, expiry comes from __EXPIRES_AT) and the next one reads it.
    """
    budget, now = services.settings.cftoken_cloudflare_budget, services.now()
    used = health_watch.requests_in_window(services.redis, now)
    pages = max(1, math.ceil(len(services.inventory.tokens) / PER_PAGE))
    if used + pages > budget:
        log.warning("expiry scan skips Cloudflare's token list: %s requests in 5 minutes, budget %s", used, budget)
        return None, (f"the bot's Cloudflare request budget is spent ({used} of {budget} in the last 5 minutes); "
                      "the next scan reads the list"), 0
    try:
        with services.management_client(vault) as cloudflare:
            tokens = cloudflare.list_tokens()
            return {listed.id: listed for listed in tokens}, None, max(1, math.ceil(len(tokens) / PER_PAGE))
    except CftokenError as exc:
        log.warning("expiry scan could not read Cloudflare's token list: %s", exc)
        return None, str(exc), 1
