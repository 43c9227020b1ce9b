"""What roll and revoke share: the per-token lock, the step machine, the vault folder read, the management token."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis.exceptions import LockError

from domain import approvals
from domain.approvals import Request
from domain.errors import OperationLost, TokenBusy
from domain.inventory import Token
from domain.vault import Vault
from workers.checkpoints import Checkpoint
from workers.clients.cloudflare import CloudflareClient
from workers.services import Services

log = logging.getLogger(__name__)


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


def read_vault(services: Services) -> Vault:
    """The whole folder in one request."""
    settings = services.settings
    return Vault(services.infisical.list_folder(), settings.infisical_secret_path, settings.infisical_environment)


def management_client(services: Services, vault: Vault) -> CloudflareClient:
    """A Cloudflare client holding the management token read from the vault."""
    return services.cloudflare(vault.value(services.inventory.management_token))
