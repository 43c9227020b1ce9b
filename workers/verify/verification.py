"""verify NAME, fetched and reported: one vault listing, verify the value, read the token, diagnose, post, record.

The decisions live in `workers.verify.diagnosis`; this module only fetches facts and hands the report to Slack and
Redis. It takes no token lock: it reads and never writes, so it may run beside a roll (and then may see the
moment between roll and vault write as "out of step"; running it again settles that).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from pydantic import SecretStr

from domain import outbox, requests
from domain.cloudflare_tokens import CfToken, Verification
from domain.errors import (
    CftokenError,
    NewTokenRejected,
    NotAuthorized,
    RecordTampered,
    TokenInvalid,
    UnexpectedResponse,
)
from domain.health import Probe, RevokedByBot, carry, parse_revoked
from domain.inventory import ALL_ZONES, Token
from domain.message_parts import split_message
from domain.messages import escape
from domain.status import read_status, record_bot_use, record_status
from domain.token_owner import prefix_kind
from domain.vault import Vault, token_id_of
from workers.audit.activity import read_activity
from workers.clients.at_once import at_once
from workers.clients.cloudflare import CloudflareClient
from workers.operations.checkpoints import minting_tokens
from workers.scan import health_watch
from workers.services import Services
from workers.verify.diagnosis import diagnose
from workers.verify.diagnosis_messages import render_diagnosis
from workers.verify.report import Diagnosis, Facts

log = logging.getLogger(__name__)
T = TypeVar("T")
NO_ENTRYPOINT = 10003  # Cloudflare: "could not find entrypoint ruleset in the <phase> phase"


def verify_and_report(services: Services, name: str, *, requested_by: str | None = None) -> Diagnosis | None:
    """Diagnose inventory token `name`, post the report in the channel and record it for `/cftoken list`."""
    token = services.inventory.find(name)
    if token is None:
        _post(services, f"verify:{name}:{services.now().isoformat()}", _unknown_token_text(services, name), None)
        return None
    diagnosis = diagnose(gather_facts(services, token), services.inventory)
    log.info("verify %s: %s (%s)", token.name, diagnosis.state, diagnosis.summary)
    assert diagnosis.health is not None
    health = carry(read_status(services.redis, token.name), diagnosis.health)
    record_status(services.redis, token.name, health)
    text, blocks = render_diagnosis(diagnosis, health, requested_by=requested_by,
                                    can_roll=not services.inventory.is_management(token))
    _post(services, f"verify:{token.name}:{diagnosis.checked_at.isoformat()}", text, blocks)
    return diagnosis


def gather_facts(services: Services, token: Token) -> Facts:
    """Everything verify needs to know about `token`, fetched with one vault listing; typed errors become facts."""
    settings = services.settings
    base = Facts(token=token, now=services.now(), vault_path=settings.infisical_secret_path,
                 vault_environment=settings.infisical_environment,
                 is_management=services.inventory.is_management(token))
    try:
        vault = services.read_vault()
    except CftokenError as exc:
        return replace(base, vault_error=exc)
    value = vault.values.get(token.name)
    revoked = bot_revocation(services, vault, token)
    if value is not None and (not value.get_secret_value().strip() or revoked is not None):
        value = None  # a blank secret is as good as a missing one; a REVOKED placeholder is not a token
    management_value = vault.values.get(services.inventory.manager_name(services.inventory.owner(token)))
    asked = ask_cloudflare(services, token, vault, value, management_value)
    return replace(
        base, revoked=revoked, **asked,
        value_present=value is not None or revoked is not None,
        expires_at_text=vault.text(token.companion("__EXPIRES_AT")),
        scopes_text=vault.text(token.companion("__SCOPES")),
        token_id_text=vault.text(token.companion("__TOKEN_ID")),
        management_missing=management_value is None,
        overlapping=token.name in minting_tokens(services.redis),
        kept=health_watch.kept_by_keep_old(services.redis, token.name)
        if isinstance(asked["named"], tuple) and len(asked["named"]) > 1 else (),
    )


def ask_cloudflare(services: Services, token: Token, vault: Vault, value: SecretStr | None,
                   management_value: SecretStr | None) -> dict[str, Any]:
    """What Cloudflare says, in two rounds of calls made at once: the token's record (read before this check uses
    the value, so its last_used_on is the last use before this check's own), the name listing and the audit log;
    then verify and the job probe, which need only the value (the probe's answer counts only when the value
    verifies active, as when it ran after verify)."""
    try:
        known_id = token_id_of(token, vault)
    except CftokenError:
        known_id = None
    inventory = services.inventory
    owner = inventory.owner(token)
    with services.cloudflare(management_value, owner) as cloudflare:
        (token_id, management), named, (activity, outside_change) = at_once(
            lambda: _management_view(cloudflare, token, vault, has_management=management_value is not None),
            lambda: _attempt(lambda: tuple(cloudflare.list_tokens(name=token.name))) if management_value else None,
            lambda: read_activity(services, vault, token, known_id),  # Cloudflare's audit log
        )
        verification, bot_used_at, value_kind = None, None, None
        probes: tuple[Probe, ...] | None = None
        probe_error: CftokenError | None = None
        if value is not None:
            bot_used_at = record_bot_use(services.redis, [token.name], at=services.now()).get(token.name)
            answer, probed = at_once(
                lambda: _attempt(lambda: cloudflare.verify_value(value, owner, inventory.account_id)),
                lambda: run_probes(cloudflare, token, value, services))
            verification = answer[0] if isinstance(answer, tuple) else answer
            value_kind = value_kind_of(value, answer)
            if isinstance(verification, Verification) and verification.status == "active":
                probes, probe_error = probed
    sent = (management is not None) + (named is not None) + (verification is not None)
    sent += len(probe_calls(token, services.inventory.zones)) if value is not None else 0
    health_watch.count_requests(services.redis, services.now(), sent)  # verify spends the same budget as scans
    if verification is not None:  # the vault's value was just verified: the scan's daily check can wait
        services.redis.hset(health_watch.VALUE_CHECKED_KEY, token.name, str(services.now().timestamp()))
    return {"activity": activity, "outside_change": outside_change, "probes": probes, "probe_error": probe_error,
            "bot_used_at": bot_used_at, "verification": verification, "management": management,
            "token_id": token_id, "named": named, "value_kind": value_kind}


def value_kind_of(value: SecretStr, answer: object) -> str | None:
    """The kind the value proved to be: its prefix, else whose verify endpoint accepted it (None when neither)."""
    found = prefix_kind(value.get_secret_value())
    return found or (answer[1].kind if isinstance(answer, tuple) else None)


def bot_revocation(services: Services, vault: Vault, token: Token) -> RevokedByBot | None:
    """The bot's own revoke of `token`, read from the vault's placeholder and its request (for the incident)."""
    if not vault.revoked(token.name):
        return None
    revoked = parse_revoked(vault.text(token.name))
    assert revoked is not None
    try:
        request = requests.load(services.redis, revoked.request_id, now=services.now())
    except RecordTampered:  # logged; the incident link is not taken from a forged record
        request = None
    return replace(revoked, incident_url=request.ticket_url) if request is not None else revoked


def probe_calls(token: Token, zone_ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any] | None]]:
    """(path, zone name, params) of each job call verify makes for `token` (none when it has no probe)."""
    names = list(zone_ids) if token.zones == (ALL_ZONES,) else list(token.zones)
    if token.probe_kind == "dns":
        return [(f"/zones/{zone_ids[n]}/dns_records", n, {"per_page": 1}) for n in names]
    if token.probe_kind == "waf":
        return [(f"/zones/{zone_ids[n]}/rulesets/phases/http_ratelimit/entrypoint", n, None) for n in names]
    return []


def run_probes(cloudflare: CloudflareClient, token: Token, value: Any, services: Services
               ) -> tuple[tuple[Probe, ...] | None, CftokenError | None]:
    """Each job call with the token's own value: a refusal is a finding (failure mode A), an outage is not."""
    calls = probe_calls(token, services.inventory.zones)
    if not calls:
        return None, None
    found = []
    for path, zone, params in calls:
        shown = "GET " + path.replace(services.inventory.zones[zone], "{zone_id}") + ("?per_page=1" if params else "")
        try:
            cloudflare.probe(value, path, params)
            found.append(Probe(shown, zone))
        except NotAuthorized as exc:
            found.append(Probe(shown, zone, refusal=str(exc).rsplit(": ", 1)[-1]))
        except TokenInvalid:
            found.append(Probe(shown, zone, refusal="the value was rejected (code 1000)"))
        except UnexpectedResponse as exc:  # never an outage: a finding, or inconclusive in Cloudflare's words
            found.append(unexpected_probe(shown, zone, token, exc))
        except CftokenError as exc:
            return None, exc
    return tuple(found), None


def unexpected_probe(call: str, zone: str, token: Token, error: UnexpectedResponse) -> Probe:
    """A job call's answer outside 200/401/403: a WAF phase with no rule yet (404 code 10003, the entry point comes
    with the first rule) is a finding; anything else is inconclusive, quoted."""
    if error.code == NO_ENTRYPOINT and "/rulesets/phases/http_ratelimit/" in call:
        can = "; the token can create the first" if "Zone WAF Write" in token.permissions else ""
        return Probe(call, zone, finding=f"no rate-limiting rules on {zone} yet{can} (Cloudflare answered "
                                         f"{error.status} code {error.code})")
    return Probe(call, zone, inconclusive=str(error))


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


def _post(services: Services, key: str, text: str, blocks: list[dict] | None) -> None:
    """Hand the report to the outbox, which posts it once however Slack behaves; a report too long for one
    message (Slack's 50 blocks or its total text limit) goes as parts, delivered in order."""
    parts = split_message((text, blocks or []))
    if len(parts) == 1:
        outbox.post(services.redis, key, text, blocks, now=services.now())
        return
    with services.redis.pipeline() as pipe:
        for n, (part_text, part_blocks) in enumerate(parts, start=1):
            outbox.post_in(pipe, f"{key}:part{n}", part_text, part_blocks, group=key, now=services.now())
        pipe.execute()


def functional_probe(services: Services, cloudflare: CloudflareClient, token: Token, value: SecretStr) -> str:
    """The runbook's "verify against the target endpoint": verify's own job calls (DNS records list, WAF phase
    entrypoint) with the new value; a refusal stops the operation (it pauses and is retried), an outage too."""
    probes, error = run_probes(cloudflare, token, value, services)
    if error is not None:
        raise error
    if not probes:
        return "No functional probe for these permissions (only GET /user/tokens/verify applies)."
    refused = [f"{probe.call} on {probe.zone}: {probe.refusal}" for probe in probes if probe.refusal]
    if refused:
        raise NewTokenRejected(f"the new token is active but its job call is refused: {'; '.join(refused)}")
    unclear = [f"{probe.call} on {probe.zone}: {probe.inconclusive}" for probe in probes if probe.inconclusive]
    if unclear:
        return (f"Probe inconclusive: {'; '.join(unclear)}. The token verifies active; make its job call by hand "
                f"(or `/cftoken verify {token.name}` later) to confirm it works.")
    said = [f"{probe.call} on {probe.zone} " + (f"→ {probe.finding}" if probe.finding else "answered 200")
            for probe in probes]
    return "Probed: " + ", ".join(said) + "."
