"""The scan's health watch: each token's Health from the scan's readings, daily value checks within a budget, and
the alert ledger that posts each problem once and its fix once.

Value checks: whether the vault's value still works needs one `GET /user/tokens/verify` per token. Each token is
checked at most once per CFTOKEN_VALUE_CHECK_HOURS, the oldest first, spread evenly over the scans of that period,
and never beyond the request budget: CFTOKEN_CLOUDFLARE_BUDGET requests per five minutes (default 120, a tenth of
Cloudflare's 1,200 per user), counted in Redis for every Cloudflare request the bot makes (scan, verify).

Redis keys (timestamps, counters and fingerprints; never a token value):
    cftoken:value-checked           hash NAME → epoch of the last value check
    cftoken:cf-requests:<window>    requests the bot sent Cloudflare in one five-minute window
    cftoken:alerted:<NAME>          hash problem kind → fingerprint of the problem last posted
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from pydantic import SecretStr

from domain import kept_tokens
from domain.cloudflare_tokens import CfToken, Verification
from domain.errors import CftokenError, RateLimited, RecordTampered, TokenInvalid
from domain.health import Health, HealthFacts, Problem, RevokedByBot
from domain.inventory import Inventory, Token
from domain.token_owner import USER, prefix_kind
from domain.vault import Vault
from workers.clients.cloudflare import CloudflareClient

CLOUDFLARE_LIMIT = 1200  # requests per five minutes per user (Cloudflare's documented global limit)
WINDOW = timedelta(minutes=5)
VALUE_CHECKED_KEY = "cftoken:value-checked"
REQUESTS_PREFIX = "cftoken:cf-requests:"
ALERTED_PREFIX = "cftoken:alerted:"
NOT_ALERTED = frozenset({"expiring", "revoked"})  # expiry thresholds and the revoke result already say these


@dataclass(frozen=True)
class ValueCheck:
    accepted: bool
    token_id: str | None
    kind: str | None = None  # the kind the value proved to be: its prefix, or whose verify endpoint took it


@dataclass(frozen=True)
class Alert:
    """A problem the channel has not been told about yet."""

    token: Token
    problem: Problem
    health: Health


@dataclass(frozen=True)
class LedgerWrite:
    """One change to a token's alert ledger: a problem's fingerprint posted, or (None) a kind no longer found."""

    name: str
    kind: str
    fingerprint: str | None


@dataclass(frozen=True)
class Fixed:
    """A problem the channel was told about that a check able to see it no longer finds."""

    token: Token
    kind: str
    health: Health


def value_check_quota(tokens: int, interval_minutes: int, period_hours: int) -> int:
    """Checks per scan so that every token's value is verified once per period, spread evenly over its scans."""
    if period_hours <= 0 or tokens == 0:
        return 0
    scans = max(1, (period_hours * 60) // interval_minutes)
    return math.ceil(tokens / scans)


def choose_value_checks(candidates: Sequence[str], last_checked: Mapping[str, datetime], now: datetime, *,
                        period: timedelta, quota: int, budget_left: int) -> list[str]:
    """The tokens to verify this scan: due ones (unchecked for a period), oldest first, within quota and budget."""
    never = datetime.min.replace(tzinfo=UTC)
    due = [name for name in candidates if now - last_checked.get(name, never) >= period]
    due.sort(key=lambda name: last_checked.get(name, never))
    return due[: max(0, min(quota, budget_left))]


def window_key(now: datetime) -> str:
    return f"{REQUESTS_PREFIX}{int(now.timestamp() // WINDOW.total_seconds())}"


def count_requests(conn: redis.Redis, now: datetime, requests: int) -> None:
    """Add `requests` Cloudflare requests to the current five-minute window's count."""
    if requests <= 0:
        return
    key = window_key(now)
    pipe = conn.pipeline(transaction=False)
    pipe.incrby(key, requests)
    pipe.expire(key, int(WINDOW.total_seconds() * 3))
    pipe.execute()


def requests_in_window(conn: redis.Redis, now: datetime) -> int:
    """Requests counted in this window and the previous one: an upper bound for any five-minute span ending now."""
    previous = now - WINDOW
    values = conn.mget([window_key(now), window_key(previous)])
    return sum(int(v) for v in values if v is not None)


def last_value_checks(conn: redis.Redis) -> dict[str, datetime]:
    stored = conn.hgetall(VALUE_CHECKED_KEY)
    return {_text(name): datetime.fromtimestamp(float(at), tz=UTC) for name, at in stored.items()}


def run_value_checks(conn: redis.Redis, cloudflare: CloudflareClient, vault: Vault, names: Sequence[str],
                     now: datetime, inventory: Inventory) -> dict[str, ValueCheck]:
    """Verify each token's vault value with Cloudflare, at the endpoint its kind needs (domain.token_owner); stop
    at a rate limit or outage (the rest wait)."""
    done: dict[str, ValueCheck] = {}
    for name in names:
        value: SecretStr = vault.values[name]
        token = inventory.find(name)
        declared = inventory.owner(token) if token is not None else USER
        try:
            answer, owner = cloudflare.verify_value(value, declared, inventory.account_id)
            done[name] = ValueCheck(answer.status == "active", answer.id if isinstance(answer, Verification) else None,
                                    prefix_kind(value.get_secret_value()) or owner.kind)
        except TokenInvalid:
            done[name] = ValueCheck(False, None, prefix_kind(value.get_secret_value()))
        except (RateLimited, CftokenError):
            break
    if done:
        conn.hset(VALUE_CHECKED_KEY, mapping={name: str(now.timestamp()) for name in done})
    count_requests(conn, now, len(done))
    return done


def tokens_by_name(listing: Mapping[str, CfToken] | None) -> dict[str, tuple[CfToken, ...]] | None:
    """Cloudflare's list (by id) grouped by token name, for the second-token-with-this-name check."""
    if listing is None:
        return None
    grouped: dict[str, list[CfToken]] = {}
    for listed in listing.values():
        grouped.setdefault(listed.name, []).append(listed)
    return {name: tuple(tokens) for name, tokens in grouped.items()}


def kept_by_keep_old(conn: redis.Redis, name: str) -> tuple[str, ...]:
    """Old tokens of `name` an approver kept live with Keep old; none from a record cftoken did not sign."""
    try:
        return tuple(kept_tokens.kept_ids(conn, name))
    except RecordTampered:
        return ()


def scan_facts(token: Token, vault: Vault, *, now: datetime, listing_read: bool, listed, token_id: str | None,
               revoked: RevokedByBot | None, check: ValueCheck | None, bot_used_at: datetime | None,
               named: tuple[CfToken, ...] | None = None, overlapping: bool = False,
               kept: tuple[str, ...] = (), listed_kind: str | None = None) -> HealthFacts:
    """The scan's readings of one token in the health model's terms."""
    value = vault.values.get(token.name)
    return HealthFacts(
        token=token, now=now, source="scan", seen_by="scan", vault_path=vault.path,
        vault_environment=vault.environment, vault_read=True,
        value_present=value is not None and bool(value.get_secret_value().strip()), revoked=revoked,
        expires_at_text=vault.text(token.companion("__EXPIRES_AT")) or None,
        token_id_text=vault.text(token.companion("__TOKEN_ID")) or None,
        scopes_text=vault.text(token.companion("__SCOPES")) or None,
        record_read=listing_read and token_id is not None, record=listed, token_id=token_id,
        value_checked=check is not None, value_accepted=bool(check and check.accepted),
        value_token_id=check.token_id if check else None, bot_used_at=bot_used_at, named=named,
        overlapping=overlapping, kept=kept, value_kind=listed_kind or (check.kind if check else None),
    )


def fingerprint(problem: Problem) -> str:
    """The same problem is posted once; a changed one (e.g. another extra zone) is news again."""
    return hashlib.sha256(f"{problem.kind}:{problem.identity or problem.detail}".encode()).hexdigest()[:16]


def ledger_key(name: str) -> str:
    return ALERTED_PREFIX + name


def read_ledgers(conn: redis.Redis, tokens: Sequence[Token]) -> list[dict[str, str]]:
    """Each token's ledger (problem kind → fingerprint of the problem last posted), in one round trip."""
    pipe = conn.pipeline(transaction=False)
    for token in tokens:
        pipe.hgetall(ledger_key(token.name))
    return [{_text(k): _text(v) for k, v in ledger.items()} for ledger in pipe.execute()]


def alert_changes(tokens: Sequence[Token], ledgers: Sequence[Mapping[str, str]], healths: Mapping[str, Health]
                  ) -> tuple[list[Alert], list[Fixed], list[LedgerWrite]]:
    """The new problems and the fixes against the ledgers, and the ledger writes that record them (pure)."""
    alerts: list[Alert] = []
    fixed: list[Fixed] = []
    writes: list[LedgerWrite] = []
    for token, posted in zip(tokens, ledgers, strict=True):
        health = healths[token.name]
        current = {p.kind: p for p in health.problems if p.kind not in NOT_ALERTED}
        for kind, problem in current.items():
            if posted.get(kind) != fingerprint(problem):
                alerts.append(Alert(token, problem, health))
                writes.append(LedgerWrite(token.name, kind, fingerprint(problem)))
        for kind in posted:
            if kind not in current:
                writes.append(LedgerWrite(token.name, kind, None))
                if health.state != "revoked":  # a revoke ends a token's problems; its result already said so
                    fixed.append(Fixed(token, kind, health))
    return alerts, fixed, writes


def write_ledgers(pipe: redis.client.Pipeline, writes: Sequence[LedgerWrite]) -> None:
    """Queue the ledger writes on the caller's transaction (the digest that tells them is in the same one)."""
    for write in writes:
        if write.fingerprint is None:
            pipe.hdel(ledger_key(write.name), write.kind)
        else:
            pipe.hset(ledger_key(write.name), write.kind, write.fingerprint)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
