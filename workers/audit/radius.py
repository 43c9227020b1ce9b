"""A revoke's blast radius, read by a worker: at once when the revoke is asked (the web never calls Cloudflare, so
the approval message says "reading the audit log …" until this job redraws it), again at the revoke's pre-flight
for its result and incident, and by the dry run. Never raises for Cloudflare's or the vault's refusal: the summary
then says, in one line, why the log was not read and what fixes it, and the revoke goes on."""

from __future__ import annotations

import logging
from datetime import datetime

from domain import blast_radius, blast_records, outbox, requests
from domain.blast_radius import BlastRadius
from domain.errors import AuditLogUnavailable, CftokenError
from domain.inventory import Token
from domain.requests import FINAL_STATES
from domain.status import read_status
from domain.vault import Vault, known_token_id
from workers.audit import reading
from workers.services import Services

log = logging.getLogger(__name__)


def read_radius(services: Services, vault: Vault | None, token: Token, token_id: str | None,
                last_used_on: datetime | None) -> BlastRadius:
    """What the token did in the last CFTOKEN_AUDIT_DAYS, or one line saying why that could not be read."""
    days, now = services.settings.cftoken_audit_days, services.now()
    if vault is None or token_id is None:
        return blast_radius.unavailable(token.name, "the token's Cloudflare id is not known (no __TOKEN_ID)",
                                        "Nothing to look up in the audit log.", days=days, now=now,
                                        last_used_on=last_used_on)
    try:
        found = reading.read(services, vault, filters=reading.made_with(token_id))
    except AuditLogUnavailable as exc:
        return blast_radius.unavailable(token.name, str(exc), exc.runbook, days=days, now=now,
                                        last_used_on=last_used_on)
    except CftokenError as exc:
        log.warning("audit log read for %s failed: %s", token.name, exc)
        return blast_radius.unavailable(token.name, f"Cloudflare's audit log could not be read ({exc})",
                                        f"The revoke does not wait for it; /cftoken history {token.name} shows "
                                        "it once Cloudflare answers.", days=days, now=now, last_used_on=last_used_on)
    made = [entry for entry in found.entries if entry.actor_token_id == token_id]  # the positive filter is unverified
    return blast_radius.summarise(made, token=token.name, token_id=token_id, days=days, now=now,
                                  last_used_on=last_used_on, complete=found.complete)


def refresh(services: Services, request_id: str, vault: Vault | None, token: Token, token_id: str | None,
            last_used_on: datetime | None) -> BlastRadius:
    """Read the blast radius, keep it (signed) for the request, and redraw the request's message."""
    radius = read_radius(services, vault, token, token_id, last_used_on)
    blast_records.save(services.redis, request_id, radius)
    outbox.redraw(services.redis, request_id)
    return radius


def for_request(services: Services, request_id: str) -> None:
    """The job the web queues with a revoke's approval message: read what the token did, redraw the message."""
    request = requests.load(services.redis, request_id, now=services.now())
    token = services.inventory.find(request.token) if request is not None else None
    if request is None or token is None or request.action != "revoke" or request.state in FINAL_STATES:
        return
    status = read_status(services.redis, token.name)
    last_used = status.last_used_on if status is not None else None
    try:
        vault = services.read_vault()
    except CftokenError as exc:
        radius = blast_radius.unavailable(token.name, f"the vault could not be read ({exc})",
                                          "The revoke's pre-flight reads it again.",
                                          days=services.settings.cftoken_audit_days, now=services.now(),
                                          last_used_on=last_used)
        blast_records.save(services.redis, request_id, radius)
        outbox.redraw(services.redis, request_id)
        return
    refresh(services, request_id, vault, token, known_token_id(token, vault), last_used)
