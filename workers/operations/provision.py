"""provision NAME: the runbook's provisioning procedure for a token the inventory declares, as checkpointed steps.

The steps are declared once, in Provisioning's table:
    preflight   the vault holds no live value (missing or REVOKED); the management token works and Cloudflare has
                no token with that name; every zone id resolves (GET /zones?name=) and matches; every permission
                group exists with the declared id and scope; quota headroom; the expiry fixed (now + cadence)
    create      the intent and its instant checkpointed, then POST /user/tokens (never retried) and the value
                straight into the vault (sealed into the checkpoint only if the vault refuses it). Resumed here,
                the value may be lost: a token with the name that the vault's value belongs to is kept, the others
                issued since the intent are deleted, and the create runs again, so exactly one live token
                carries the name and the vault holds its value
    store       a sealed value into the vault (after a vault refusal)
    companions  __TOKEN_ID, __EXPIRES_AT (Cloudflare's expires_on), __SCOPES
    verify      the vault's value verifies active as the new id; verify's own job calls (the functional probe)
    note        a replacement adds one note to the revoke's incident ticket (found, never doubled)
    report      the result with the rotation-INDEX line and the consumers to tell
"""

from __future__ import annotations

import logging

from pydantic import SecretStr

from domain import requests, status
from domain.errors import (
    AlreadyProvisioned,
    CftokenError,
    CreateLoop,
    PreflightMismatch,
    TokenInvalid,
    TokenNotFound,
)
from domain.inventory import Token
from domain.provision_plan import ACCOUNT_SCOPE, ZONE_SCOPE, Plan, index_line, plan_provisioning
from domain.requests import Request
from domain.revoke_targets import ticket_subject
from domain.timestamps import parse_timestamp, utc_stamp
from domain.vault import known_token_id
from workers.channel import refresh_message
from workers.clients.cloudflare import CloudflareClient
from workers.consumers.step import CHANGES, LABEL, ConsumerSteps
from workers.operations import minting
from workers.operations.checks import PreflightCheck, Reads, quota, stop_at_first
from workers.operations.machine import Step, StepMachine
from workers.operations.minted_value import MintedValueSteps

log = logging.getLogger(__name__)
MAX_CREATES = 3
CREATED = "The token exists at Cloudflare"
def no_live_value(reads: Reads) -> str:
    """The vault holds no live value for the name (missing, or a revoke's REVOKED placeholder)."""
    assert reads.vault is not None
    name, current = reads.token.name, reads.vault.values.get(reads.token.name)
    if current is None or not current.get_secret_value().strip():
        return "missing: a new one will be stored"
    if reads.vault.revoked(name):
        return "a REVOKED placeholder: it will be replaced"
    gone = dead_and_gone(reads)
    if gone:
        return gone
    raise AlreadyProvisioned(f"the vault already holds a value for {name} (not a REVOKED placeholder): "
                             f"`/cftoken roll {name}` replaces it")


def dead_and_gone(reads: Reads) -> str:
    """'' unless the vault's token is gone from Cloudflare (deleted outside the bot) and Cloudflare refuses its value
    (so it works as no other token either): then the value replaced is one nothing can use."""
    assert reads.vault is not None
    token_id = known_token_id(reads.token, reads.vault)
    if reads.cloudflare is None or token_id is None:
        return ""
    try:
        reads.cloudflare.get_token(token_id)
        return ""
    except TokenNotFound:
        pass
    try:
        reads.cloudflare.verify(reads.vault.value(reads.token.name))
    except TokenInvalid:
        return (f"a value whose token {token_id} is gone from Cloudflare and which Cloudflare refuses: "
                "it will be replaced")
    return ""


def name_free(reads: Reads) -> str:
    assert reads.cloudflare is not None
    minting.refuse_taken_name(reads.cloudflare, reads.token.name)  # also proves the management token works
    return f"Cloudflare has no token named {reads.token.name}"


def zones(reads: Reads) -> str:
    assert reads.cloudflare is not None and reads.plan is not None
    plan = reads.plan
    confirm_zones(reads.cloudflare, plan)
    return ("every zone resolves to the inventory's id" if plan.zones else "all zones (no zone id to confirm)"
            if plan.all_zones else "no zone-level permissions")


def groups(reads: Reads) -> str:
    assert reads.cloudflare is not None and reads.plan is not None
    confirm_permission_groups(reads.cloudflare, reads.plan)
    return "every permission group exists with the inventory's id and scope"


class Provisioning(ConsumerSteps, MintedValueSteps, StepMachine):
    """One provisioning in progress, advanced one checkpointed step at a time."""

    verb, noun, unchanged = "Provision", "provisioning", "nothing was created"
    resumes_ended = True  # its last step, following the consumers, runs on after the result is posted

    checks = (PreflightCheck("vault value {name}", no_live_value, needs="vault"),
              PreflightCheck("name free at Cloudflare", name_free, needs="cloudflare"),
              PreflightCheck("zones", zones, needs="plan"),
              PreflightCheck("permission groups", groups, needs="plan"),
              PreflightCheck("quota", quota, needs="cloudflare"))

    def ids_in_play(self) -> set[str]:
        """None bound: a provision creates its token (the vault names another until it stores the new one)."""
        return set()

    def prepare(self) -> None:
        self.plan: Plan = plan_provisioning(self.token, self.services.inventory)

    def preflight(self) -> None:
        self.show("pre-flight")
        reads = Reads(self.token, self.vault, self.cloudflare, plan=self.plan)
        stop_at_first(self.checks, reads)
        planned = self.plan.expires_on(self.services.now())
        self.advance(expires_on=planned.isoformat(), tokens_before=str(reads.quota_used))

    def create(self) -> None:
        """Clean up after a lost attempt, record the intent, POST, and put the value straight into the vault."""
        if self.checkpoint.get("intent_at") is not None and self.adopt_or_clean():
            return
        creates = int(self.checkpoint.get("creates") or 0) + 1
        if creates > MAX_CREATES:
            raise CreateLoop(f"{self.token.name} was created {MAX_CREATES} times without a value being kept")
        self.goto("create", intent_at=self.services.now().isoformat(), creates=str(creates))
        if self.lost:
            return  # Redis lost the records before the create: the run loop stops, nothing was created
        self.show("creating at Cloudflare")
        self.mint_and_store(self.plan.policies(), self.plan.condition)

    def write_companions(self) -> None:
        self.write_id_and_expiry()
        self.services.infisical.set(self.token.companion("__SCOPES"), SecretStr(self.token.scope))
        self.advance()

    def verify(self) -> None:
        self.advance(probe=self.verify_minted("the new token"))
        self.show("verified")

    def note_incident(self) -> None:
        """A replacement: one note on the revoke's incident ticket saying the replacement exists."""
        revoke = (requests.load(self.services.redis, self.request.replaces, now=self.services.now())
                  if self.request.replaces else None)
        if revoke is None:
            self.advance()
            return
        marker = f"cftoken request {self.request.id}"
        with self.services.freescout() as freescout:
            ticket = freescout.find_by_subject(ticket_subject(self.token.name, revoke.id))
            if ticket is not None and not freescout.has_note(ticket.id, marker):
                freescout.add_note(ticket.id, replacement_note(self.token, self.request, self.checkpoint.fields,
                                                               marker))
        try:
            refresh_message(self.services, requests.record_replacement(
                self.services.redis, revoke.id, replacement=self.request.id, now=self.services.now()))
        except requests.RequestNotFound:
            log.info("provision %s: the revoke %s is gone; its message keeps its button", self.request.id, revoke.id)
        self.advance(ticket_url=ticket.url if ticket else "")

    def report(self) -> None:
        now, fields = self.services.now(), self.checkpoint.fields
        expires = parse_timestamp(fields.get("cloudflare_expires_on"))
        status.record_status(self.services.redis, self.token.name, status.TokenStatus(
            checked_at=now, source="provision", state="healthy", expires_on=expires,
            summary="provisioned and verified active",
        ))
        self.conclude(ok=True, result=self.result_text(), ticket_url=fields.get("ticket_url") or None,
                      advance=True)  # the consumers follow, with the result posted

    def consumers(self) -> None:
        """The result is posted: follow the consumers' secret syncs to the new token's value, then end."""
        self.follow_consumers()
        self.checkpoint.finish(now=self.services.now())

    def follow_up(self, error: BaseException, why: str) -> None:
        self.consumers_follow_up(error, why)

    def nothing_changed(self, error: BaseException) -> bool:
        """At the create, after an attempt: whatever it made is cleaned up now; True when no token is left."""
        if self.current.name != "create" or int(self.checkpoint.get("creates") or 0) == 0:
            return super().nothing_changed(error)
        try:  # a client of its own: the run's is closed by the time an error is judged
            since = parse_timestamp(self.checkpoint.fields["intent_at"])
            with self.services.management_client(self.vault, self.token) as cloudflare:
                minting.delete_lost(cloudflare, self.token.name, since=since)
                return not minting.tokens_named(cloudflare, self.token.name)
        except CftokenError:
            return False

    def where(self, step: Step, *, ending: bool = False) -> str:
        if self.checkpoint.sealed():
            held = "was held encrypted and is discarded now" if ending else "is held encrypted until the vault takes it"
            return f"{step.where} The new value {held}."
        return step.where

    def result_text(self) -> str:
        fields, plan = self.checkpoint.fields, self.plan
        expires = parse_timestamp(fields.get("cloudflare_expires_on"))
        created = parse_timestamp(fields.get("intent_at")) or self.services.now()
        consumers = "\n".join(f"• {c.who}: {c.how}" for c in self.token.consumers) or "• none in the consumer map"
        inventory_note = (f"\nThe inventory says token_id = \"{self.token.token_id}\": change it to "
                          f"\"{self.token_id}\" (or remove it; the bot reads {self.token.name}__TOKEN_ID)."
                          if self.token.token_id and self.token.token_id != self.token_id else "")
        replaced = (f"\nReplaces the token revoked by `{self.request.replaces}`; the incident has a note."
                    if self.request.replaces and fields.get("ticket_url") else "")
        return (
            f"Provisioned {self.token.name}: token {self.token_id} created at Cloudflare, expires "
            f"{utc_stamp(expires) if expires else 'never'}; value, __TOKEN_ID, __EXPIRES_AT and __SCOPES stored "
            f"at {plan.vault_path} ({plan.vault_environment}); verified active. {fields.get('probe', '')}\n"
            f"Add to the rotation INDEX:\n{index_line(plan, self.token_id, expires or created, created)}\n"
            f"Give the new token to its consumers:\n{consumers}{inventory_note}{replaced}"
        )

    table = (
        Step("preflight", "pre-flight", preflight, changed=False, where="Nothing was created.",
             changes="nothing (reads the vault, the zones, the permission groups and the token count)"),
        Step("create", "the create at Cloudflare", create, changed=False, risky=True,
             where="Cloudflare may have created the token without the bot keeping its value; the bot deletes such a "
                   "token before it creates again.",
             changes="Cloudflare: a new token (POST /user/tokens); the vault: its value"),
        Step("store", "storing the value in the vault", MintedValueSteps.store, changed=True,
             where=f"{CREATED}; its value is held encrypted and is not in the vault yet.",
             changes="the vault: the value (when the first write was refused)"),
        Step("companions", "writing the companions", write_companions, changed=True,
             where=f"{CREATED} and its value is in the vault; __TOKEN_ID, __EXPIRES_AT or __SCOPES may be missing.",
             changes="the vault: __TOKEN_ID, __EXPIRES_AT and __SCOPES"),
        Step("verify", "verifying the new token", verify, changed=True,
             where=f"{CREATED}; its value and companions are in the vault; it is not verified yet.",
             changes="nothing (verifies the value and probes its job call)"),
        Step("note", "the note on the incident", note_incident, changed=True,
             where=f"{CREATED}, stored and verified; the revoke's incident has no note yet.",
             changes="FreeScout: a note on the revoke's incident (a replacement only)"),
        Step("report", "reporting", report, changed=True, where=f"{CREATED}, stored and verified.",
             changes="Slack: the result, the rotation INDEX line and the consumers to tell"),
        Step("consumers", LABEL, consumers, changed=True, settled=True, changes=CHANGES,
             where=f"{CREATED}, stored, verified and reported; its consumers' syncs were being followed."),
    )


def confirm_zones(cloudflare: CloudflareClient, plan: Plan) -> None:
    """Every declared zone resolves by name (GET /zones?name=) to the declared id."""
    for name, zone_id in plan.zones:
        zone = cloudflare.zone_by_name(name)
        if zone is None:
            raise PreflightMismatch(f"Cloudflare shows no zone {name} to the management token (GET /zones?name="
                                    f"{name}): check the name, and that the management token has Zone Read on it")
        if zone.id != zone_id:
            raise PreflightMismatch(f"zone {name} has id {zone.id} at Cloudflare; the inventory says {zone_id}")
        if plan.account_id and zone.account and zone.account.id != plan.account_id:
            raise PreflightMismatch(f"zone {name} belongs to account {zone.account.id}; the inventory's account_id "
                                    f"is {plan.account_id}")


def confirm_permission_groups(cloudflare: CloudflareClient, plan: Plan) -> None:
    """Every declared group exists with the declared id, and applies where the plan grants it."""
    groups = cloudflare.permission_groups()
    by_id = {group.id: group for group in groups}
    for wanted in plan.groups:
        found = by_id.get(wanted.id)
        if found is None:
            same_name = next((group for group in groups if group.name == wanted.name), None)
            has = f"Cloudflare's id for {wanted.name} is {same_name.id}" if same_name else \
                f"Cloudflare has no group called {wanted.name}"
            raise PreflightMismatch(f"permission group {wanted.name}: no group has the inventory's id {wanted.id}; "
                                    f"{has}")
        scope = ACCOUNT_SCOPE if wanted.account_level else ZONE_SCOPE
        if found.scopes and scope not in found.scopes:
            where = "account_permissions" if not wanted.account_level else "zone permissions (not account_permissions)"
            raise PreflightMismatch(f"permission group {wanted.name} applies to {', '.join(found.scopes)}, not "
                                    f"{scope}: list it under {where}")


def replacement_note(token: Token, request: Request, fields: dict[str, str], marker: str) -> str:
    """The incident note when the replacement exists (never the value)."""
    approvers = ", ".join(a.user for a in request.approvals) or "—"
    return (f"Replacement provisioned: {token.name} is now Cloudflare token {fields.get('token_id')}, expiring "
            f"{fields.get('cloudflare_expires_on') or 'never'}; its value and companions are in the vault.\n"
            f"Requested by Slack user {request.requester}; approved by {approvers} ({marker}).\n"
            "Give the new token to the consumers in the checklist above.")

