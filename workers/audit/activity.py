"""A token's recent changes at Cloudflare for verify (and, kept signed, for `/cftoken history NAME`): the audit log's
entries made with the token and made to it, and the newest write to it by someone other than the bot."""

from __future__ import annotations

from domain import token_activity
from domain.errors import AuditLogUnavailable, CftokenError
from domain.inventory import Token
from domain.token_activity import TokenActivity, TokenChange
from domain.vault import Vault
from workers.audit import outside, reading
from workers.services import Services

PAGES = 2


def read_activity(services: Services, vault: Vault, token: Token,
                  token_id: str | None) -> tuple[TokenActivity | CftokenError, TokenChange | None]:
    """The token's activity (or why it could not be read) and its newest change made outside the bot."""
    if token_id is None:
        return AuditLogUnavailable(f"{token.name} has no Cloudflare id to look up"), None
    try:
        made_with = reading.read(services, vault, filters=reading.made_with(token_id), max_pages=PAGES)
        made_to = reading.read(services, vault, filters=reading.made_to(token_id), max_pages=PAGES)
    except CftokenError as exc:
        return exc, None
    activity = TokenActivity(
        token=token.name, read_at=services.now(), days=services.settings.cftoken_audit_days,
        made_with=tuple(e for e in made_with.entries if e.actor_token_id == token_id),
        made_to=tuple(e for e in made_to.entries if e.resource_id == token_id or f"/{token_id}" in e.uri))
    token_activity.save_activity(services.redis, activity)
    return activity, token_activity.latest_outside(activity, outside.managers(services, vault), token_id)
