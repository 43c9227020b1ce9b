"""Minting a user token by name without orphans: count the quota, find what an earlier attempt left behind,
delete the tokens whose value was lost, create exactly once per attempt.

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
USER_TOKEN_QUOTA = 50  # Cloudflare's limit on user API tokens per user (fundamentals/api/reference/limits)
CLOCK_SKEW = timedelta(minutes=5)  # how far Cloudflare's issued_on may lag our clock's instant of the intent


def tokens_named(cloudflare: CloudflareClient, name: str) -> list[CfToken]:
    """Every token at Cloudflare called exactly `name` (GET /user/tokens?name=)."""
    return cloudflare.list_tokens(name=name)


def check_quota(cloudflare: CloudflareClient) -> int:
    """How many user tokens exist; QuotaExhausted when one more would pass Cloudflare's 50."""
    count = len(cloudflare.list_tokens())
    if count >= USER_TOKEN_QUOTA:
        raise QuotaExhausted(f"this Cloudflare user already has {count} API tokens, the most Cloudflare allows "
                             f"({USER_TOKEN_QUOTA}); a new one cannot be created")
    return count


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
