"""Resume operations that a dead worker left unfinished: on worker start, every minute from the clock, and by
`cftoken reconcile`."""

from __future__ import annotations

import logging

from bot.settings import Settings
from workers.checkpoints import UNFINISHED, Checkpoint, unfinished
from workers.operations import TokenBusy
from workers.revocation import revoke_token
from workers.rotation import roll_token
from workers.services import Services, build_services

log = logging.getLogger(__name__)
RUNNERS = {"roll": roll_token, "revoke": revoke_token}


def reconcile(services: Services) -> list[str]:
    """Resume every unfinished operation whose token is not locked by a live worker; return the ones resumed."""
    resumed = []
    for request_id in unfinished(services.redis):
        checkpoint = Checkpoint.load(services.redis, request_id)
        runner = RUNNERS.get(checkpoint.fields.get("action", ""))
        if runner is None:  # the record expired or never existed: nothing to resume
            services.redis.srem(UNFINISHED, request_id)
            continue
        try:
            runner(services, request_id, wait=False)
        except TokenBusy:
            log.info("reconcile: %s is still held by a running worker", request_id)
            continue
        resumed.append(f"{checkpoint.action} {checkpoint.token} ({request_id})")
    return resumed


def reconcile_now(settings: Settings) -> list[str]:
    """The operator CLI's entry: reconcile in this process, now."""
    services = build_services(settings)
    try:
        return reconcile(services)
    finally:
        services.close()
