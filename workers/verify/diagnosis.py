"""verify NAME, decided: the facts fetched about one token → a Diagnosis in the runbook's terms (pure, no I/O).

Checks, in order: the vault value (failure mode C), GET /user/tokens/verify (failure mode B, and which kind),
the management token's view of the token (failure mode D when that token fails), zones and permission groups
against the inventory (failure mode A), then the companions __EXPIRES_AT, __TOKEN_ID and __SCOPES (drift).
Facts hold no token value: only whether one is present, the companions' plain text, and Cloudflare's answers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.cloudflare_tokens import CfToken, Verification
from domain.errors import (
    CftokenError,
    ManagementTokenInvalid,
    NotAuthorized,
    NoTokenId,
    RateLimited,
    ServiceUnavailable,
    TokenInvalid,
    TokenNotFound,
)
from domain.grants import (
    account_level_wanted,
    compare_permissions,
    compare_zones,
    differences_text,
    permissions_over_only,
    zones_over_only,
)
from domain.health import (
    DASHBOARD,
    EXPIRY_WARNING_DAYS,
    HealthFacts,
    assess,
    days_text,
    duplicate_step,
    fix_policy,
    namesake_text,
    namesakes,
    never_provisioned,
    not_provisioned_step,
    provision_step,
    revoked_text,
)
from domain.inventory import Inventory, Token
from domain.mrkdwn import escape
from domain.timestamps import parse_timestamp, utc_stamp
from domain.token_activity import activity_check, cause
from domain.token_owner import kind_mismatch
from domain.vault import pin_drift, pin_fix
from workers.verify.report import Check, Diagnosis, Facts, Status

NOT_CHECKED_NO_VIEW = "not checked: needs the management token's view of the token (see above)"


def diagnose(facts: Facts, inventory: Inventory) -> Diagnosis:
    """Every check, in the runbook's order; the state and summary are the token's Health for these facts."""
    view = facts.management if isinstance(facts.management, CfToken) else None
    mismatch = kind_mismatch(facts.token.name, facts.token.owner, facts.value_kind)  # type: ignore[arg-type]
    checks = (vault_check(facts, inventory), Check("fail", "Kind of token", *mismatch)) if mismatch else (
        vault_check(facts, inventory),
        verify_check(facts, inventory),
        management_check(facts, inventory),
        zones_check(facts.token, view, inventory),
        permissions_check(facts.token, view, inventory),
        probe_check(facts),
        expires_at_check(facts),
        token_id_check(facts),
        scopes_check(facts),
        namesakes_check(facts),
        *([Check(*activity_check(facts.activity))] if facts.activity is not None else []),
    )
    health = assess(health_facts(facts), inventory)
    if health.state in ("unknown", "healthy", "warning") and _any(checks, "fail"):  # a check could not see
        health = health.model_copy(update={"state": "unknown", "summary": summarise(checks, None, facts.now)})
    return Diagnosis(
        token_name=facts.token.name,
        state=health.state,
        checks=checks,
        summary=health.summary,
        checked_at=facts.now,
        expires_on=_cloudflare_expiry(facts),
        health=health,
    )


def health_facts(facts: Facts) -> HealthFacts:
    """verify's facts in the health model's terms."""
    view = facts.management
    outcome = facts.verification
    checked = isinstance(outcome, Verification | TokenInvalid)
    return HealthFacts(
        token=facts.token, now=facts.now, source="verify", seen_by="verify", vault_path=facts.vault_path,
        vault_environment=facts.vault_environment, vault_read=facts.vault_error is None,
        value_present=facts.value_present, revoked=facts.revoked, expires_at_text=facts.expires_at_text,
        token_id_text=facts.token_id_text, scopes_text=facts.scopes_text,
        record_read=isinstance(view, CfToken | TokenNotFound), record=view if isinstance(view, CfToken) else None,
        token_id=facts.token_id, value_checked=checked,
        value_accepted=isinstance(outcome, Verification) and outcome.status == "active",
        value_token_id=outcome.id if isinstance(outcome, Verification) else None,
        probes=facts.probes, bot_used_at=facts.bot_used_at,
        named=facts.named if isinstance(facts.named, tuple) else None, overlapping=facts.overlapping,
        kept=facts.kept, value_kind=facts.value_kind,
    )


def vault_check(facts: Facts, inventory: Inventory) -> Check:
    """Failure mode C: the value is at the configured path and environment."""
    where = f"{facts.vault_path} (env {facts.vault_environment})"
    if facts.vault_error is not None:
        return Check("fail", "Vault", f"could not list {where}: {facts.vault_error}",
                     facts.vault_error.next_step(facts.token.name))
    if facts.revoked is not None:
        return Check("fail", "Vault", f"holds the bot's REVOKED placeholder: {revoked_text(facts.revoked)}",
                     provision_step(facts.token.name))
    if facts.value_present:
        return Check("ok", "Vault", f"{facts.token.name} is present at {where}")
    if never_provisioned(health_facts(facts)):
        return Check("fail", "Vault", f"not provisioned: no {facts.token.name} and no companions at {where}",
                     not_provisioned_step(facts.token.name, management=inventory.is_management(facts.token)))
    return Check(
        "fail", "Vault", f"{facts.token.name} is missing at {facts.vault_path} in env {facts.vault_environment}",
        f"Failure mode C: confirm the path is {facts.vault_path} and the env is {facts.vault_environment}; "
        "restore the secret from Infisical's version history, or provision a replacement token.",
    )


def verify_check(facts: Facts, inventory: Inventory) -> Check:
    """Failure mode B: Cloudflare accepts the vault's value, and if not, why not."""
    title = "Active at Cloudflare"
    outcome = facts.verification
    if facts.revoked is not None:
        return Check("fail", title, "not checked: the bot revoked this token (see above)")
    if outcome is None:
        return Check("warn", title, "not checked: there is no value to verify (see above)")
    if isinstance(outcome, Verification):
        call = verify_call(facts.value_kind or facts.token.owner)
        if outcome.status == "active":
            return Check("ok", title, f"{call} answers active")
        return Check("fail", title, f"{call} answers status {outcome.status}",
                     f"Failure mode B: roll the token (`/cftoken roll {facts.token.name}`).")
    if not isinstance(outcome, TokenInvalid):
        return _unavailable(title, "verify the value", outcome, facts.token.name)
    if inventory.is_management(facts.token):
        return Check("fail", title, "Cloudflare rejects the vault's value of the management token itself "
                     "(expired, revoked, disabled or out of step)", escalation(inventory))
    detail, next_step = _why_invalid(facts)
    return Check("fail", title, detail, next_step)


def _why_invalid(facts: Facts) -> tuple[str, str]:
    """Which failure mode B it is, read from the management token's view of the token."""
    name, view, now = facts.token.name, facts.management, facts.now
    roll = f"`/cftoken roll {name}`"
    if isinstance(view, TokenNotFound):
        return (f"Cloudflare rejects the vault's value: the token was deleted (revoked) at Cloudflare, "
                f"no token has id {facts.token_id}" + cause(facts.outside_change, ""),
                "Failure mode B (revoked): provision a replacement token (runbook: provisioning procedure), "
                "store it with its companions, and clean up its consumers.")
    if isinstance(view, CfToken):
        if view.status == "revoked (exposed)":
            return ("Cloudflare rejects the vault's value: Cloudflare marked the token compromised "
                    "(status revoked (exposed)) after secret scanning found it leaked",
                    f"Revoke it (`/cftoken revoke {name} leaked`), clean up its consumers, then provision a "
                    "replacement (runbook: Revocation, then the provisioning procedure).")
        if view.status == "disabled":
            return ("Cloudflare rejects the vault's value: the token is disabled at Cloudflare",
                    f"Failure mode B (disabled): if that was a mistake, re-enable it in the dashboard ({DASHBOARD}); "
                    f"if it was deliberate, revoke it (`/cftoken revoke {name} reason`).")
        if view.status == "expired" or (view.expires_on is not None and view.expires_on <= now):
            when = f" on {utc_stamp(view.expires_on)}" if view.expires_on else ""
            return (f"Cloudflare rejects the vault's value: the token expired{when} (past expires_on)",
                    f"Failure mode B (expired): roll it ({roll}); the roll moves expires_on and "
                    f"{name}__EXPIRES_AT forward. Only if the roll is refused, extend it in the dashboard "
                    f"({DASHBOARD}).")
        if view.not_before is not None and view.not_before > now:
            return (f"Cloudflare rejects the vault's value: the token is not valid before {utc_stamp(view.not_before)}",
                    "Failure mode B: wait for not_before, or correct it in the dashboard.")
        return ("the vault holds a value Cloudflare no longer accepts — the token is active at Cloudflare, so the "
                "vault is out of step" + cause(facts.outside_change, "(e.g. a roll outside the bot)"),
                f"Failure mode B (vault out of step): roll the token ({roll}) so the vault and Cloudflare agree "
                "again, and find out who rolled it outside the bot.")
    hint = ""
    expires_at = parse_timestamp(facts.expires_at_text)
    if expires_at is not None and expires_at <= now:
        hint = f"; {name}__EXPIRES_AT says it expired on {utc_stamp(expires_at)}"
    return (f"Cloudflare rejects the vault's value; without the management token's view the bot cannot tell "
            f"whether it expired, was disabled or revoked, or the vault is out of step{hint}",
            f"Failure mode B: check {name}__EXPIRES_AT; once the management token works, verify again, then roll "
            f"({roll}).")


def management_check(facts: Facts, inventory: Inventory) -> Check:
    """The management token's view (failure mode D when it cannot give one): status, expiry, last use."""
    title = "Cloudflare record"
    mgmt = inventory.manager_name(inventory.owner(facts.token))
    view = facts.management
    if facts.management_missing:
        return Check("fail", title, f"not checked: the management token {mgmt} is missing at {facts.vault_path} "
                     f"in env {facts.vault_environment}", escalation(inventory))
    if isinstance(view, ManagementTokenInvalid):
        return Check("fail", title, f"not checked: Cloudflare rejects the management token {mgmt}",
                     escalation(inventory))
    if isinstance(view, NotAuthorized):
        return Check("fail", title, f"not checked: the management token {mgmt} may not read API tokens",
                     escalation(inventory))
    if isinstance(view, TokenNotFound):
        if isinstance(facts.verification, Verification):
            return Check("fail", title, f"Cloudflare has no token with id {facts.token_id}, yet the vault's value "
                         f"works (it belongs to token {facts.verification.id})",
                         f"Fix the token id: set {facts.token.name}__TOKEN_ID to {facts.verification.id}"
                         + (" and remove the inventory's pin." if facts.token.token_id not in (None,
                            facts.verification.id) else "."))
        return Check("fail", title, f"Cloudflare has no token with id {facts.token_id}: deleted or revoked",
                     "Failure mode B (revoked): see the line above.")
    if isinstance(view, NoTokenId) and never_provisioned(health_facts(facts)):
        return Check("warn", title, "not checked: the token was never provisioned, so there is no id to look up")
    if isinstance(view, CftokenError):
        if isinstance(view, ServiceUnavailable | RateLimited):
            return _unavailable(title, "read the token", view, facts.token.name)
        return Check("fail", title, f"not checked: {view}", view.next_step(facts.token.name) or None)
    if view is None:
        return Check("warn", title, "not checked: the vault could not be read (see above)")
    return _record_check(title, facts, view)


def _record_check(title: str, facts: Facts, view: CfToken) -> Check:
    """Status, expires_on and last_used_on as Cloudflare shows them."""
    expired = view.status == "expired" or (view.expires_on is not None and view.expires_on <= facts.now)
    parts = [f"status {view.status}"]
    parts.append(f"expires_on {utc_stamp(view.expires_on)} ({days_text(view.expires_on, facts.now)})"
                 if view.expires_on else "no expiry")
    parts.append(_management_last_used(view.last_used_on) if facts.is_management
                 else _last_used(view.last_used_on, facts.bot_used_at))
    if facts.token.owner == "account":
        parts.append(creator_text(view))
    detail = ", ".join(parts)
    if view.status != "active" or expired:
        return Check("fail", title, detail, "Failure mode B: see the line above.")
    if view.expires_on is not None and (view.expires_on - facts.now).days < EXPIRY_WARNING_DAYS:
        return Check("warn", title, detail,
                     f"Roll it before it expires (`/cftoken roll {facts.token.name}`).")
    return Check("ok", title, detail)


def verify_call(kind: str) -> str:
    return "GET /user/tokens/verify" if kind == "user" else "GET /accounts/{account_id}/tokens/verify"


def creator_text(view: CfToken) -> str:
    """An account-owned token's creator metadata, where Cloudflare gives it (Cloudflare's words, escaped)."""
    made = [f"created by {escape(view.creator_email_at_creation)}"] if view.creator_email_at_creation else []
    made += [f"provisioned by {escape(view.provisioner_type)}"] if view.provisioner_type else []
    return "account-owned token" + (f" ({', '.join(made)})" if made else "")


def _last_used(used: datetime | None, ours: datetime | None) -> str:
    """Cloudflare's last_used_on (read before this check used the value), told apart from the bot's own checks."""
    if used is None:
        return "never used (Cloudflare's last_used_on)"
    if ours is not None and used <= ours + timedelta(minutes=1):
        return f"last used {utc_stamp(used)}: cftoken's own check; nothing but cftoken has used it since"
    mine = f"; cftoken's last check was {utc_stamp(ours)}" if ours else ""
    return f"last used {utc_stamp(used)} by something other than cftoken{mine}"


def _management_last_used(used: datetime | None) -> str:
    """The management token's last use: cftoken's own calls use it, so its last use cannot point at anyone."""
    if used is None:
        return "never used (Cloudflare's last_used_on)"
    return (f"last used {utc_stamp(used)}: cftoken itself uses the management token for every change and check, "
            "so its last use cannot tell cftoken from anything else using it")


def probe_check(facts: Facts) -> Check:
    """Failure mode A, tried: the token's own job call (DNS records list or WAF entrypoint) answers 200."""
    title = "Job probe"
    if facts.probe_error is not None:
        return _unavailable(title, "make the job call", facts.probe_error, facts.token.name)
    if facts.probes is None:
        if facts.token.probe_kind == "none":
            return Check("skip", title, "not checked: the inventory names no job call for this token (probe "
                         "\"none\"), so only GET /user/tokens/verify applies")
        accepted = isinstance(facts.verification, Verification) and facts.verification.status == "active"
        if accepted:
            return Check("skip", title, "not checked: the token has no zone to make its job call on")
        return Check("warn", title, "not checked: needs a value Cloudflare accepts (see above)")
    refused, unclear = [p for p in facts.probes if p.refusal], [p for p in facts.probes if p.inconclusive]
    if not refused:
        said = "; ".join(f"{p.call} on {p.zone}" + (f" → {p.finding or p.inconclusive}" if p.finding or p.inconclusive
                                                      else "") for p in facts.probes)
        found = any(p.finding for p in facts.probes)
        return (Check("warn", title, f"inconclusive: {said}", "Make the job call by hand, then verify again.")
                if unclear else Check("ok", title, said if found else f"HTTP 200: {said}"))
    calls = "; ".join(f"{p.call} on {p.zone} → {p.refusal}" for p in refused)
    return Check("fail", title, f"refused: {calls}",
                 f"Failure mode A: the policy lacks the permission or zone the job needs (or an inventory "
                 f"permission-group id is wrong); fix it in the dashboard ({DASHBOARD}) and repeat the call.")


def zones_check(token: Token, view: CfToken | None, inventory: Inventory) -> Check:
    """Failure mode A, zones: the allow policies' zone resources are exactly the inventory's zones."""
    title = "Zones"
    if not token.zones:
        return account_check(token, view, inventory)
    if view is None:
        return Check("warn", title, NOT_CHECKED_NO_VIEW)
    found = compare_zones(token, view, inventory)
    if found.declared == "all":
        if found.every:
            return Check("ok", title, "all zones, as the inventory expects")
        return Check("fail", title, f"grants only {', '.join(found.granted) or 'none'}; the inventory expects all "
                     "zones", fix_policy(token, "zone resources: all zones"))
    only = ", ".join(found.expected)
    if found.every:
        return Check("warn", title, f"grants all zones; the inventory expects only {only} (over-privileged)",
                     fix_policy(token, f"zone resources: only {only}"))
    problems = differences_text(found.missing, found.extra)
    if not problems:
        return Check("ok", title, f"{only}, as the inventory expects")
    over = zones_over_only(found)
    return Check("warn" if over else "fail", title, problems + (" (over-privileged)" if over else ""),
                 fix_policy(token, f"zone resources: only {only}"))


def account_check(token: Token, view: CfToken | None, inventory: Inventory) -> Check:
    """A token without zones: its account-level groups (Pages, Access) must be granted on the account resource."""
    title = "Zones"
    if not account_level_wanted(token, inventory):
        return Check("skip", title, "not checked: not zone-scoped (the inventory lists no zones and no "
                     "account-level group)")
    if view is None:
        return Check("warn", title, NOT_CHECKED_NO_VIEW)
    found = compare_zones(token, view, inventory)
    wanted = ", ".join(found.wanted)
    if found.ungranted:
        return Check("fail", title, f"{', '.join(found.ungranted)} not granted on {found.where} (account-level "
                     "permissions are granted on com.cloudflare.api.account.<account_id>, not on zones)",
                     fix_policy(token, f"account resource: {wanted} on {found.where}"))
    return Check("ok", title, f"not zone-scoped; {wanted} on {found.where}, as the inventory expects")


def permissions_check(token: Token, view: CfToken | None, inventory: Inventory) -> Check:
    """Failure mode A, permissions: the allow policies' permission groups are exactly the inventory's."""
    title = "Permissions"
    if view is None:
        return Check("warn", title, NOT_CHECKED_NO_VIEW)
    found = compare_permissions(token, view, inventory)
    problems = differences_text(found.missing, found.extra)
    wanted = ", ".join(token.permissions)
    if not problems:
        return Check("ok", title, f"{wanted}, as the inventory expects")
    over = permissions_over_only(found)
    return Check("warn" if over else "fail", title, problems + (" (over-privileged)" if over else ""),
                 fix_policy(token, f"permission groups: exactly {wanted}"))


def expires_at_check(facts: Facts) -> Check:
    """__EXPIRES_AT agrees with Cloudflare's expires_on, to the second."""
    name = facts.token.companion("__EXPIRES_AT")
    text = facts.expires_at_text
    if facts.vault_error is not None:
        return Check("warn", name, "not checked: the vault could not be read (see above)")
    if never_provisioned(health_facts(facts)):
        return Check("warn", name, "absent: the token was never provisioned (see above)")
    known, cloudflare = _expiry_known(facts), _cloudflare_expiry(facts)
    if not known:
        if text is None:
            return Check("warn", name, "missing; not compared: needs Cloudflare's expires_on (see above)",
                         f"Set {name} once Cloudflare's expires_on can be read.")
        return Check("warn", name, f"not checked: says {text}; needs Cloudflare's expires_on (see above)")
    if text is None:
        if cloudflare is None:
            return Check("ok", name, "absent, and the token has no expiry at Cloudflare")
        return Check("warn", name, f"missing; Cloudflare's expires_on is {utc_stamp(cloudflare)}",
                     f"Set {name} to {utc_stamp(cloudflare)}.")
    ours = parse_timestamp(text)
    if ours is None:
        return Check("warn", name, f"{text!r} is not an ISO-8601 timestamp",
                     f"Set {name} to {utc_stamp(cloudflare) if cloudflare else 'an ISO-8601 timestamp'}.")
    if cloudflare is None:
        return Check("warn", name, f"drift: says {utc_stamp(ours)}, but the token has no expiry at Cloudflare",
                     f"Remove {name}, or set the expiry at Cloudflare to match.")
    if _to_second(ours) != _to_second(cloudflare):
        return Check("warn", name, f"drift: says {utc_stamp(ours)}, Cloudflare's expires_on is {utc_stamp(cloudflare)}",
                     f"Set {name} to {utc_stamp(cloudflare)} (Cloudflare is the source of truth).")
    return Check("ok", name, f"{utc_stamp(ours)}, agrees with Cloudflare's expires_on")


def token_id_check(facts: Facts) -> Check:
    """__TOKEN_ID (the id the bot acts on) agrees with the vault value's own id, and the inventory's pin with it."""
    name = facts.token.companion("__TOKEN_ID")
    text, pin = facts.token_id_text, facts.token.token_id
    if facts.vault_error is not None:
        return Check("warn", name, "not checked: the vault could not be read (see above)")
    if never_provisioned(health_facts(facts)):
        return Check("warn", name, "absent: the token was never provisioned (see above)")
    actual = facts.verification.id if isinstance(facts.verification, Verification) else None
    if text is None:
        expected = actual or facts.token_id
        fix = f"Set {name} to {expected}." if expected else f"Set {name} to the token's Cloudflare id."
        using = f" (the bot uses the inventory's pin {pin} meanwhile)" if pin else ""
        return Check("warn", name, f"missing{using}", fix)
    if actual and text != actual:
        also = " and remove the inventory's pin" if pin and pin != actual else ""
        return Check("warn", name, f"drift: says {text}, but the vault's value belongs to token {actual}",
                     f"Set {name} to {actual}{also}.")
    pinned = pin_drift(facts.token, text, actual)
    if pinned:
        fix = pin_fix(facts.token, text)
        return Check("warn", name, f"drift: {pinned}", fix[0].upper() + fix[1:] + ".")
    return Check("ok", name, f"{text}, agrees with the {'inventory' if pin else 'id in use'}")


def scopes_check(facts: Facts) -> Check:
    """__SCOPES is present (a human-readable scope string)."""
    name = facts.token.companion("__SCOPES")
    if facts.vault_error is not None:
        return Check("warn", name, "not checked: the vault could not be read (see above)")
    if never_provisioned(health_facts(facts)):
        return Check("warn", name, "absent: the token was never provisioned (see above)")
    if not facts.scopes_text:
        scope = escape(repr(facts.token.scope))
        return Check("warn", name, "missing", f"Set {name} to {scope} (the inventory's scope).")
    return Check("ok", name, f"present: {escape(facts.scopes_text)}")


def namesakes_check(facts: Facts) -> Check:
    """A second token with this name at Cloudflare (GET /user/tokens?name=), outside an overlap rotation."""
    title, name, named = "Same name", facts.token.name, facts.named
    if named is None:
        return Check("warn", title, "not checked: needs the management token and the vault (see above)")
    if isinstance(named, CftokenError):
        return _unavailable(title, f"list the tokens named {name}", named, name)
    others = namesakes(facts.token_id, named)
    if not others:
        return Check("ok", title, f"no other token at Cloudflare is named {name}")
    if facts.overlapping:
        return Check("ok", title, f"{len(others) + 1} tokens are named {name}, as an overlap rotation (or a "
                     "provision) under way expects")
    them = "; ".join(namesake_text(other, facts.kept) for other in others)
    return Check("warn", title, f"also named {name} at Cloudflare: {them}",
                 duplicate_step(name, facts.token_id, [other.id for other in others], facts.kept))


def escalation(inventory: Inventory) -> str:
    """Failure mode D's next step."""
    return (f"Failure mode D: escalate to an operator; rotate {inventory.management_token} in the dashboard "
            f"({DASHBOARD}). The bot cannot roll it.")


def summarise(checks: tuple[Check, ...], expires_on: datetime | None, now: datetime) -> str:
    """One line for `/cftoken list`: the first failure (else warning), or, when all is well, the expiry."""
    problems = [check for check in checks if check.status in ("warn", "fail")]
    if not problems:
        return f"active, {days_text(expires_on, now)}"
    worst = next((c for c in problems if c.status == "fail"), problems[0])
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{worst.title}: {worst.detail}{more}"


def _unavailable(title: str, what: str, error: CftokenError, name: str) -> Check:
    return Check("warn", title, f"could not {what}: {error}", error.next_step(name) or "Run verify again.")


def _expiry_known(facts: Facts) -> bool:
    """Whether Cloudflare's expires_on was read (from the management view, or from verify)."""
    return isinstance(facts.management, CfToken) or isinstance(facts.verification, Verification)


def _cloudflare_expiry(facts: Facts) -> datetime | None:
    if isinstance(facts.management, CfToken):
        return facts.management.expires_on
    if isinstance(facts.verification, Verification):
        return facts.verification.expires_on
    return None


def _any(checks: tuple[Check, ...], status: Status) -> bool:
    return any(check.status == status for check in checks)


def _to_second(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(microsecond=0)
