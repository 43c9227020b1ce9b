"""The one seam between an operation and its consumers: a `consumers` step that follows the vault folder's secret
syncs after the operation's vault write (workers/consumers/follow.py), for any StepMachine whose checkpoint carries
`written_at` (the instant its value reached the vault)."""

from __future__ import annotations

from typing import Any

from domain.errors import TRANSIENT
from domain.timestamps import parse_timestamp
from workers.channel import post
from workers.consumers.follow import follow

LABEL = "following the consumers"
CHANGES = ("Infisical: sync-secrets for each sync of the vault folder not auto-synced in time; Slack: each "
           "destination's outcome in the thread")


class ConsumerSteps:
    """Mixed into a StepMachine (services, checkpoint, request, token, lock)."""

    services: Any
    checkpoint: Any
    request: Any
    token: Any
    lock: Any
    lost: bool

    def follow_consumers(self, *, placeholder: bool = False) -> None:
        """Follow every sync of the vault folder to the value written at the checkpoint's `written_at`."""
        written = parse_timestamp(self.checkpoint.get("written_at")) or self.services.now()
        follow(self.services, self.request.id, self.token, written, renew=self.lock.renew, placeholder=placeholder)

    def consumers_follow_up(self, error: BaseException, why: str) -> None:
        """Following failed after the result was posted: a transient error is retried by the next reconcile; any
        other is said once and the checkpoint ends."""
        if isinstance(error, TRANSIENT):
            self.checkpoint.save(now=self.services.now(), note=f"consumers pending: {why}")
            return
        post(self.services, f"⚠️ The bot could not follow the consumers of {self.token.name} to the new value: {why}",
             request_id=self.request.id, key="consumers-stopped", in_thread=not self.lost)
        self.checkpoint.finish(now=self.services.now())
