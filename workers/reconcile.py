"""Finish what a dead process left half-done: approved requests the web never queued, and operations a worker
never finished. Runs on worker start, every minute from the clock, and on `cftoken reconcile`."""

from __future__ import annotations

import logging

from rq import Queue

from domain import approvals
from domain.queueing import enqueue_request
from domain.settings import Settings
from workers.checkpoints import UNFINISHED, Checkpoint, unfinished
from workers.operations import TokenBusy
from workers.revocation import revoke_token
from workers.rotation import roll_token
from workers.services import Services, build_services

log = logging.getLogger(__name__)
RUNNERS = {"roll": roll_token, "revoke": revoke_token}


def reconcile(services: Services) -> list[str]:
    """Queue approved requests the web never queued, then resume every unfinished operation whose token is not
    locked by a live worker; return what was done."""
    resumed = [f"queued {request_id}" for request_id in queue_stranded(services)]
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


def queue_stranded(services: Services) -> list[str]:
    """Approved requests that were never queued (the web died between the last click and the enqueue)."""
    queued = []
    for request_id in approvals.stranded(services.redis, now=services.now()):
        enqueue_request(Queue(connection=services.redis), request_id)  # refused quietly if the job exists
        try:
            approvals.mark_queued(services.redis, request_id, now=services.now())
        except approvals.RequestNotFound:  # long gone: forget it
            services.redis.zrem(approvals.APPROVED_INDEX, request_id)
            continue
        queued.append(request_id)
    return queued


def reconcile_now(settings: Settings) -> list[str]:
    """The operator CLI's entry: reconcile in this process, now."""
    services = build_services(settings)
    try:
        return reconcile(services)
    finally:
        services.close()
