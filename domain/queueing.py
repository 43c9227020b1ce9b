"""Enqueueing work for the workers, by dotted path so the web side never imports worker code.

Job arguments carry names and ids only, never a secret: the worker reads everything else from Redis.
"""

from __future__ import annotations

from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job

VERIFY_JOB = "workers.jobs.verify_token"
RUN_REQUEST_JOB = "workers.jobs.run_request"
REQUEST_JOB_TIMEOUT = 15 * 60  # a roll retries through rate limits; the rotation itself resumes if cut short


def enqueue_verify(queue: Queue, *, name: str, requested_by: str) -> Job:
    """Queue a verify of token `name` (no approval needed)."""
    return queue.enqueue_call(VERIFY_JOB, kwargs={"name": name, "requested_by": requested_by})


def enqueue_request(queue: Queue, request_id: str) -> bool:
    """Queue an approved roll/revoke under its request id; False when that job already exists."""
    try:
        queue.enqueue_call(
            RUN_REQUEST_JOB,
            kwargs={"request_id": request_id},
            job_id=request_id,
            unique=True,
            timeout=REQUEST_JOB_TIMEOUT,
            description=f"run request {request_id}",
        )
    except DuplicateJobError:
        return False
    return True
