"""Minting a token (user or account-owned, as the client's owner says) by name without orphans: count the
quota, find what an earlier attempt left behind, delete the tokens whose value was lost, create exactly once per
attempt.

Shared by provisioning (and, later, overlap rotation). The caller records the intent and its instant in its
checkpoint *before* `create`; after a crash it calls `delete_lost` with that instant, so a token Cloudflare
created but whose value died with the worker never outlives the operation that made it.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr

from domain.cloudflare_tokens import CfToken, Policy
from domain.errors import NameTaken, QuotaExhausted, TokenNotFound
from workers.clients.cloudflare import CloudflareClient

log = logging.getLogger(__name__)
CLOCK_SKEW = timedelta(minutes=5)  # how far Cloudflare's issued_on may lag our clock's instant of the intent


def tokens_named(cloudflare: CloudflareClient, name: str) -> list[CfToken]:
    """Every token of the client's owner at Cloudflare called exactly `name` (expired ones included)."""
    return cloudflare.list_tokens(name=name)


def check_quota(cloudflare: CloudflareClient) -> int:
    """How many tokens the client's owner has; QuotaExhausted when one more would pass Cloudflare's quota (50
    per user, 500 per account: fundamentals/api/reference/limits)."""
    owner = cloudflare.owner
    count = len(cloudflare.list_tokens())
    if count >= owner.quota:
        whose, what = ("user", "API tokens") if owner.kind == "user" else (f"account {owner.account_id}",
                                                                           "account-owned API tokens")
        raise QuotaExhausted(f"this Cloudflare {whose} already has {count} {what}, the most Cloudflare allows "
                             f"({owner.quota}); a new one cannot be created")
    return count


def quota_text(cloudflare: CloudflareClient, count: int) -> str:
    """"3 of 50 user tokens in use" — what a dry run says of the quota it checked."""
    return f"{count} of {cloudflare.owner.quota} {cloudflare.owner.label}s in use"


def refuse_taken_name(cloudflare: CloudflareClient, name: str) -> None:
    """NameTaken when Cloudflare already has a token with `name` (creating another would leave two)."""
    existing = tokens_named(cloudflare, name)
    if existing:
        ids = ", ".join(f"{token.id} ({token.status})" for token in existing)
        raise NameTaken(f"Cloudflare already has a token named {name}: {ids}")


def delete_lost(cloudflare: CloudflareClient, name: str, *, since: datetime, keep: str | None = None,
                spare: Collection[str] = ()) -> list[str]:
    """Delete tokens called `name` issued at or after `since` (less the clock skew), except `keep` and `spare` (an
    overlap rotation's old token): their values were lost with a worker. Returns the ids deleted (a token already
    gone counts as deleted)."""
    deleted = []
    for token in tokens_named(cloudflare, name):
        issued_before = token.issued_on is not None and token.issued_on < since - CLOCK_SKEW
        if token.id == keep or token.id in spare or issued_before:
            continue
        try:
            cloudflare.delete_token(token.id)
        except TokenNotFound:
            pass
        log.warning("minting %s: deleted token %s, whose value was lost", name, token.id)
        deleted.append(token.id)
    return deleted


def create(cloudflare: CloudflareClient, name: str, policies: list[dict[str, Any]], *, expires_on: datetime,
           condition: dict[str, Any] | None) -> tuple[CfToken, SecretStr]:
    """POST /user/tokens once (never retried); the token and its value, which Cloudflare shows only now."""
    return cloudflare.create_token(
        name, [Policy.model_validate(policy) for policy in policies], expires_on=expires_on, condition=condition
    )
