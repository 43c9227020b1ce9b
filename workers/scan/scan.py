"""One scan, on top of the scan's room: read the vault and Cloudflare's list once, check the values that are due,
assess every token (workers.scan.expiry), refresh the statuses, and claim the findings with their digest
(workers.scan.digest). Nothing in the room imports this module, so nothing circles.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain import health
from domain.cloudflare_tokens import CfToken
from domain.errors import CftokenError, TokenNotFound, VaultFolderMissing
from domain.status import last_rotations, read_bot_uses, read_statuses, record_bot_use, record_statuses
from domain.token_owner import TokenOwner
from domain.vault import Vault, known_token_id
from workers.audit import outside, vault_events
from workers.clients.cloudflare import PER_PAGE, CloudflareClient
from workers.operations.checkpoints import minting_tokens
from workers.scan import health_watch, management_watch
from workers.scan.digest import record_digest
from workers.scan.expiry import TokenFacts, assess, gather_facts, threshold_label, thresholds
from workers.services import Services
from workers.verify.verification import bot_revocation

log = logging.getLogger(__name__)


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
    outside: tuple[str, ...] = ()  # "NAME:kind" per change made outside the bot found in Cloudflare's audit log


def scan(services: Services) -> ScanReport:
    """One scan: read once, check due values, assess every token, refresh statuses, post new findings once."""
    now, conn, settings = services.now(), services.redis, services.settings
    try:
        vault = services.read_vault()
    except VaultFolderMissing as exc:  # nobody asked: the channel hears of it, once a day while it lasts
        services.report_missing_folder(exc)
        raise
    listing, cloudflare_error, pages, kinds = _list_cloudflare(services, vault)
    rotated = last_rotations(conn, services.inventory.names)
    levels = thresholds(settings.warn_days)
    facts = [gather_facts(token, vault, listing, rotated.get(token.name)) for token in services.inventory.tokens]
    assessments = [assess(f, now, levels) for f in facts]
    bot_used = read_bot_uses(conn)  # before this scan's own checks: Cloudflare's list was read before them too
    checks = _value_checks(services, vault, facts, now, pages)
    if checks:
        record_bot_use(conn, list(checks), at=now)
    healths = _healths(services, vault, facts, listing, checks, bot_used, kinds)
    record_statuses(conn, healths)
    recorded = record_digest(conn, assessments, healths, services.inventory, now, cloudflare_error=cloudflare_error)
    findings = recorded.findings
    outside_changes = outside.report(services, vault)  # never raises: an unreadable log is logged and skipped
    vault_events.baseline(services, vault)  # values never seen before, for Infisical's secrets.modified events
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
        outside=tuple(f"{change.token}:{change.kind}" for change in outside_changes),
    )


def _healths(services: Services, vault: Vault, facts: Sequence[TokenFacts], listing: Mapping[str, CfToken] | None,
             checks: Mapping[str, health_watch.ValueCheck], bot_used: Mapping[str, datetime],
             kinds: Mapping[str, str]) -> dict[str, health.Health]:
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
            named=named, overlapping=name in minting, kept=kept, listed_kind=kinds.get(f.token_id or "")),
            services.inventory)
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
        return health_watch.run_value_checks(conn, cloudflare, vault, names, now, services.inventory)


def _list_cloudflare(services: Services, vault: Vault
                     ) -> tuple[dict[str, CfToken] | None, str | None, int, dict[str, str]]:
    """Cloudflare's tokens by id, user and account-owned (None and the reason when a needed list cannot be read),
    the pages requested, and each listed id's kind (which owner's list it was in).

    Not read at all when its pages would take the bot past its request budget for these five minutes: the scan
    then sees less (problems found before are kept, expiry comes from __EXPIRES_AT) and the next one reads it.
    """
    budget, now = services.settings.cftoken_cloudflare_budget, services.now()
    used = health_watch.requests_in_window(services.redis, now)
    pages = max(1, math.ceil(len(services.inventory.tokens) / PER_PAGE))
    if used + pages > budget:
        log.warning("expiry scan skips Cloudflare's token list: %s requests in 5 minutes, budget %s", used, budget)
        return None, (f"the bot's Cloudflare request budget is spent ({used} of {budget} in the last 5 minutes); "
                      "the next scan reads the list"), 0, {}
    listing: dict[str, CfToken] = {}
    kinds: dict[str, str] = {}
    pages = 0
    clients = services.owner_clients(vault)
    try:
        for client in clients:
            try:
                tokens = client.list_tokens()
            except CftokenError as exc:
                pages += 1
                if client.owner not in services.inventory.owners:  # read only to catch a kind declared wrong
                    log.info("expiry scan skips the %s list, which no declared token needs: %s", client.owner.label,
                             exc)
                    continue
                raise
            listing.update((listed.id, listed) for listed in tokens)
            kinds.update((listed.id, client.owner.kind) for listed in tokens)
            pages += max(1, math.ceil(len(tokens) / PER_PAGE))
        pages += _confirm_unlisted({client.owner: client for client in clients}, services, vault, listing, kinds)
    except CftokenError as exc:
        log.warning("expiry scan could not read Cloudflare's token list: %s", exc)
        management_watch.note(services, exc)
        return None, str(exc), max(1, pages), {}
    finally:
        for client in clients:
            client.close()
    management_watch.note(services, None)
    return listing, None, pages, kinds


def _confirm_unlisted(clients: dict[TokenOwner, CloudflareClient], services: Services, vault: Vault,
                      listing: dict[str, CfToken], kinds: dict[str, str]) -> int:
    """Read by id, at its owner's endpoint, each inventory token the lists left out, adding what Cloudflare still
    has to `listing` (the list keeps expired tokens only while recently expired; GET by id answers an older one as
    expired, not deleted). Returns the calls made."""
    asked = 0
    for token in services.inventory.tokens:
        token_id, owner = known_token_id(token, vault), services.inventory.owner(token)
        if not token_id or token_id in listing or owner not in clients:
            continue
        asked += 1
        try:
            listing[token_id] = clients[owner].get_token(token_id)
            kinds[token_id] = owner.kind
        except TokenNotFound:
            continue
    return asked
