"""Which queued jobs the worker runs: only cftoken's own job functions, read as JSON, with none of RQ's hooks.

Anyone who can write to Redis can put a job on the queue. RQ would import and call whatever function the job
names, and its default (pickle) serializer runs code while merely reading the job. So the worker reads jobs
only as JSON (`domain.queueing.SERIALIZER`) and `GatedJob` refuses, before anything is imported or called, a job
that names a function outside `domain.queueing.JOBS`, a method of some object, or RQ's callbacks or webhooks
(cftoken sets none): the job fails with the reason and no return value. Callbacks and webhooks are never run
for any job, also not by RQ's registry maintenance (which calls an "abandoned" job's failure callback).
"""

from __future__ import annotations

from typing import Any

from rq.exceptions import DeserializationError
from rq.job import Job

from domain.queueing import JOBS


class JobRefused(Exception):
    """The job is not one of cftoken's: it was not run."""


def refusal(job: Job) -> str | None:
    """Why the worker must not run `job`, or None when it is one of cftoken's jobs as cftoken enqueues them."""
    try:
        name, instance = job.func_name, job.instance
    except DeserializationError:
        return "its data is not JSON (a pickled job, written by hand?)"
    if name not in JOBS or instance is not None:
        return f"{str(name)[:100]!r} is not one of cftoken's job functions"
    hooks = (job._success_callback_name, job._failure_callback_name, job._stopped_callback_name)
    if any(hooks) or job.webhooks:
        return "it carries RQ callbacks or webhooks, which cftoken never sets"
    return None


class GatedJob(Job):
    """An RQ Job that imports its function only when `refusal` finds nothing, and never runs callbacks or webhooks."""

    @property
    def func(self) -> Any:
        why = refusal(self)
        if why is not None:
            raise JobRefused(f"job {self.id} refused: {why}")
        return super().func

    @property
    def success_callback(self) -> None:
        return None

    @property
    def failure_callback(self) -> None:
        return None

    @property
    def stopped_callback(self) -> None:
        return None

    @property
    def should_retry(self) -> bool:
        return refusal(self) is None and super().should_retry

    def send_webhooks(self, status: Any, *, exc_string: str | None = None) -> None:
        """Never: a webhook would send the job's data wherever the record in Redis says."""
