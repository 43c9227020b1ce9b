"""GET /metrics: each token's health from the stored statuses and the operation counters, in Prometheus' text
format. Served only when CFTOKEN_METRICS_TOKEN is set, to requests bearing it (README 'Metrics').

Reads Redis only (like `/cftoken list`), never Cloudflare or the vault, so scraping costs no API budget.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from domain.health import Health
from domain.inventory import Inventory

STATES = ("healthy", "warning", "failing", "revoked", "compromised", "unknown")
CONTENT_TYPE = CONTENT_TYPE_LATEST


def authorized(header: str | None, token: str) -> bool:
    """Whether the Authorization header is `Bearer <token>` (compared in constant time)."""
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def render_metrics(inventory: Inventory, statuses: Mapping[str, Health], operations: Mapping[tuple[str, str], int],
                   now: datetime, *, slack_token_refused: bool = False,
                   audit: Mapping[tuple[str, str], int] | None = None) -> bytes:
    """The exposition for one scrape (a fresh registry, so a token gone from the inventory leaves no series)."""
    registry = CollectorRegistry(auto_describe=True)
    expiry = Gauge("cftoken_token_expiry_seconds", "Seconds until the token expires at Cloudflare (negative: "
                   "expired); absent for a token without expiry", ["token"], registry=registry)
    state = Gauge("cftoken_token_health", "1 for the token's current health state, 0 for the others",
                  ["token", "state"], registry=registry)
    problems = Gauge("cftoken_token_problems", "Open problems on the token", ["token"], registry=registry)
    checked = Gauge("cftoken_token_last_check_timestamp_seconds", "When a check last read the token (Unix time)",
                    ["token", "source"], registry=registry)
    value = Gauge("cftoken_token_value_verified_timestamp_seconds", "When the vault's value was last verified at "
                  "Cloudflare (Unix time)", ["token"], registry=registry)
    ops = Counter("cftoken_operations", "Finished operations by action and outcome", ["action", "outcome"],
                  registry=registry)
    Gauge("cftoken_slack_token_refused", "1 while Slack refuses the bot token (invalid_auth, token_revoked, …): "
          "nothing is posted to the channel until it works again", registry=registry).set(int(slack_token_refused))
    for token in inventory.tokens:
        health = statuses.get(token.name)
        current = health.state if health else "unknown"
        for name in STATES:
            state.labels(token.name, name).set(1 if name == current else 0)
        if health is None:
            continue
        problems.labels(token.name).set(len(health.problems))
        checked.labels(token.name, health.source).set(health.checked_at.timestamp())
        if health.expires_on is not None:
            expiry.labels(token.name).set((health.expires_on - now).total_seconds())
        if "value" in health.facts_at:
            value.labels(token.name).set(health.facts_at["value"].timestamp())
    for (action, outcome), count in sorted(operations.items()):
        ops.labels(action, outcome).inc(count)
    _audit_counters(registry, audit or {})
    return generate_latest(registry)


def _audit_counters(registry: CollectorRegistry, audit: Mapping[tuple[str, str], int]) -> None:
    """Cloudflare audit-log reads by outcome, and changes made outside the bot found, by where they were made."""
    reads = Counter("cftoken_audit_log_reads", "Reads of Cloudflare's audit log by outcome (ok, failed)",
                    ["outcome"], registry=registry)
    outside = Counter("cftoken_outside_changes", "Token changes made outside the bot that the bot found, by "
                      "source (cloudflare: the audit log; vault: Infisical's secrets.modified)", ["source"],
                      registry=registry)
    for (counter, label), count in sorted(audit.items()):
        if counter == "audit_reads":
            reads.labels(label).inc(count)
        elif counter == "outside_changes":
            outside.labels(label).inc(count)
