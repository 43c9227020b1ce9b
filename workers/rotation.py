"""roll NAME: the runbook's programmatic roll as checkpointed steps that a new worker can resume after a crash.

Steps (the checkpoint holds the last one completed):
    queued     → pre-flight: management token works, the token exists, the vault folder is writable
    preflight  → rolling: intent recorded, then PUT /user/tokens/{id}/value
    rolling    → rolled: the new value sealed (encrypted) into the checkpoint
    rolled     → stored: the new value written to the vault; the sealed copy dropped in the same write
    stored     → expiry: Cloudflare's expires_on and __EXPIRES_AT moved to the same instant (now + cadence),
                 before the verify, so that rolling an expired token makes it work again
    expiry     → verified: the vault's value verified active at Cloudflare
    verified   → done: result posted
Resume rules: a checkpoint at "rolling" holds no value, so the roll is repeated (the lost value is already dead);
a vault value that fails verification sends the rotation back to roll again; at most MAX_ROLLS rolls.
Before the roll nothing has changed, so an error ends the request as failed. After it, an error pauses the
rotation (the sealed value stays encrypted in Redis) and the reconciler resumes it until it finishes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from pydantic import SecretStr

from domain import approvals, status
from domain.errors import CftokenError, RollLoop, SealBroken, TokenDisabled, TokenInvalid
from domain.inventory import Token
from domain.timestamps import parse_timestamp, utc_stamp
from domain.vault import Vault, token_id_of
from workers.checkpoints import Checkpoint
from workers.clients.cloudflare import CloudflareClient
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
from workers.sealing import seal, unseal
from workers.services import Services

log = logging.getLogger(__name__)
MAX_ROLLS = 3
BEFORE_ROLL = ("queued", "preflight")


class Rotation(StepMachine):
    """One roll in progress: the checkpoint plus the clients it needs, advanced one step at a time."""

    def __init__(self, services: Services, checkpoint: Checkpoint, token: Token, lock: TokenLock) -> None:
        self.services, self.checkpoint, self.token, self.lock = services, checkpoint, token, lock
        self.vault: Vault = read_vault(services)
        self.cloudflare: CloudflareClient = management_client(services, self.vault)
        self.new_value: SecretStr | None = None  # held in memory only between roll and store
        self.steps: dict[str, Callable[[], None]] = {
            "queued": self.preflight,
            "preflight": self.roll,
            "rolling": self.roll,
            "rolled": self.store,
            "stored": self.extend_expiry,
            "expiry": self.verify,
            "verified": self.report,
        }

    def preflight(self) -> None:
        show_step(self.services, self.checkpoint.request_id, "pre-flight")
        token_id = token_id_of(self.token, self.vault)
        if self.cloudflare.get_token(token_id).status == "disabled":  # also proves the management token works
            raise TokenDisabled(f"{self.token.name} is disabled at Cloudflare; a roll would not make it work")
        scopes = self.token.companion("__SCOPES")
        current = self.vault.values.get(scopes, SecretStr(self.token.scope))
        self.services.infisical.set(scopes, current)  # proves the folder is writable, changes nothing
        self.save("preflight", token_id=token_id)

    def roll(self) -> None:
        rolls = int(self.checkpoint.get("rolls") or 0) + 1
        if rolls > MAX_ROLLS:
            raise RollLoop(f"{self.token.name} was rolled {MAX_ROLLS} times without a value Cloudflare accepts")
        self.save("rolling", rolls=str(rolls))
        new_value = self.cloudflare.roll(self.token_id)
        self.checkpoint.save(now=self.services.now(), step="rolled", sealed=seal(new_value, self.secret_key))
        self.new_value = new_value
        show_step(self.services, self.checkpoint.request_id, "rolled")

    def store(self) -> None:
        value = self.new_value
        if value is None:
            sealed = self.checkpoint.sealed()
            try:
                value = unseal(sealed, self.secret_key) if sealed else None
            except SealBroken:
                value = None
            if value is None:
                log.warning("rotation %s: sealed value unusable; rolling again", self.checkpoint.request_id)
                self.save("preflight")
                return
        self.services.infisical.set(self.token.name, value)
        self.checkpoint.save(now=self.services.now(), step="stored", drop=("sealed",))
        show_step(self.services, self.checkpoint.request_id, "stored")

    def verify(self) -> None:
        value = self.new_value or self.services.infisical.get(self.token.name)
        try:
            active = self.cloudflare.verify(value).status == "active"
        except TokenInvalid:
            active = False
        if not active:
            log.warning("rotation %s: the vault's value is not active; rolling again", self.checkpoint.request_id)
            self.new_value = None
            self.save("preflight")
            return
        self.new_value = None  # stored and verified: nothing needs it any more
        self.save("verified")
        show_step(self.services, self.checkpoint.request_id, "verified")

    def extend_expiry(self) -> None:
        current = self.cloudflare.get_token(self.token_id)
        if current.expires_on is None:
            self.save("expiry")
            return
        planned = self.checkpoint.get("expires_on")
        if planned is None:  # fix the instant once, so a resumed step writes the same one
            planned = (self.services.now() + timedelta(days=self.token.cadence_days)).replace(microsecond=0).isoformat()
            self.save("stored", expires_on=planned)
        expires_on = parse_timestamp(planned)
        if current.status == "expired":  # a new expiry revives it; a full-replace PUT must say so
            current = current.model_copy(update={"status": "active"})
        self.cloudflare.update_token(current, expires_on=expires_on)
        self.services.infisical.set(self.token.companion("__EXPIRES_AT"), SecretStr(utc_stamp(expires_on)))
        self.save("expiry")

    def report(self) -> None:
        now = self.services.now()
        expires = self.checkpoint.get("expires_on")
        status.record_rotation(self.services.redis, self.token.name, at=now)
        status.record_status(
            self.services.redis,
            self.token.name,
            status.TokenStatus(
                checked_at=now,
                source="roll",
                state="healthy",
                expires_on=parse_timestamp(expires) if expires else None,
                summary="rolled and verified active",
            ),
        )
        self.save("done")
        conclude(self.services, self.checkpoint, ok=True, result=_success_text(self.token, self.services, expires))
        self.checkpoint.finish(now=now)

    @property
    def token_id(self) -> str:
        return self.checkpoint.fields["token_id"]

    @property
    def secret_key(self) -> SecretStr:
        return self.services.settings.cftoken_secret_key


def roll_token(services: Services, request_id: str, *, wait: bool = True) -> None:
    """Run (or resume) the roll approved in `request_id`."""
    opened = open_operation(services, request_id, "roll")
    if opened is None:
        return
    _, token, checkpoint = opened
    with token_lock(services, token.name, wait=wait) as lock:
        checkpoint = Checkpoint.load(services.redis, request_id)  # another worker may have moved it meanwhile
        refresh_message(services, approvals.mark_running(services.redis, request_id, now=services.now()))
        try:
            rotation = Rotation(services, checkpoint, token, lock)
            try:
                rotation.run()
            finally:
                rotation.cloudflare.close()
        except OperationLost:
            log.warning("roll %s: another worker took over", request_id)
        except CftokenError as exc:
            stop(services, checkpoint, token, exc)


def stop(services: Services, checkpoint: Checkpoint, token: Token, exc: CftokenError) -> None:
    """An error ended or paused the rotation: fail cleanly if nothing changed, else pause for the reconciler."""
    step, rolls = checkpoint.step, int(checkpoint.get("rolls") or 0)
    if isinstance(exc, RollLoop):
        result = f"Roll of {token.name} gave up: {exc}\nNext step: {exc.runbook}"
        conclude(services, checkpoint, ok=False, result=result)
        checkpoint.finish(now=services.now())
        return
    nothing_changed = (rolls == 0 and step in BEFORE_ROLL) or (
        step == "rolling" and rolls == 1 and _vault_value_still_live(services, token)
    )
    if nothing_changed:
        result = (
            f"Roll of {token.name} stopped at {_STEP_NAMES.get(step, step)}: {exc}\n"
            f"Nothing was changed: the current value still works.\nNext step: {exc.runbook}"
        )
        conclude(services, checkpoint, ok=False, result=result)
        checkpoint.finish(now=services.now())
        return
    note = f"paused after '{_STEP_NAMES.get(step, step)}': {exc}"
    already_noted = checkpoint.get("note") == note
    checkpoint.save(now=services.now(), note=note)
    show_step(services, checkpoint.request_id, f"{_STEP_NAMES.get(step, step)} — paused, retrying automatically")
    if not already_noted:
        post(services, _paused_text(token, step, exc), thread_ts=None)


def _vault_value_still_live(services: Services, token: Token) -> bool:
    """After a failed roll call: True when the vault's value still works, i.e. Cloudflare never rolled."""
    try:
        vault = read_vault(services)
        with management_client(services, vault) as cloudflare:
            return cloudflare.verify(vault.value(token.name)).status == "active"
    except CftokenError:
        return False


_STEP_NAMES = {
    "queued": "pre-flight",
    "preflight": "the roll at Cloudflare",
    "rolling": "the roll at Cloudflare",
    "rolled": "storing the new value in the vault",
    "stored": "moving the expiry",
    "expiry": "verifying the new value",
    "verified": "reporting",
}


def _paused_text(token: Token, step: str, exc: CftokenError) -> str:
    held = (
        "The new value is held encrypted until the vault accepts it."
        if step == "rolled"
        else "The vault may hold a value Cloudflare no longer accepts until the rotation finishes."
    )
    return (
        f"⚠️ Roll of {token.name} paused at {_STEP_NAMES.get(step, step)}: {exc}\n{held}\n"
        f"The bot retries every minute; an operator can run `cftoken reconcile` once the cause is fixed.\n"
        f"Next step: {exc.runbook}"
    )


def _success_text(token: Token, services: Services, expires: str | None) -> str:
    settings = services.settings
    expiry = f"New expiry: {expires[:10]} ({token.cadence_days} days)." if expires else "The token has no expiry."
    return (
        f"Rolled {token.name}: the new value is stored in the vault at {settings.infisical_secret_path} "
        f"({settings.infisical_environment}) and verified active at Cloudflare. {expiry}\n"
        "The previous value stopped working; consumers reading from the vault pick up the new one."
    )
