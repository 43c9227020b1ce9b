"""verify NAME, fetched and reported: one vault listing, verify the value, read the token, diagnose, post, record.

The decisions live in `workers.diagnosis`; this module only fetches facts and hands the report to Slack and
Redis. It takes no token lock: it reads and never writes, so it may run beside a roll (and then may see the
moment between roll and vault write as "out of step"; running it again settles that).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from domain.cloudflare_tokens import CfToken
from domain.errors import CftokenError
from domain.inventory import Token
from domain.messages import escape
from domain.status import TokenStatus, record_status
from domain.vault import Vault, token_id_of
from workers.clients.cloudflare import CloudflareClient
from workers.diagnosis import Diagnosis, Facts, diagnose
from workers.diagnosis_messages import render_diagnosis
from workers.operations import read_vault
from workers.services import Services

log = logging.getLogger(__name__)
T = TypeVar("T")


def verify_and_report(services: Services, name: str, *, requested_by: str | None = None) -> Diagnosis | None:
    """Diagnose inventory token `name`, post the report in the channel and record it for `/cftoken list`."""
    token = services.inventory.find(name)
    if token is None:
        _post(services, _unknown_token_text(services, name), None)
        return None
    diagnosis = diagnose(gather_facts(services, token), services.inventory)
    log.info("verify %s: %s (%s)", token.name, diagnosis.state, diagnosis.summary)
    record_status(
        services.redis,
        token.name,
        TokenStatus(
            checked_at=diagnosis.checked_at,
            source="verify",
            state=diagnosis.state,
            expires_on=diagnosis.expires_on,
            summary=diagnosis.summary,
        ),
    )
    text, blocks = render_diagnosis(diagnosis, requested_by=requested_by)
    _post(services, text, blocks)
    return diagnosis


def gather_facts(services: Services, token: Token) -> Facts:
    """Everything verify needs to know about `token`, fetched with one vault listing; typed errors become facts."""
    settings = services.settings
    base = Facts(token=token, now=services.now(), vault_path=settings.infisical_secret_path,
                 vault_environment=settings.infisical_environment)
    try:
        vault = read_vault(services)
    except CftokenError as exc:
        return replace(base, vault_error=exc)
    value = vault.values.get(token.name)
    if value is not None and not value.get_secret_value().strip():
        value = None  # a blank secret is as good as a missing one
    management_value = vault.values.get(services.inventory.management_token)
    with services.cloudflare(management_value) as cloudflare:
        verification = _attempt(lambda: cloudflare.verify(value)) if value is not None else None
        token_id, management = _management_view(cloudflare, token, vault, has_management=management_value is not None)
    return replace(
        base,
        value_present=value is not None,
        expires_at_text=vault.text(token.companion("__EXPIRES_AT")),
        scopes_text=vault.text(token.companion("__SCOPES")),
        token_id_text=vault.text(token.companion("__TOKEN_ID")),
        verification=verification,
        management_missing=management_value is None,
        management=management,
        token_id=token_id,
    )


def _management_view(
    cloudflare: CloudflareClient, token: Token, vault: Vault, *, has_management: bool
) -> tuple[str | None, CfToken | CftokenError | None]:
    """(token id, the token's record or the typed error) — None for the record when there is no management token."""
    try:
        token_id = token_id_of(token, vault)
    except CftokenError as exc:
        return None, exc
    if not has_management:
        return token_id, None
    return token_id, _attempt(lambda: cloudflare.get_token(token_id))


def _attempt(call: Callable[[], T]) -> T | CftokenError:
    """The call's result, or the typed error it raised (anything untyped is a bug and propagates)."""
    try:
        return call()
    except CftokenError as exc:
        return exc


def _unknown_token_text(services: Services, name: str) -> str:
    suggestion = services.inventory.suggest(name)
    hint = f" Did you mean `{suggestion}`?" if suggestion else ""
    known = ", ".join(f"`{known}`" for known in services.inventory.names)
    return f"verify: there is no token called `{escape(name)}` in the inventory.{hint} Known tokens: {known}."


def _post(services: Services, text: str, blocks: list[dict] | None) -> None:
    """Post to the channel; a Slack failure is logged, not raised (the status record already holds the result)."""
    try:
        services.slack.post(text, blocks)
    except CftokenError as exc:
        log.warning("verify: could not post to the channel: %s", exc)

