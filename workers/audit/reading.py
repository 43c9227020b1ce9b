"""The one way jobs read Cloudflare's audit log: the inventory's `account_id` and `audit_token` (its value read from
the vault), CFTOKEN_AUDIT_DAYS, a short retry policy (a revoke is never held up by the log), and a counter per read
for /metrics. AuditLogUnavailable says what is missing and how to fix it."""

from __future__ import annotations

from datetime import datetime, timedelta

from domain import metrics
from domain.errors import AuditLogUnavailable, CftokenError, VaultSecretMissing
from domain.vault import Vault
from workers.clients.cloudflare_audit import AuditLogClient, AuditRead
from workers.clients.http import RetryPolicy
from workers.services import Services

AUDIT_RETRY = RetryPolicy(attempts=2, total_budget=10.0)


def audit_client(services: Services, vault: Vault) -> AuditLogClient:
    """A reader of the account's log with the inventory's audit token; AuditLogUnavailable when one is missing."""
    inventory = services.inventory
    if inventory.account_id is None:
        raise AuditLogUnavailable("the inventory names no account_id, so the audit log cannot be read")
    if inventory.audit_token is None:
        raise AuditLogUnavailable("the inventory names no audit_token, so the audit log cannot be read")
    try:
        value = vault.value(inventory.audit_token)
    except VaultSecretMissing:
        raise AuditLogUnavailable(f"the vault has no value for the audit token {inventory.audit_token}") from None
    retry = services.retry if services.retry.total_budget < AUDIT_RETRY.total_budget else AUDIT_RETRY
    return AuditLogClient(base_url=services.settings.cloudflare_api_url, token=value,
                          token_name=inventory.audit_token, account_id=inventory.account_id,
                          transport=services.transport, retry=retry)


def read(services: Services, vault: Vault, *, filters: dict[str, list[str]], since: datetime | None = None,
         max_pages: int = 10, direction: str = "desc") -> AuditRead:
    """Entries of the last CFTOKEN_AUDIT_DAYS (or since `since`) matching `filters`; counted for /metrics."""
    now = services.now()
    start = since or now - timedelta(days=services.settings.cftoken_audit_days)
    try:
        with audit_client(services, vault) as log:
            found = log.read(since=start, before=now + timedelta(minutes=1), filters=filters, max_pages=max_pages,
                             direction=direction)
    except CftokenError:
        metrics.count_audit(services.redis, "audit_reads", "failed")
        raise
    metrics.count_audit(services.redis, "audit_reads", "ok")
    return found


def made_with(token_id: str) -> dict[str, list[str]]:
    return {"actor_token_id": [token_id]}


def made_to(token_id: str) -> dict[str, list[str]]:
    return {"resource_id": [token_id]}
