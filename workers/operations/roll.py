"""roll NAME: the runbook's programmatic roll as checkpointed steps that a new worker can resume after a crash.

The steps are declared once, in STEPS below. The value Cloudflare hands back is written to the vault at once,
before anything else (a Redis write, a Slack call) can stop the worker; only if the vault refuses it is it sealed
(encrypted) into the checkpoint for the "store" step to retry. A checkpoint at "roll" with rolls > 0 holds no
value, so the roll is repeated (the lost value is already dead); a vault value that fails verification sends the
rotation back to roll again; at most MAX_ROLLS rolls. A resumed step re-reads the vault first and never writes
over a revoke's REVOKED placeholder.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from pydantic import SecretStr
from redis.exceptions import RedisError

from domain import status
from domain.cloudflare_tokens import CfToken
from domain.errors import (
    CftokenError,
    RollLoop,
    TokenInvalid,
    TokenRevoked,
)
from domain.health import after_roll
from domain.health_words import unfixed_text
from domain.inventory import Token
from domain.timestamps import parse_timestamp, utc_stamp
from domain.vault import Vault, token_id_of
from workers.clients.at_once import at_once
from workers.clients.cloudflare import CloudflareClient
from workers.consumers.step import CHANGES, LABEL, ConsumerSteps
from workers.operations import approval
from workers.operations.checks import AT_CLOUDFLARE, VAULT_VALUE, Reads, not_revoked, stop_at_first
from workers.operations.machine import Step, StepMachine
from workers.operations.sealing import seal
from workers.services import Services

log = logging.getLogger(__name__)
MAX_ROLLS = 3
ROLLED = "Cloudflare has rolled the token: the value in the vault no longer works, and the new value is not in it."


class Rotation(ConsumerSteps, StepMachine):
    """One roll in progress: the checkpoint plus the clients it needs, advanced one step at a time."""

    verb, noun = "Roll", "roll"
    resumes_ended = True  # its last step, following the consumers, runs on after the result is posted

    checks = (VAULT_VALUE, AT_CLOUDFLARE)
    record: CfToken | None = None  # the record read beside the vault write, for the expiry step (memory only)
    verified: bool | None = None  # the new value's verify, made beside the expiry's PUT, for the verify step

    def preflight(self) -> None:
        self.show("pre-flight")
        token_id = token_id_of(self.token, self.vault)
        reads = Reads(self.token, self.vault, self.cloudflare)
        stop_at_first(self.checks, reads)
        approval.bind(self, token_id, reads.current.issued_on if reads.current else None)  # before any write
        scopes = self.token.companion("__SCOPES")
        current = self.vault.values.get(scopes, SecretStr(self.token.scope))
        self.services.infisical.set(scopes, current)  # proves the folder is writable, changes nothing
        self.advance(token_id=token_id)

    def roll(self) -> None:
        """PUT …/value, then the new value straight into the vault: nothing in between can lose it."""
        rolls = int(self.checkpoint.get("rolls") or 0) + 1
        if rolls > MAX_ROLLS:
            raise RollLoop(f"{self.token.name} was rolled {MAX_ROLLS} times without a value Cloudflare accepts")
        if rolls > 1:
            self.refuse_if_revoked(self.services.read_vault())
        self.goto("roll", rolls=str(rolls))  # the intent, before the call: a crash now means "roll again"
        if self.lost:
            return  # Redis lost the records before this roll: the run loop stops, nothing changed
        new_value = self.cloudflare.roll(self.token_id)
        self.new_value = new_value
        try:
            self.lock.renew()  # a worker whose lock went to another must not write over that worker's value
        except RedisError:
            log.warning("roll %s: Redis is not answering; storing the new value anyway", self.request.id)
        stored, self.record = at_once(lambda: _stored(self.services, self.token.name, new_value),
                                      lambda: _record(self.cloudflare, self.token_id))  # the expiry step's read
        if stored is not None:
            self.checkpoint.save(now=self.services.now(), step="store", sealed=seal(new_value, self.secret_key))
            raise stored
        self.goto("expiry", written_at=utc_stamp(self.services.now()))
        self.show("stored")

    def store(self) -> None:
        """Resume a roll whose vault write failed: the sealed value, unless the world moved on meanwhile."""
        value = self.held_value()
        if value is None:
            log.warning("rotation %s: sealed value unusable; rolling again", self.checkpoint.request_id)
            self.goto("roll")
            return
        self.refuse_if_revoked(self.services.read_vault())
        self.cloudflare.get_token(self.token_id)  # TokenNotFound (404) if it was deleted meanwhile
        self.services.infisical.set(self.token.name, value)
        self.goto("expiry", drop=("sealed",), written_at=utc_stamp(self.services.now()))
        self.show("stored")

    def extend_expiry(self) -> None:
        current, self.record = self.record or self.cloudflare.get_token(self.token_id), None
        if current.expires_on is None:
            self.advance()
            return
        planned = self.checkpoint.get("expires_on")
        if planned is None:  # fix the instant once, so a resumed step writes the same one
            planned = (self.services.now() + timedelta(days=self.token.cadence_days)).replace(microsecond=0).isoformat()
            self.goto("expiry", expires_on=planned)
        expires_on = parse_timestamp(planned)
        # The new value's verify goes beside the PUT when the token is active already (an expired one is revived by
        # the PUT itself); only an "active" answer is kept for the verify step, which asks again otherwise.
        held = self.new_value if current.status == "active" else None
        if current.status == "expired":  # a new expiry revives it; a full-replace PUT must say so
            current = current.model_copy(update={"status": "active"})
        if held is not None:
            status.record_bot_use(self.services.redis, [self.token.name], at=self.services.now())
        _, self.verified = at_once(lambda: self.cloudflare.update_token(current, expires_on=expires_on),
                                   lambda: _early_verify(self.cloudflare, held))
        self.services.infisical.set(self.token.companion("__EXPIRES_AT"), SecretStr(utc_stamp(expires_on)))
        self.advance()

    def verify(self) -> None:
        active, self.verified = self.verified, None
        if not active or self.new_value is None:
            value = self.new_value or self.services.infisical.get(self.token.name)
            status.record_bot_use(self.services.redis, [self.token.name], at=self.services.now())  # not "other use"
            active = _is_active(self.cloudflare, value)
        if not active:
            log.warning("rotation %s: the vault's value is not active; rolling again", self.checkpoint.request_id)
            self.new_value = None
            self.goto("roll")
            return
        self.new_value = None  # stored and verified: nothing needs it any more
        self.advance()
        self.show("verified")

    def report(self) -> None:
        now = self.services.now()
        expires = self.checkpoint.get("expires_on")
        status.record_rotation(self.services.redis, self.token.name, at=now)
        after = after_roll(status.read_status(self.services.redis, self.token.name), now,
                           parse_timestamp(expires) if expires else None)
        status.record_status(self.services.redis, self.token.name, after)
        unfixed = unfixed_text(after, now)
        result = _success_text(self.token, self.services, expires) + (f"\n{unfixed}" if unfixed else "")
        self.conclude(ok=True, result=result, advance=True)  # the consumers follow, with the result posted

    def consumers(self) -> None:
        """The roll's result is posted: follow its consumers (workers/consumers/step.py), then end."""
        self.follow_consumers()
        self.checkpoint.finish(now=self.services.now())

    def follow_up(self, error: BaseException, why: str) -> None:
        self.consumers_follow_up(error, why)

    def refuse_if_revoked(self, vault: Vault) -> None:
        not_revoked(Reads(self.token, vault))

    def nothing_changed(self, error: BaseException) -> bool:
        """The table's answer; at the roll itself, after an attempt, the vault's value tells (checked now)."""
        if self.current.name != "roll" or int(self.checkpoint.get("rolls") or 0) == 0:
            return super().nothing_changed(error)
        if isinstance(error, TokenRevoked):
            return False
        return int(self.checkpoint.get("rolls") or 0) == 1 and _vault_value_still_live(self.services, self.token)

    def where(self, step: Step, *, ending: bool = False) -> str:
        if not self.checkpoint.sealed():
            return step.where
        if ending:
            return f"{step.where} The new value the bot held was discarded; a new roll makes a fresh one."
        return f"{step.where} The new value is held encrypted until the vault takes it."

    table = (
        Step("preflight", "pre-flight", preflight, changed=False,
             where="Nothing was changed: the vault holds the value it held before.",
             changes="nothing (reads the vault and Cloudflare; checks the vault folder takes writes)"),
        Step("roll", "the roll at Cloudflare", roll, changed=False, risky=True,
             where="Cloudflare may have rolled the token: the value in the vault may no longer work.",
             changes="Cloudflare: a new value (PUT /user/tokens/{id}/value); the old value stops working at once"),
        Step("store", "storing the new value in the vault", store, changed=True, where=ROLLED,
             changes="the vault: the new value (when the first write was refused)"),
        Step("expiry", "moving the expiry", extend_expiry, changed=True,
             where="The new value is in the vault and works; Cloudflare's expires_on and __EXPIRES_AT still show the "
                   "old expiry.",
             changes="Cloudflare: expires_on moved to the new expiry; the vault: __EXPIRES_AT"),
        Step("verify", "verifying the new value", verify, changed=True,
             where="The new value is in the vault and both expiries are moved; it is not verified at Cloudflare yet.",
             changes="nothing (GET /user/tokens/verify with the new value)"),
        Step("report", "reporting", report, changed=True,
             where="The new value is in the vault, verified active at Cloudflare, and both expiries are moved.",
             changes="Slack: the result in the channel"),
        Step("consumers", LABEL, consumers, changed=True, settled=True, changes=CHANGES,
             where="The roll is done and reported; the consumers' secret syncs were being followed."),
    )


def _stored(services: Services, name: str, value: SecretStr) -> BaseException | None:
    """The new value written to the vault: None, or what the write raised (the caller seals the value)."""
    try:
        services.infisical.set(name, value)
    except Exception as exc:  # noqa: BLE001 - any failure: the value is sealed, then the error raised
        return exc
    return None


def _record(cloudflare: CloudflareClient, token_id: str) -> CfToken | None:
    """The token's record read beside the vault write, for the expiry step; None when it could not be read (the
    expiry step then reads it itself and reports what Cloudflare says)."""
    try:
        return cloudflare.get_token(token_id)
    except CftokenError:
        return None


def _early_verify(cloudflare: CloudflareClient, value: SecretStr | None) -> bool | None:
    """Verify beside the expiry's PUT: None when there is no value in memory or Cloudflare did not answer (the
    verify step then asks itself and reports what it meets)."""
    try:
        return _is_active(cloudflare, value) if value is not None else None
    except CftokenError:
        return None


def _is_active(cloudflare: CloudflareClient, value: SecretStr) -> bool:
    try:
        return cloudflare.verify(value).status == "active"
    except TokenInvalid:
        return False


def _vault_value_still_live(services: Services, token: Token) -> bool:
    """After a roll call that went unanswered: True when the vault's value still works (Cloudflare never rolled)."""
    try:
        vault = services.read_vault()
        with services.management_client(vault, token) as cloudflare:
            return cloudflare.verify(vault.value(token.name)).status == "active"
    except CftokenError:
        return False


def _success_text(token: Token, services: Services, expires: str | None) -> str:
    settings = services.settings
    expiry = f"New expiry: {expires[:10]} ({token.cadence_days} days)." if expires else "The token has no expiry."
    return (
        f"Rolled {token.name}: the new value is stored in the vault at {settings.infisical_secret_path} "
        f"({settings.infisical_environment}) and verified active at Cloudflare. {expiry}\n"
        "The previous value stopped working; consumers reading from the vault pick up the new one."
    )
