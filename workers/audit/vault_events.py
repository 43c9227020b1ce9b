"""Infisical's secrets.modified event, on the worker: read the folder, find the token values that differ from what
the bot last saw (keyed hashes, domain/vault_seen.py; the bot's own writes record theirs as they land, so they never
differ), verify each new value at Cloudflare at once, and post one line per token. Each change is told once (the
outbox key carries its hash) and counted for /metrics."""

from __future__ import annotations

import logging

from pydantic import SecretStr

from domain import metrics, outbox, vault_seen
from domain.errors import CftokenError
from domain.inventory import Token
from domain.mrkdwn import escape
from domain.timestamps import slack_date
from domain.vault import Vault
from workers.services import Services

log = logging.getLogger(__name__)


def token_values(services: Services, vault: Vault) -> dict[str, SecretStr | None]:
    return {token.name: vault.values.get(token.name) for token in services.inventory.tokens}


def baseline(services: Services, vault: Vault) -> None:
    """Remember values of tokens never seen before (called by the scan)."""
    vault_seen.baseline(services.redis, _key(services), token_values(services, vault))


def vault_changed(services: Services, environment: str, secret_path: str) -> list[str]:
    """Check the values of the bot's folder that changed outside the bot; the names told (empty for another
    folder, or when nothing changed but the bot's own writes)."""
    settings = services.settings
    if (environment, secret_path.rstrip("/") or "/") != (settings.infisical_environment,
                                                          settings.infisical_secret_path.rstrip("/") or "/"):
        log.info("secrets.modified for %s in %s: not the bot's folder", secret_path, environment)
        return []
    try:
        vault = services.read_vault()
    except CftokenError as exc:  # the next event (or the scan's baseline) sees the folder again
        log.warning("secrets.modified for %s: the vault could not be read: %s", secret_path, exc)
        return []
    key, values = _key(services), token_values(services, vault)
    previous = settings.cftoken_secret_key_previous
    names = vault_seen.changed(key, vault_seen.last_seen(services.redis), values,
                               vault_seen.derive_key(previous) if previous is not None else None)
    told = []
    for name in names:
        token = services.inventory.find(name)
        assert token is not None
        text = f"{_what(name, values[name])} {_works(services, vault, token, values[name])}"
        if outbox.post(services.redis, f"vault-change:{name}:{vault_seen.fingerprint(key, name, values[name])[:16]}",
                       text, None, now=services.now()):
            told.append(name)
        vault_seen.remember(services.redis, key, name, values[name])
    vault_seen.baseline(services.redis, key, values)
    if told:
        metrics.count_audit(services.redis, "outside_changes", "vault", len(told))
    return told


def _what(name: str, value: SecretStr | None) -> str:
    if value is None:
        return f":pencil2: *{name}* was removed from the vault outside the bot;"
    return f":pencil2: *{name}*'s value in the vault was changed outside the bot;"


def _works(services: Services, vault: Vault, token: Token, value: SecretStr | None) -> str:
    """Whether the value now in the vault works at Cloudflare, checked just now."""
    now = slack_date(services.now())
    if value is None or not value.get_secret_value().strip():
        return f"nothing there to use — `/cftoken verify {token.name}` says what to do next."
    if vault.revoked(token.name):
        return f"it now holds a REVOKED placeholder, which is not a token ({now})."
    try:
        with services.cloudflare() as cloudflare:
            answer = cloudflare.verify(value, services.inventory.owner(token))
    except CftokenError as exc:
        return (f"the new value does *not* work: {escape(str(exc))} (checked {now}) — `/cftoken verify "
                f"{token.name}` for the diagnosis.")
    if answer.status != "active":
        return f"the new value does *not* work: Cloudflare says its token is {escape(answer.status)} (checked {now})."
    return f"the new value works: Cloudflare verifies it as active token `{escape(answer.id)}` (checked {now})."


def _key(services: Services) -> bytes:
    return vault_seen.derive_key(services.settings.cftoken_secret_key)
