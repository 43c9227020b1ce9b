"""What roll and revoke share: the per-token lock, the vault folder read, the management token, the token id."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import SecretStr
from redis.exceptions import LockError

from bot import approvals
from bot.approvals import Request
from bot.errors import CftokenError, VaultSecretMissing
from bot.inventory import Token
from workers.checkpoints import Checkpoint
from workers.clients.cloudflare import CloudflareClient
from workers.services import Services

log = logging.getLogger(__name__)


class TokenBusy(CftokenError):
    runbook = "Another operation on this token is running; this one resumes when it ends."


class NoTokenId(CftokenError):
    runbook = "Set the token's __TOKEN_ID companion in the vault (or token_id in the inventory)."


class OperationLost(CftokenError):
    runbook = "Another worker took over this operation (its lock expired); that worker finishes it."


def open_operation(services: Services, request_id: str, action: str) -> tuple[Request, Token, Checkpoint] | None:
    """The approved request, its token and its checkpoint (created at "queued"); None when nothing is left to do."""
    request = approvals.load(services.redis, request_id, now=services.now())
    if request is None:
        log.error("%s %s: no such request", action, request_id)
        return None
    token = services.inventory.find(request.token)
    assert token is not None, "requests are only opened for inventory tokens"
    checkpoint = Checkpoint.open(services.redis, request_id, action=action, token=token.name, now=services.now())
    return None if checkpoint.step == "done" else (request, token, checkpoint)


@contextmanager
def token_lock(services: Services, token: str, *, wait: bool = True) -> Iterator[TokenLock]:
    """Hold the one-operation-per-token lock; it expires on its own if the holder dies."""
    seconds = services.settings.cftoken_lock_seconds
    lock = services.redis.lock(
        f"cftoken:lock:{token}", timeout=seconds, blocking_timeout=(seconds + 5) if wait else 0, thread_local=False
    )
    if not lock.acquire():
        raise TokenBusy(f"another operation on {token} is running")
    try:
        yield TokenLock(lock)
    finally:
        try:
            lock.release()
        except LockError:
            log.warning("lock on %s had already expired when the operation ended", token)


@dataclass
class TokenLock:
    _lock: object

    def renew(self) -> None:
        """Restart the lock's expiry before a step; OperationLost if another holder took it meanwhile."""
        try:
            self._lock.reacquire()  # type: ignore[attr-defined]
        except LockError:
            raise OperationLost("the token lock expired while this worker held it") from None


class StepMachine:
    """An operation as named steps: `steps` maps the checkpoint's last completed step to the next one to run."""

    services: Services
    checkpoint: Checkpoint
    lock: TokenLock
    steps: dict[str, Callable[[], None]]

    def run(self) -> None:
        """Run steps until done, renewing the token lock before each (a lost lock stops this worker)."""
        while self.checkpoint.step != "done":
            self.lock.renew()
            self.steps[self.checkpoint.step]()

    def save(self, step: str, **values: str) -> None:
        self.checkpoint.save(now=self.services.now(), step=step, **values)


REVOKED_PLACEHOLDER = "REVOKED"  # what a revoke leaves as the token's vault value: "REVOKED <when> by <request>"


@dataclass
class Vault:
    """One reading of the vault folder: token values and companions, as SecretStr."""

    values: dict[str, SecretStr]
    path: str
    environment: str

    def value(self, name: str) -> SecretStr:
        """A token value; a blank one counts as missing (it would only reach Cloudflare as 'Bearer ')."""
        value = self.values.get(name)
        if value is None or not value.get_secret_value().strip():
            raise VaultSecretMissing(name, self.path, self.environment)
        return value

    def revoked(self, name: str) -> bool:
        """True when the bot revoked the token and left its placeholder in the vault."""
        value = self.values.get(name)
        return value is not None and value.get_secret_value().startswith(REVOKED_PLACEHOLDER + " ")

    def text(self, name: str) -> str | None:
        """A companion's plain text (IDs, timestamps, scope strings are not secrets), or None."""
        value = self.values.get(name)
        return value.get_secret_value().strip() if value is not None else None


def read_vault(services: Services) -> Vault:
    """The whole folder in one request."""
    settings = services.settings
    return Vault(services.infisical.list_folder(), settings.infisical_secret_path, settings.infisical_environment)


def management_client(services: Services, vault: Vault) -> CloudflareClient:
    """A Cloudflare client holding the management token read from the vault."""
    return services.cloudflare(vault.value(services.inventory.management_token))


def token_id_of(token: Token, vault: Vault) -> str:
    """The Cloudflare id: the inventory's, else the vault's __TOKEN_ID companion."""
    token_id = token.token_id or vault.text(token.companion("__TOKEN_ID"))
    if not token_id:
        raise NoTokenId(f"{token.name} has no token id in the inventory and no {token.name}__TOKEN_ID in the vault")
    return token_id
