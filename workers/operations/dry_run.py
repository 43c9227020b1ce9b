"""roll|revoke|provision NAME --dry-run: every read-only check the real pre-flight makes, each result kept (a
failure does not hide the checks after it), and the plan read from the operation's own step table. Nothing is
written anywhere: no Cloudflare change, no vault write (the roll's write probe is reported as not checked), no
FreeScout change, no lock, no checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from domain import blast_radius, outbox, requests
from domain.dry_run_plan import CheckResult, DryRun, PlannedStep, render_dry_run
from domain.errors import CftokenError, RecordTampered
from domain.health import parse_revoked
from domain.inventory import Token
from domain.mrkdwn import escape
from domain.provision_plan import Plan, plan_provisioning
from domain.revoke_targets import plan_lines, ticket_subject
from domain.timestamps import utc_stamp
from domain.vault import Vault, token_id_of
from workers.audit import radius
from workers.clients.cloudflare import CloudflareClient
from workers.consumers.check import folder_sync_lines
from workers.operations import overlap
from workers.operations import provision as provisioning
from workers.operations import revoke as revocation
from workers.operations import revoke_lookup as revoke_targets
from workers.operations import roll as rotation
from workers.operations.checks import Reads, results
from workers.operations.machine import Step
from workers.services import Services

log = logging.getLogger(__name__)
ROLL_STRATEGY = "roll: Cloudflare replaces the value in place; the old value stops working the moment it rolls"
NOT_CHECKED_WRITE = ("not checked in a dry run (the real roll writes __SCOPES back unchanged to prove it); "
                     "the folder listing above succeeded")


class DryRunChecks:
    """The checks made so far; `check` runs one, keeping its result whatever it raises."""

    def __init__(self) -> None:
        self.checks: list[CheckResult] = []

    def check(self, label: str, run: Callable[[], str]) -> bool:
        try:
            detail = run()
        except CftokenError as exc:
            self.checks.append(CheckResult(label, False, str(exc)))
            return False
        self.checks.append(CheckResult(label, True, detail))
        return True

    def fail(self, label: str, detail: str) -> None:
        self.checks.append(CheckResult(label, False, detail))

    def skip(self, label: str, why: str) -> None:
        self.checks.append(CheckResult(label, None, why))


def dry_run(services: Services, action: str, name: str, *, requested_by: str, reason: str = "") -> DryRun | None:
    """Run the dry run of `action` on inventory token `name` and post what it found in the channel."""
    token = services.inventory.find(name)
    if token is None:
        outbox.post(services.redis, f"dry-run:{action}:{name}:{services.now().isoformat()}",
                    f"Dry run of {escape(action)} {escape(name)}: {escape(name)} is no longer in the inventory.",
                    now=services.now())
        return None
    findings = DryRunChecks()
    gather = {"roll": _roll, "revoke": _revoke, "provision": _provision}[action]
    run = gather(services, token, findings, requested_by=requested_by, reason=reason)
    log.info("dry run %s %s: %d checks, %d would stop it", action, name, len(run.checks), len(run.blockers))
    text, blocks = render_dry_run(run)
    outbox.post(services.redis, f"dry-run:{action}:{name}:{services.now().isoformat()}", text, blocks,
                now=services.now())
    return run


def _read_vault(services: Services, findings: DryRunChecks) -> Vault | None:
    settings = services.settings
    where = f"{settings.infisical_secret_path} ({settings.infisical_environment})"
    vault: list[Vault] = []

    def listing() -> str:
        vault.append(services.read_vault())
        return f"listed {where}"

    findings.check("vault folder readable", listing)
    return vault[0] if vault else None


def _management(services: Services, vault: Vault | None, findings: DryRunChecks,
                token: Token) -> CloudflareClient | None:
    """The client managing `token`'s kind when its management token verifies active; the check's result either
    way."""
    inventory = services.inventory
    owner = inventory.owner(token)
    manager = inventory.find(inventory.manager_name(owner))
    assert manager is not None  # the inventory names only its own tokens
    label = f"management token {manager.name}"
    if vault is None:
        findings.skip(label, "not checked: the vault could not be read")
        return None
    client: list[CloudflareClient] = []

    def verify() -> str:
        value = vault.value(manager.name)
        cloudflare = services.management_client(vault, token)
        try:
            verification, _ = cloudflare.verify_value(value, inventory.owner(manager), inventory.account_id)
        except CftokenError:
            cloudflare.close()
            raise
        if verification.status != "active":
            cloudflare.close()
            raise CftokenError(f"Cloudflare says it is {verification.status} (runbook failure mode D)")
        client.append(cloudflare)
        return "verifies active at Cloudflare"

    findings.check(label, verify)
    return client[0] if client else None


def _steps(table: tuple[Step, ...], token: Token, services: Services,
           applies: dict[str, str] | None = None) -> tuple[PlannedStep, ...]:
    """The step table's plan, its calls at `token`'s owner's endpoints; `applies` adds, for a step that runs only
    sometimes, whether it will and why."""
    applies = applies or {}
    owner = services.inventory.owner(token)
    tokens = "/user/tokens" if owner.kind == "user" else "/accounts/{account_id}/tokens"
    return tuple(PlannedStep(step.label, step.changes.replace("/user/tokens", tokens)
                             + (f" — {applies[step.name]}" if step.name in applies else "")) for step in table)


def _consumers(services: Services, token: Token) -> tuple[str, ...]:
    """The inventory's consumers, then each secret sync of the vault folder with its health now."""
    listed = [f"{consumer.who}: {consumer.how}" for consumer in token.consumers]
    return tuple(listed + folder_sync_lines(services.infisical, token))


def _cadence_expiry(now: datetime, token: Token) -> datetime:
    return (now + timedelta(days=token.cadence_days)).replace(microsecond=0)


def _roll(services: Services, token: Token, findings: DryRunChecks, *, requested_by: str, reason: str) -> DryRun:
    """The roll's own pre-flight checks (Rotation's or OverlapRotation's), each result kept, and its table."""
    machine = overlap.OverlapRotation if token.rotation == "overlap" else rotation.Rotation
    vault = _read_vault(services, findings)
    cloudflare = _management(services, vault, findings, token)
    reads = Reads(token, vault, cloudflare)
    try:
        findings.checks += results(machine.checks, reads)
    finally:
        if cloudflare is not None:
            cloudflare.close()
    findings.skip("vault folder takes writes", NOT_CHECKED_WRITE)
    expiry = f"{utc_stamp(_cadence_expiry(services.now(), token))} ({token.cadence_days} days from now)"
    if reads.current is not None and reads.current.expires_on is None and token.rotation == "roll":
        expiry = "none: the token has no expiry at Cloudflare, and a roll keeps it so"
    strategy = overlap_strategy(token, services.now()) if token.rotation == "overlap" else ROLL_STRATEGY
    return DryRun("roll", token.name, reason, requested_by, tuple(findings.checks),
                  _steps(machine.table, token, services), expiry, strategy, _consumers(services, token))


def overlap_strategy(token: Token, now: datetime) -> str:
    dies = utc_stamp((now + timedelta(minutes=token.overlap)).replace(microsecond=0))
    return (f"overlap: a twin token is created and stored; the old value keeps working {token.overlap} minutes "
            f"after the new one is in the vault (about {dies} if it ran now), then the old token is deleted")


def _revoke(services: Services, token: Token, findings: DryRunChecks, *, requested_by: str, reason: str) -> DryRun:
    """The real revoke's own read (workers/revoke_targets.py): its records, then one list by name at Cloudflare."""
    findings.check("FreeScout (the incident ticket)", lambda: _freescout(services))
    vault = _read_vault(services, findings)
    cloudflare = _management(services, vault, findings, token)
    plan: list[str] = []
    try:
        if cloudflare is None:
            findings.skip(f"token {token.name} at Cloudflare", "not checked: no working management token")
        else:
            findings.check(f"token {token.name} at Cloudflare",
                           lambda: _deletable(services, cloudflare, token, vault, plan))
    finally:
        if cloudflare is not None:
            cloudflare.close()
    return DryRun("revoke", token.name, reason, requested_by, tuple(findings.checks),
                  _steps(revocation.Revocation.table, token, services),
                  "none: the token is deleted", "revoke: the value stops working the moment Cloudflare deletes it",
                  _consumers(services, token), extra=(*plan, "The incident ticket lists these consumers for clean-up."))


def _freescout(services: Services) -> str:
    wanted = services.settings.freescout
    with services.freescout() as freescout:  # SettingsError when FreeScout is not configured
        mailboxes = freescout.mailboxes()
    assert wanted is not None
    if wanted.mailbox_id not in mailboxes:
        raise CftokenError(f"FREESCOUT_MAILBOX_ID {wanted.mailbox_id} is not a mailbox the API key sees")
    return f"mailbox {wanted.mailbox_id} ({mailboxes[wanted.mailbox_id]}) answers"


def _deletable(services: Services, cloudflare: CloudflareClient, token: Token, vault: Vault | None,
               plan: list[str]) -> str:
    """The vault's token at Cloudflare; `plan` gets every token the revoke would delete and each it would leave."""
    assert vault is not None
    token_id = token_id_of(token, vault)
    redis, now = services.redis, services.now()
    known = revoke_targets.known_to_bot(redis, token.name, roll_id=revoke_targets.open_roll_id(redis, token.name),
                                        now=now)
    read = revoke_targets.read_at_cloudflare(cloudflare, token.name, token_id, known)
    plan += plan_lines(read.targets, known)
    last_used = read.token.last_used_on if read.token else None
    plan += blast_radius.slack_lines(radius.read_radius(services, vault, token, token_id, last_used), escaped=False)
    if read.token is None:
        return f"token {token_id} is already gone at Cloudflare: the delete counts as done"
    used = utc_stamp(read.token.last_used_on) if read.token.last_used_on else "never (or not reported)"
    return f"token {token_id} is {read.token.status}; last used {used}"


def _provision(services: Services, token: Token, findings: DryRunChecks, *, requested_by: str, reason: str) -> DryRun:
    plans: list[Plan] = []

    def declared() -> str:
        plans.append(plan_provisioning(token, services.inventory))
        return "the inventory's declaration can be created as it stands"

    findings.check("declaration", declared)
    plan = plans[0] if plans else None
    vault = _read_vault(services, findings)
    cloudflare = _management(services, vault, findings, token)
    try:
        findings.checks += results(provisioning.Provisioning.checks, Reads(token, vault, cloudflare, plan=plan))
    finally:
        if cloudflare is not None:
            cloudflare.close()
    expiry = (f"{utc_stamp(plan.expires_on(services.now()))} ({token.cadence_days} days from the create)"
              if plan else "unknown: the declaration cannot be created")
    extra = ()
    if plan is not None:
        where = "all zones" if plan.all_zones else ", ".join(zone for zone, _ in plan.zones) or "the account"
        extra = (f"Creates: {token.name} with {', '.join(g.name for g in plan.groups)} on {where}"
                 + (", with the declared IP condition" if plan.condition else "") + "; stores "
                 + ", ".join(plan.secret_names) + f" at {plan.vault_path} ({plan.vault_environment}).",)
    note, replaces = _note_plan(services, token, vault)
    return DryRun("provision", token.name, reason or (f"replacement for {replaces}" if replaces else ""),
                  requested_by, tuple(findings.checks),
                  _steps(provisioning.Provisioning.table, token, services, {"note": note}), expiry,
                  "provision: a new token; no old value to retire", _consumers(services, token), extra=extra,
                  replaces=replaces)


def _note_plan(services: Services, token: Token, vault: Vault | None) -> tuple[str, str | None]:
    """Whether the replacement-note step will run and why, and the revoke the real request would replace (read
    from the vault's REVOKED placeholder and the revoke's own record; nothing is written)."""
    if vault is None:
        return "not known: the vault could not be read", None
    revoked = parse_revoked(vault.text(token.name)) if vault.revoked(token.name) else None
    if revoked is None:
        return "does not apply: no revoke to replace (the vault holds no REVOKED placeholder)", None
    try:
        revoke = requests.load(services.redis, revoked.request_id, now=services.now())
    except RecordTampered:
        return (f"does not apply: the record of `{revoked.request_id}` does not verify, so no incident is taken "
                "from it"), None
    if revoke is None or revoke.action != "revoke" or revoke.state != "succeeded":
        return (f"does not apply: the vault's placeholder names `{revoked.request_id}`, which is not a finished "
                "revoke on record"), None
    if revoke.replaced_by:
        return f"does not apply: `{revoke.id}` was already replaced by `{revoke.replaced_by}`", None
    return _incident_note(services, token, revoke), revoke.id


def _incident_note(services: Services, token: Token, revoke: requests.Request) -> str:
    """The revoke's incident, looked up as the step will look it up (by its subject)."""
    try:
        with services.freescout() as freescout:
            ticket = freescout.find_by_subject(ticket_subject(token.name, revoke.id))
    except CftokenError as exc:
        return f"applies: replaces `{revoke.id}`; its incident could not be looked up just now ({exc})"
    if ticket is None:
        return f"applies: replaces `{revoke.id}`, but FreeScout has no incident with its subject, so no note is added"
    return f"applies: replaces `{revoke.id}`, whose incident #{ticket.number or ticket.id} gets a note"
