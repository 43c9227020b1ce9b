"""The steps provisioning and overlap rotation share once a token is minted: its value straight into the vault, the
recovery after a lost attempt, the resumed store of a sealed value, its id and expiry companions, and the check that
the vault's value is that token.

A mixin for their StepMachine subclasses; `spare_ids` names tokens of the same name that recovery must never delete
(overlap's old token).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import SecretStr
from redis.exceptions import RedisError

from domain.errors import NewTokenRejected, TokenInvalid
from domain.timestamps import parse_timestamp, utc_stamp
from workers.operations import minting
from workers.operations.sealing import seal
from workers.verify.verification import functional_probe

log = logging.getLogger(__name__)


class MintedValueSteps:
    """create's tail, adopt_or_clean and store, for a StepMachine that mints a token by name."""

    def spare_ids(self) -> list[str]:
        return []

    def mint_and_store(self, policies: list[dict[str, Any]], condition: dict[str, Any] | None) -> None:
        """POST the token, then its value straight into the vault (sealed into the checkpoint only if that fails)."""
        created, value = minting.create(self.cloudflare, self.token.name, policies,
                                        expires_on=parse_timestamp(self.checkpoint.fields["expires_on"]),
                                        condition=condition)
        self.new_value = value
        made = {"token_id": created.id,
                "cloudflare_expires_on": utc_stamp(created.expires_on) if created.expires_on else ""}
        try:
            self.lock.renew()  # a worker whose lock went to another must not write over that worker's value
        except RedisError:
            log.warning("%s %s: Redis is not answering; storing the new value anyway",
                        self.checkpoint.action, self.request.id)
        try:
            self.services.infisical.set(self.token.name, value)
        except Exception:
            self.checkpoint.save(now=self.services.now(), step="store", sealed=seal(value, self.secret_key), **made)
            raise
        self.goto("companions", **made, written_at=utc_stamp(self.services.now()))  # consumers follow from it
        self.show("stored in the vault")

    def adopt_or_clean(self) -> bool:
        """After a lost attempt: keep the token whose value reached the vault (True), else delete the lost ones."""
        since = parse_timestamp(self.checkpoint.fields["intent_at"])
        spare = self.spare_ids()
        named = [t for t in minting.tokens_named(self.cloudflare, self.token.name) if t.id not in spare]
        vault = self.services.read_vault()
        value = vault.values.get(self.token.name)
        if value is not None and not vault.revoked(self.token.name) and named:
            try:
                verified = self.cloudflare.verify(value)
            except TokenInvalid:
                verified = None
            kept = next((token for token in named if verified and token.id == verified.id), None)
            if kept is not None:
                minting.delete_lost(self.cloudflare, self.token.name, since=since, keep=kept.id, spare=spare)
                self.goto("companions", token_id=kept.id,
                          cloudflare_expires_on=utc_stamp(kept.expires_on) if kept.expires_on else "")
                return True
        minting.delete_lost(self.cloudflare, self.token.name, since=since, spare=spare)
        return False

    def write_id_and_expiry(self) -> None:
        """The minted token's __TOKEN_ID and (when it expires) __EXPIRES_AT, from the checkpoint."""
        fields = self.checkpoint.fields
        self.services.infisical.set(self.token.companion("__TOKEN_ID"), SecretStr(fields["token_id"]))
        if fields.get("cloudflare_expires_on"):
            self.services.infisical.set(self.token.companion("__EXPIRES_AT"),
                                        SecretStr(fields["cloudflare_expires_on"]))

    def verify_minted(self, called: str) -> str:
        """Verify the vault's (or the held) value is the minted token, active, and probe its job call; the probe's
        line. NewTokenRejected names the token as `called` ("the twin", "the new token") when it is another."""
        value = self.new_value or self.services.infisical.get(self.token.name)
        try:
            verification = self.cloudflare.verify(value)
        except TokenInvalid as exc:
            raise NewTokenRejected(f"the new value of {self.token.name} does not verify: {exc}") from None
        if verification.status != "active" or verification.id != self.token_id:
            raise NewTokenRejected(f"the vault's value of {self.token.name} verifies as token {verification.id} "
                                   f"({verification.status}), not {called} {self.token_id}")
        probe = functional_probe(self.services, self.cloudflare, self.token, value)
        self.new_value = None
        return probe

    def store(self) -> None:
        """Resume a create whose vault write failed: the sealed value, or (unusable) delete and create again."""
        value = self.held_value()
        if value is None:
            log.warning("%s %s: sealed value unusable; creating again", self.checkpoint.action, self.request.id)
            self.goto("create")
            return
        self.services.infisical.set(self.token.name, value)
        self.goto("companions", drop=("sealed",), written_at=utc_stamp(self.services.now()))
        self.show("stored in the vault")
