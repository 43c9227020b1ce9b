"""RQ entry points. Each takes the worker process's services (built once, from the environment) and hands over
to one module.

Arguments are names and request ids only: never a token value.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from domain import approvals
from workers import expiry, verification
from workers import reconcile as reconciliation
from workers.reporting import refresh_message
from workers.revocation import revoke_token
from workers.rotation import roll_token
from workers.services import Services, process_services

log = logging.getLogger(__name__)


@contextmanager
def job_services() -> Iterator[Services]:
    """The services a job uses: the process's own, kept open for the next job."""
    yield process_services()


def verify_token(name: str, requested_by: str | None = None) -> None:
    """verify NAME: diagnose the token and post the report in the channel."""
    with job_services() as services:
        verification.verify_and_report(services, name, requested_by=requested_by)


def run_request(request_id: str) -> None:
    """An approved roll or revoke."""
    with job_services() as services:
        request = approvals.load(services.redis, request_id, now=services.now())
        if request is None:
            log.error("request %s does not exist", request_id)
            return
        runner = roll_token if request.action == "roll" else revoke_token
        runner(services, request_id)


def scan_expiry() -> None:
    """Warn the channel about tokens nearing expiry, and about drift (one scan at a time: one digest)."""
    with job_services() as services:
        lock = services.redis.lock("cftoken:lock:expiry-scan", timeout=600, blocking_timeout=0)
        if not lock.acquire():
            log.info("an expiry scan is already running; this one stands down")
            return
        try:
            expiry.scan(services)
        finally:
            lock.release()


def reconcile() -> None:
    """Resume operations a dead worker left unfinished."""
    with job_services() as services:
        reconciliation.reconcile(services)


def expire_requests() -> None:
    """Mark overdue approval requests expired and take the buttons off their messages."""
    with job_services() as services:
        for request in approvals.expire_overdue(services.redis, now=services.now()):
            refresh_message(services, request)
