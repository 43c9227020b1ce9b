"""The RQ worker class for the `worker` process: Heroku's SIGTERM handling, plus a reconcile on start."""

from __future__ import annotations

from typing import Any

from rq.worker import HerokuWorker


class CftokenWorker(HerokuWorker):
    """Before taking new work, resume what a previous worker left unfinished."""

    def work(self, *args: Any, **kwargs: Any) -> bool:
        self.queues[0].enqueue("workers.jobs.reconcile", at_front=True, job_timeout=600)
        return super().work(*args, **kwargs)
