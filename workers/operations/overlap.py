"""roll NAME for a token with `rotation = "overlap"`: create a twin, store and verify it, let the old value live
`overlap_minutes` more, then delete the old token. Checkpointed steps, declared once in its table.

Orphan-free as provisioning is (workers/minting.py): the intent and its instant are checkpointed before the create;
resumed at the create, a twin whose value reached the vault is kept, any other twin issued since the intent is
deleted (never the old token), and the create runs again. The wait for the deadline holds the operation open (the
request stays running, so a second roll cannot start) and costs nothing: the clock's reconcile looks at it every
minute (`waiting`: Redis only) and resumes it only at the deadline or after an approver pressed Retire old now (the
old token is deleted at once) or Keep old (it stays live, remembered in domain/kept_tokens.py for a revoke). Who
ended the wait is settled in the request record (`overlap_requests.overlap_due`), so a click and the deadline
never race.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import SecretStr

from domain import kept_tokens, overlap_requests, requests, status
from domain.cloudflare_tokens import CfToken
from domain.errors import (
    CftokenError,
    CreateLoop,
    RequestNotFound,
    TokenNotFound,
)
from domain.health import after_roll
from domain.messages import slack_date
from domain.timestamps import parse_timestamp, utc_stamp
from domain.vault import token_id_of
from workers.channel import post
from workers.consumers.step import CHANGES, LABEL, ConsumerSteps
from workers.operations import approval, minting
from workers.operations.checkpoints import Checkpoint
from workers.operations.checks import AT_CLOUDFLARE, VAULT_VALUE, PreflightCheck, Reads, quota, stop_at_first
from workers.operations.machine import Step, StepMachine
from workers.operations.minted_value import MintedValueSteps

log = logging.getLogger(__name__)
MAX_CREATES = 3
OLD_WORKS = "the bot has not touched the old token"


class OverlapRotation(ConsumerSteps, MintedValueSteps, StepMachine):
    """One overlap rotation in progress, advanced one checkpointed step at a time; it waits at `retire`."""

    verb, noun = "Roll", "roll"

    @classmethod
    def idle(cls, checkpoint: Checkpoint, request: requests.Request, now: datetime) -> bool:
        return waiting(checkpoint, request, now)

    checks = (VAULT_VALUE, AT_CLOUDFLARE, PreflightCheck("quota (room for the twin)", quota, needs="cloudflare"))

    def preflight(self) -> None:
        self.show("pre-flight")
        old_id = token_id_of(self.token, self.vault)
        reads = Reads(self.token, self.vault, self.cloudflare)
        stop_at_first(self.checks, reads)  # room for the twin, too
        approval.bind(self, old_id, reads.current.issued_on if reads.current else None)  # before any write
        scopes = self.token.companion("__SCOPES")
        self.services.infisical.set(scopes, self.vault.values.get(scopes, SecretStr(self.token.scope)))
        planned = (self.services.now() + timedelta(days=self.token.cadence_days)).replace(microsecond=0)
        self.advance(old_token_id=old_id, expires_on=planned.isoformat(), strategy="overlap")

    def create(self) -> None:
        """Clean up after a lost attempt, record the intent, POST the twin, its value straight into the vault."""
        if self.checkpoint.get("intent_at") is not None and self.adopt_or_clean():
            return
        creates = int(self.checkpoint.get("creates") or 0) + 1
        if creates > MAX_CREATES:
            raise CreateLoop(f"{self.token.name}'s twin was created {MAX_CREATES} times without a value being kept")
        old = self.cloudflare.get_token(self.old_id)
        self.goto("create", intent_at=self.services.now().isoformat(), creates=str(creates))
        if self.lost:
            return
        self.show("creating the twin at Cloudflare")
        self.mint_and_store(twin_policies(old), old.condition)

    def spare_ids(self) -> list[str]:
        return [self.old_id]

    def write_companions(self) -> None:
        self.write_id_and_expiry()
        self.advance()

    def verify(self) -> None:
        status.record_bot_use(self.services.redis, [self.token.name], at=self.services.now())
        self.advance(probe=self.verify_minted("the twin"), verified_at=self.services.now().isoformat())
        self.show("verified")

    def announce(self) -> None:
        """Fix the deadline once, and tell the thread once until when the old value keeps working."""
        retire_at = self.checkpoint.get("retire_at")
        if retire_at is None:
            retire_at = (self.services.now() + timedelta(minutes=self.token.overlap)).replace(microsecond=0).isoformat()
            self.goto("announce", retire_at=retire_at)
        deadline = parse_timestamp(retire_at)
        post(self.services, f"🔁 {self.token.name}: the new token {self.token_id} is in the vault and verified active. "
                            f"The old value keeps working until {slack_date(deadline)} ({utc_stamp(deadline)}); "
                            "consumers reading the vault already get the new one.",
             request_id=self.request.id, key="overlap_announced")
        status.record_overlap(self.services.redis, self.token.name, retire_at=deadline)
        self.on_request(overlap_requests.set_retire_at, retire_at=deadline)  # the message offers the buttons from now
        self.advance()

    def consumers(self) -> None:
        """Follow the consumers' secret syncs to the new value while the old one still works."""
        self.follow_consumers()
        self.advance()

    def retire(self) -> None:
        """Wait for the deadline or an approver's choice; then delete the old token (one already gone is done), or
        keep it live."""
        deadline = parse_timestamp(self.checkpoint.fields["retire_at"])
        assert deadline is not None
        end = self.overlap_end(deadline)
        if end is None:
            if self.request.step != waiting_text(deadline):
                self.show(waiting_text(deadline))
            self.waiting = True
            return
        if end == "keep_old":
            self.keep_old()
            return
        try:
            self.cloudflare.delete_token(self.old_id)
        except TokenNotFound:
            log.info("overlap %s: the old token %s was already gone", self.request.id, self.old_id)
        self.advance()
        self.show("old token deleted")

    def overlap_end(self, deadline: datetime) -> str | None:
        """How the wait ends, settled in the request record (an approver's choice, or the deadline); None: waiting."""
        now = self.services.now()
        settled = self.on_request(overlap_requests.overlap_due, deadline=deadline)
        if settled is None:  # Redis lost the request: only the deadline is known
            return "deadline" if now >= deadline else None
        self.request = settled
        return settled.overlap_end

    def keep_old(self) -> None:
        """Keep old: remember the old token for a revoke of the name, and read what Cloudflare says of it now."""
        try:
            old = self.cloudflare.get_token(self.old_id)
        except TokenNotFound:
            self.goto("report", kept="gone")
            return
        kept_tokens.remember(self.services.redis, self.token.name, self.old_id, request_id=self.request.id,
                             now=self.services.now(), by=self.request.overlap_end_by)
        expires = old.expires_on.isoformat() if old.expires_on else "never"
        self.goto("report", kept=old.status, old_expires_on=expires)
        post(self.services, self.kept_text(broadcast=True), request_id=self.request.id, key="old_kept",
             broadcast=True, in_thread=not self.lost)

    def on_request(self, transition: Callable[..., requests.Request], **values: Any) -> requests.Request | None:
        """Run a request transition; None (and carry on from memory) when Redis lost the record."""
        if self.lost:
            return None
        try:
            return transition(self.services.redis, self.request.id, now=self.services.now(), **values)
        except RequestNotFound:
            self.request_lost = True
            return None

    def report(self) -> None:
        now, fields = self.services.now(), self.checkpoint.fields
        expires = parse_timestamp(fields.get("cloudflare_expires_on"))
        status.record_rotation(self.services.redis, self.token.name, at=now)
        status.record_overlap(self.services.redis, self.token.name, retire_at=None)
        after = after_roll(status.read_status(self.services.redis, self.token.name), now, expires)
        status.record_status(self.services.redis, self.token.name, after)
        settings = self.services.settings
        verified = parse_timestamp(fields.get("verified_at"))
        result = (f"Rolled {self.token.name} by overlap: the new token {self.token_id} is in the vault at "
                  f"{settings.infisical_secret_path} ({settings.infisical_environment}) with its __TOKEN_ID and "
                  f"__EXPIRES_AT, verified active{' ' + slack_date(verified) if verified else ''}. New expiry: "
                  f"{utc_stamp(expires) if expires else 'never'}. {self.old_token_text()} {fields.get('probe', '')}")
        self.conclude(ok=True, result=result.strip())

    def old_token_text(self) -> str:
        """What became of the old token: deleted at the deadline, deleted early by an approver, or kept by one."""
        request, fields = self.request, self.checkpoint.fields
        by, at = f"<@{request.overlap_end_by}>", slack_date(request.overlap_end_at) if request.overlap_end_at else ""
        if fields.get("kept"):
            return self.kept_text(broadcast=False)
        if request.overlap_end == "retire_now":
            planned = parse_timestamp(fields.get("retire_at"))
            return (f"The old token {self.old_id} was deleted early: {by} pressed Retire old now {at} (the overlap "
                    f"was to end {slack_date(planned) if planned else 'later'}).")
        return f"The old token {self.old_id} was deleted when the overlap ended."

    def kept_text(self, *, broadcast: bool) -> str:
        """Keep old's outcome: the old token left live, what Cloudflare said of it just now, and what follows."""
        request, fields, name = self.request, self.checkpoint.fields, self.token.name
        by, at = f"<@{request.overlap_end_by}>", slack_date(request.overlap_end_at) if request.overlap_end_at else ""
        head = f"🔁 {name}: " if broadcast else ""
        if fields.get("kept") == "gone":
            return (f"{head}{by} pressed Keep old {at}, but the old token {self.old_id} was already gone at "
                    f"Cloudflare: {name} has one live token, {self.token_id}.")
        expires = parse_timestamp(fields.get("old_expires_on"))
        dashboard = "someone deletes it in the Cloudflare dashboard"
        until = (f"its own expiry {slack_date(expires)} or until {dashboard}" if expires
                 else f"{dashboard} (it has no expiry)")
        return (f"{head}The old token {self.old_id} was kept by {by} ({at}): Cloudflare listed it as "
                f"{fields.get('kept')} when the overlap ended, so its value still works until {until}. "
                f"`/cftoken verify` and the scan report it as a second live token named {name}; a revoke of {name} "
                "deletes both.")

    def nothing_changed(self, error: BaseException) -> bool:
        """At the create, after an attempt: whatever it made is cleaned up now; True when no twin is left."""
        if self.current.name != "create" or int(self.checkpoint.get("creates") or 0) == 0:
            return super().nothing_changed(error)
        try:  # a client of its own: the run's is closed by the time an error is judged
            since = parse_timestamp(self.checkpoint.fields["intent_at"])
            with self.services.management_client(self.vault, self.token) as cloudflare:
                minting.delete_lost(cloudflare, self.token.name, since=since, spare=[self.old_id])
                return all(t.id == self.old_id for t in minting.tokens_named(cloudflare, self.token.name))
        except CftokenError:
            return False

    def where(self, step: Step, *, ending: bool = False) -> str:
        if self.checkpoint.sealed() and not ending:
            return f"{step.where} The new value is held encrypted until the vault takes it."
        return step.where

    def ids_in_play(self) -> set[str]:
        """The old token and, once created, its twin: the vault names one, then the other."""
        return {i for i in (self.checkpoint.get("old_token_id"), self.checkpoint.get("token_id")) if i}

    @property
    def old_id(self) -> str:
        return self.checkpoint.fields["old_token_id"]

    table = (
        Step("preflight", "pre-flight", preflight, changed=False,
             where="Nothing was changed: the vault holds the value it held before.",
             changes="nothing (reads the vault and Cloudflare; checks the vault folder takes writes and that "
                     "Cloudflare has room for a second token)"),
        Step("create", "creating the twin at Cloudflare", create, changed=False, risky=True,
             where=f"Cloudflare may have created the twin without the bot keeping its value; the bot deletes such a "
                   f"token before it creates again. The vault holds the old value and {OLD_WORKS}.",
             changes="Cloudflare: a second token with the same name, policies and condition (POST /user/tokens), "
                     "expiring one cadence from now; the vault: its value"),
        Step("store", "storing the new value in the vault", MintedValueSteps.store, changed=True,
             where=f"The twin exists at Cloudflare; its value is held encrypted, not yet in the vault; {OLD_WORKS}.",
             changes="the vault: the new value (when the first write was refused)"),
        Step("companions", "writing the companions", write_companions, changed=True,
             where=f"The new value is in the vault; __TOKEN_ID and __EXPIRES_AT may still be the old token's; "
                   f"{OLD_WORKS}.",
             changes="the vault: __TOKEN_ID (the twin's id) and __EXPIRES_AT (its expires_on)"),
        Step("verify", "verifying the new value", verify, changed=True,
             where=f"The new value and its companions are in the vault, not verified yet; {OLD_WORKS}.",
             changes="nothing (verifies the new value and probes its job call)"),
        Step("announce", "telling the thread", announce, changed=True,
             where=f"The new value is in the vault and verified; {OLD_WORKS}; the thread has not been told when it "
                   "stops.",
             changes="Slack: the thread is told until when the old value keeps working"),
        Step("consumers", LABEL, consumers, changed=True, changes=CHANGES,
             where=f"The new value is in the vault and verified; {OLD_WORKS}; its consumers' syncs were being "
                   "followed."),
        Step("retire", "retiring the old token", retire, changed=True,
             where=f"The new value is in the vault and verified; {OLD_WORKS}: it is deleted when the overlap ends.",
             changes="Cloudflare: the old token is deleted when the overlap ends, or at once when an approver presses "
                     "Retire old now (DELETE /user/tokens/{old id}); Keep old leaves it live"),
        Step("report", "reporting", report, changed=True,
             where="The old token is deleted (or kept live by an approver's Keep old); the new value is in the vault "
                   "and verified.",
             changes="Slack: the result in the channel"),
    )


def waiting_text(deadline: datetime) -> str:
    """The step a waiting overlap shows on its message (shown once: reconcile redraws nothing while it waits)."""
    return f"overlap: the old value keeps working until {slack_date(deadline)}"


def waiting(checkpoint: Checkpoint, request: requests.Request, now: datetime) -> bool:
    """An overlap at `retire` before its deadline, no approver's choice made and its wait already shown: nothing to
    do, so a resume costs no vault, Cloudflare or Slack call."""
    deadline = parse_timestamp(checkpoint.get("retire_at"))
    return (checkpoint.get("strategy") == "overlap" and checkpoint.step == "retire" and deadline is not None
            and now < deadline and request.overlap_end is None and request.step == waiting_text(deadline))


def twin_policies(old: CfToken) -> list[dict[str, Any]]:
    """The old token's policies as a create body takes them: no policy ids (Cloudflare refuses reused ones)."""
    return [{"effect": policy.effect, "resources": policy.resources,
             "permission_groups": [{"id": group.id} for group in policy.permission_groups]}
            for policy in old.policies]
