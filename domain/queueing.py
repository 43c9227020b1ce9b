"""Enqueueing work for the workers, by dotted path so the web side never imports worker code.

Job arguments carry names and ids only, never a secret: the worker reads everything else from Redis. Jobs are
JSON, never pickle (unpickling runs whatever the bytes name), and the worker runs only the functions in JOBS.
"""

from __future__ import annotations

import redis
from redis.client import Pipeline
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job
from rq.serializers import JSONSerializer

SERIALIZER = JSONSerializer  # `rq … --serializer json`
VERIFY_JOB = "workers.jobs.verify_token"
RUN_REQUEST_JOB = "workers.jobs.run_request"
SCAN_JOB = "workers.jobs.scan_expiry"
RECONCILE_JOB = "workers.jobs.reconcile"
EXPIRE_JOB = "workers.jobs.expire_requests"
DRY_RUN_JOB = "workers.jobs.dry_run"
BLAST_RADIUS_JOB = "workers.jobs.read_blast_radius"
VAULT_EVENT_JOB = "workers.jobs.vault_changed"
RETRY_SYNC_JOB = "workers.jobs.retry_sync"
# all the worker will run
JOBS = frozenset({VERIFY_JOB, RUN_REQUEST_JOB, SCAN_JOB, RECONCILE_JOB, EXPIRE_JOB, DRY_RUN_JOB, BLAST_RADIUS_JOB,
                  VAULT_EVENT_JOB, RETRY_SYNC_JOB})
REQUEST_JOB_TIMEOUT = 15 * 60  # a roll retries through rate limits; the rotation itself resumes if cut short


AUDIT_QUEUE = "audit"  # reads of Cloudflare's audit log and Infisical's events: after the default queue's work


def job_queue(conn: redis.Redis, name: str = "default") -> Queue:
    """The queue the workers take jobs from, with the JSON serializer every enqueuer and the worker share."""
    return Queue(name, connection=conn, serializer=SERIALIZER)


def enqueue_verify(queue: Queue, *, name: str, requested_by: str, pipeline: Pipeline | None = None) -> Job:
    """Queue a verify of token `name` (no approval needed); with `pipeline`, when that pipeline executes."""
    return queue.enqueue_call(VERIFY_JOB, kwargs={"name": name, "requested_by": requested_by}, pipeline=pipeline)


def enqueue_dry_run(queue: Queue, *, action: str, name: str, requested_by: str, reason: str) -> Job:
    """Queue a dry run of `action` on token `name` (no approval needed: it changes nothing)."""
    return queue.enqueue_call(DRY_RUN_JOB, kwargs={"action": action, "name": name, "requested_by": requested_by,
                                                   "reason": reason})


def enqueue_blast_radius(queue: Queue, request_id: str) -> None:
    """Queue the job that reads a revoke's blast radius and redraws its message (once: its id is the request's)."""
    try:
        queue.enqueue_call(BLAST_RADIUS_JOB, unique=True, kwargs={"request_id": request_id},
                           job_id=f"{request_id}-blast-radius", description=f"blast radius of {request_id}")
    except DuplicateJobError:
        pass


def enqueue_vault_event(queue: Queue, *, environment: str, secret_path: str) -> Job:
    """Queue the check of a vault folder Infisical says changed (its environment and path only, never a value)."""
    return queue.enqueue_call(VAULT_EVENT_JOB, kwargs={"environment": environment, "secret_path": secret_path},
                              description=f"secrets.modified {environment}:{secret_path}")


def enqueue_retry_sync(queue: Queue, *, request_id: str, sync_id: str) -> Job:
    """Queue a Retry sync of one failed secret sync of a request's vault write (ids only)."""
    return queue.enqueue_call(RETRY_SYNC_JOB, kwargs={"request_id": request_id, "sync_id": sync_id},
                              timeout=REQUEST_JOB_TIMEOUT, description=f"retry sync {sync_id} of {request_id}")


def enqueue_request(queue: Queue, request_id: str) -> bool:
    """Queue an approved roll/revoke under its request id; False when that job already exists."""
    try:
        queue.enqueue_call(RUN_REQUEST_JOB, unique=True, **_request_job(request_id))
    except DuplicateJobError:
        return False
    return True


def enqueue_request_in(pipe: Pipeline, queue: Queue, request_id: str) -> None:
    """Write the job of an approved request into `pipe`: the MULTI that stores the request `queued` (it is queued
    exactly when that commits, which only the click that completes the approvals does, so it needs no uniqueness
    check of its own)."""
    queue.enqueue_call(RUN_REQUEST_JOB, pipeline=pipe, **_request_job(request_id))


def _request_job(request_id: str) -> dict[str, object]:
    """The run_request job of `request_id`, named by it (one job per request)."""
    return {"kwargs": {"request_id": request_id}, "job_id": request_id, "timeout": REQUEST_JOB_TIMEOUT,
            "description": f"run request {request_id}"}


def enqueue_overlap_end_in(pipe: Pipeline, queue: Queue, request_id: str) -> None:
    """Write, into the MULTI that records an approver's Retire old now or Keep old, the job that acts on it at once
    (not at the clock's next reconcile). Its own id: the request's first job may still be on record under the
    request id; only the one transaction that records the choice writes it."""
    queue.enqueue_call(RUN_REQUEST_JOB, pipeline=pipe, kwargs={"request_id": request_id},
                       job_id=f"{request_id}-overlap-end", timeout=REQUEST_JOB_TIMEOUT,
                       description=f"end the overlap of request {request_id}")
