"""revoke NAME: delete at Cloudflare, leave a REVOKED placeholder in the vault, open exactly one FreeScout incident.

Steps (the checkpoint holds the last one completed):
    queued     → preflight: management token works; the token id is known; last use recorded for the ticket
    preflight  → deleted: DELETE /user/tokens/{id} (a token already gone counts as deleted)
    deleted    → vaulted: the vault value overwritten with a REVOKED placeholder (__TOKEN_ID kept)
    vaulted    → ticketed: the incident exists (found by its subject, which names the request, else created)
    ticketed   → done: result posted with the ticket link
A FreeScout outage neither blocks nor undoes the revocation: the request succeeds without the link, the
checkpoint stays at "vaulted", and the reconciler retries the ticket until it exists (found, not duplicated).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import SecretStr

from domain import approvals, status
from domain.approvals import Request
from domain.errors import CftokenError, ManagementTokenInvalid, NotAuthorized, TokenNotFound
from domain.inventory import Inventory, Token
from domain.vault import REVOKED_PLACEHOLDER, token_id_of
from workers.checkpoints import Checkpoint
from workers.operations import (
    OperationLost,
    StepMachine,
    TokenLock,
    management_client,
    open_operation,
    read_vault,
    token_lock,
)
from workers.reporting import conclude, post, refresh_message, show_step
from workers.services import Services

log = logging.getLogger(__name__)
BEFORE_DELETE = ("queued",)


class Revocation(StepMachine):
    """One revocation in progress, advanced one checkpointed step at a time."""

    def __init__(
        self, services: Services, checkpoint: Checkpoint, request: Request, token: Token, lock: TokenLock
    ) -> None:
        self.services, self.checkpoint, self.request, self.token, self.lock = (
            services, checkpoint, request, token, lock,
        )
        self.vault = read_vault(services)
        self.steps: dict[str, Callable[[], None]] = {
            "queued": self.preflight,
            "preflight": self.delete,
            "deleted": self.overwrite_vault,
            "vaulted": self.open_ticket,
            "ticketed": self.report,
        }

    def preflight(self) -> None:
        show_step(self.services, self.checkpoint.request_id, "pre-flight")
        self.services.freescout().close()  # SettingsError now, not after the delete, if FreeScout is unset
        token_id = token_id_of(self.token, self.vault)
        try:
            with management_client(self.services, self.vault) as cloudflare:
                last_used = cloudflare.get_token(token_id).last_used_on
        except TokenNotFound:
            last_used = None  # already gone at Cloudflare: the delete step treats that as done
        self.save("preflight", token_id=token_id, last_used_on=last_used.isoformat() if last_used else "unknown")

    def delete(self) -> None:
        try:
            with management_client(self.services, self.vault) as cloudflare:
                cloudflare.delete_token(self.checkpoint.fields["token_id"])
        except TokenNotFound:
            log.info("revoke %s: token already gone at Cloudflare", self.checkpoint.request_id)
        self.save("deleted")
        show_step(self.services, self.checkpoint.request_id, "deleted at Cloudflare")

    def overwrite_vault(self) -> None:
        when = f"{self.services.now():%Y-%m-%dT%H:%M:%SZ}"
        placeholder = f"{REVOKED_PLACEHOLDER} {when} by cftoken request {self.request.id}"
        self.services.infisical.set(self.token.name, SecretStr(placeholder))
        status.record_status(
            self.services.redis,
            self.token.name,
            status.TokenStatus(
                checked_at=self.services.now(),
                source="revoke",
                state="failing",
                expires_on=None,
                summary="revoked: deleted at Cloudflare, REVOKED placeholder in the vault",
            ),
        )
        self.save("vaulted")
        show_step(self.services, self.checkpoint.request_id, "vault value replaced")

    def open_ticket(self) -> None:
        subject = ticket_subject(self.token, self.request)
        with self.services.freescout() as freescout:
            ticket = freescout.find_by_subject(subject)
            if ticket is None:
                body = ticket_body(self.token, self.request, self.services.inventory, self.checkpoint.fields)
                ticket = freescout.create_incident(subject=subject, body=body, tags=["cftoken", "revocation"])
        self.save("ticketed", ticket_url=ticket.url)

    def report(self) -> None:
        ticket_url = self.checkpoint.get("ticket_url")
        self.save("done")
        if self.request.state == "running":
            result = self.result_text(ticket_url)
            conclude(self.services, self.checkpoint, ok=True, result=result, ticket_url=ticket_url)
        else:  # the request already ended while FreeScout was down: add the link now
            refresh_message(self.services, approvals.attach_ticket(
                self.services.redis, self.request.id, ticket_url=ticket_url, now=self.services.now()
            ))
            if self.checkpoint.claim_post("ticket_posted"):
                post(self.services, f"🎫 Incident for revoked {self.token.name}: {ticket_url}", thread_ts=None)
        self.checkpoint.finish(now=self.services.now())

    def result_text(self, ticket_url: str | None) -> str:
        ticket = f"Incident: {ticket_url}" if ticket_url else "Incident: pending (FreeScout unavailable; retrying)"
        consumers = ", ".join(c.who for c in self.token.consumers) or "none listed in the consumer map"
        return (
            f"Revoked {self.token.name}: deleted at Cloudflare; the vault now holds a REVOKED placeholder.\n"
            f"{ticket}\nClean up its consumers: {consumers}. Then provision a replacement (runbook: provisioning)."
        )


def ticket_subject(token: Token, request: Request) -> str:
    return f"Cloudflare token revoked: {token.name} (cftoken request {request.id})"


def ticket_body(token: Token, request: Request, inventory: Inventory, facts: dict[str, str]) -> str:
    """The incident note: what was revoked, by whom, why, and the consumer checklist (never a token value)."""
    zones = "all zones" if token.all_zones else ", ".join(token.zones) or "not zone-scoped"
    approvers = ", ".join(a.user for a in request.approvals) or "—"
    checklist = "\n".join(f"[ ] {c.who}: {c.how}" for c in token.consumers) or "[ ] (no consumers in the map)"
    return (
        f"Token: {token.name} (Cloudflare id {facts.get('token_id', '?')})\n"
        f"Scope: {token.scope}\nZones: {zones}\n"
        f"Requested by Slack user {request.requester}; approved by {approvers}\n"
        f"Reason: {request.reason}\nRevoked at: {facts.get('updated_at', '?')}\n"
        f"Last used: {facts.get('last_used_on', 'unknown')}\n"
        f"Vault: {inventory.vault.path} ({inventory.vault.environment}) now holds a REVOKED placeholder; "
        f"{token.name}__TOKEN_ID is kept for the record.\n\n"
        f"Consumers to clean up:\n{checklist}\n\nThen provision a replacement token (runbook: provisioning)."
    )


def revoke_token(services: Services, request_id: str, *, wait: bool = True) -> None:
    """Run (or resume) the revocation approved in `request_id`."""
    opened = open_operation(services, request_id, "revoke")
    if opened is None:
        return
    request, token, checkpoint = opened
    with token_lock(services, token.name, wait=wait) as lock:
        checkpoint = Checkpoint.load(services.redis, request_id)
        if request.state in ("queued", "running"):
            request = approvals.mark_running(services.redis, request_id, now=services.now())
            refresh_message(services, request)
        try:
            Revocation(services, checkpoint, request, token, lock).run()
        except OperationLost:
            log.warning("revoke %s: another worker took over", request_id)
        except CftokenError as exc:
            stop(services, checkpoint, request, token, exc)


def stop(services: Services, checkpoint: Checkpoint, request: Request, token: Token, exc: CftokenError) -> None:
    """Fail cleanly before the delete; after the vault write, succeed and keep retrying the ticket; else pause."""
    step = checkpoint.step
    if step in BEFORE_DELETE or (step == "preflight" and request.state == "running" and _will_not_fix_itself(exc)):
        result = f"Revoke of {token.name} stopped before anything changed: {exc}\nNext step: {exc.runbook}"
        conclude(services, checkpoint, ok=False, result=result)
        checkpoint.finish(now=services.now())
        return
    if step == "vaulted":
        if request.state == "running":
            revocation = f"the token is revoked, but the incident ticket could not be opened yet ({exc})"
            conclude(
                services,
                checkpoint,
                ok=True,
                result=f"Revoked {token.name}: {revocation}. The bot retries the ticket until it exists.",
            )
        checkpoint.save(now=services.now(), note=f"ticket pending: {exc}")
        return
    checkpoint.save(now=services.now(), note=f"paused after {step}: {exc}")
    show_step(services, checkpoint.request_id, f"{step} — paused, retrying automatically")
    if checkpoint.claim_post(f"paused_{step}"):
        post(services, f"⚠️ Revoke of {token.name} paused after {step}: {exc}\nNext step: {exc.runbook}", thread_ts=None)


def _will_not_fix_itself(exc: CftokenError) -> bool:
    """A refused delete (bad management token, no permission) ends the request; an outage pauses it for a retry."""
    return isinstance(exc, ManagementTokenInvalid | NotAuthorized)
