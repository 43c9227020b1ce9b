"""RQ entry points. Each takes the worker process's services (built once, from the environment) and hands over
to one module.

Arguments are names and request ids only: never a token value.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

from domain import requests
from domain.errors import RecordTampered
from workers.audit import radius, vault_events
from workers.channel import refuse_forged, show_expired
from workers.consumers import follow
from workers.operations import reconcile as reconciliation
from workers.operations.dry_run import dry_run as post_dry_run
from workers.operations.runner import run_operation
from workers.scan.scan import scan
from workers.services import process_services
from workers.verify import verification

log = logging.getLogger(__name__)


def verify_token(name: str, requested_by: str | None = None) -> None:
    """verify NAME: diagnose the token and post the report in the channel."""
    services = process_services()
    verification.verify_and_report(services, name, requested_by=requested_by)


def dry_run(action: str, name: str, requested_by: str, reason: str = "") -> None:
    """roll|revoke|provision NAME --dry-run: the read-only pre-flight and the plan, posted in the channel."""
    services = process_services()
    post_dry_run(services, action, name, requested_by=requested_by, reason=reason)


def read_blast_radius(request_id: str) -> None:
    """A revoke was asked: read what its token did at Cloudflare and redraw its approval message."""
    radius.for_request(process_services(), request_id)


def vault_changed(environment: str, secret_path: str) -> None:
    """Infisical said a folder changed: tell and check each token value changed outside the bot."""
    vault_events.vault_changed(process_services(), environment, secret_path)


def retry_sync(request_id: str, sync_id: str) -> None:
    """An approver pressed Retry sync on a failed secret sync: run it again and report it in the thread."""
    follow.retry(process_services(), request_id, sync_id)


def run_request(request_id: str) -> None:
    """An approved roll, revoke or provision."""
    services = process_services()
    try:
        run_operation(services, request_id)
    except RecordTampered as exc:
        refuse_forged(services, exc)


def scan_expiry() -> dict[str, Any] | None:
    """Warn the channel about tokens nearing expiry, and about drift (one scan at a time: one digest); what it found
    is the job's JSON result (None when another scan was running), for `cftoken scan --wait`."""
    services = process_services()
    lock = services.redis.lock("cftoken:lock:expiry-scan", timeout=600, blocking_timeout=0)
    if not lock.acquire():
        log.info("an expiry scan is already running; this one stands down")
        return None
    try:
        return asdict(scan(services))
    finally:
        lock.release()


def reconcile() -> None:
    """Resume operations a dead worker left unfinished."""
    services = process_services()
    reconciliation.reconcile(services)


def expire_requests() -> None:
    """Mark overdue approval requests expired and take the buttons off their messages."""
    services = process_services()
    for request in requests.expire_overdue(services.redis, now=services.now()):
        show_expired(services, request)
