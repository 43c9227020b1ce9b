"""One operation per token: a Redis lock per token name that expires on its own if its holder dies, renewed
before every step."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from redis.exceptions import LockError
from redis.lock import Lock

from domain.errors import OperationLost, TokenBusy
from workers.services import Services

log = logging.getLogger(__name__)


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
    _lock: Lock

    def renew(self) -> None:
        """Restart the lock's expiry before a step; OperationLost if another holder took it meanwhile.

        A lock that vanished (it lapsed, or Redis lost its data) is taken again when nobody else holds it; the
        checkpoint's revision check still stops this worker if another one moved the operation on.
        """
        try:
            self._lock.reacquire()
        except LockError:
            if not self._lock.acquire(blocking=False, token=self._lock.local.token):
                raise OperationLost("the token lock expired while this worker held it") from None
