"""The RQ worker class for the `worker` process: only cftoken's own jobs run (workers/job_gate.py), in the worker
itself; Heroku's SIGTERM is honoured, and unfinished operations are resumed on start.

Not forking a work horse per job is what keeps a job fast: a horse starts from the parent's memory, so every
job paid for the imports (~0.5 s), the settings, the HTTP clients (~50 ms each, mostly the TLS context) and an
Infisical login again. Here they are made once per process (`workers.services.process_services`). Crash safety
does not depend on the fork: a killed worker takes its job with it, and the job resumes from its checkpoint.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from rq.exceptions import ShutDownImminentException
from rq.job import Job
from rq.queue import Queue
from rq.utils import ensure_job_list
from rq.worker import SimpleWorker, WorkerStatus

import workers.jobs  # noqa: F401 - imported at start, so that the first job does not pay for it
from domain.inventory import InventoryError
from domain.queueing import RECONCILE_JOB, SERIALIZER
from domain.settings import SettingsError
from workers import delivery
from workers.job_gate import GatedJob, refusal
from workers.services import process_services

OUTBOX_STOP_SECONDS = 2.0  # the outbox's delivery in hand may finish; a Slack call taking longer is left to lapse


class CftokenWorker(SimpleWorker):
    """SimpleWorker with HerokuWorker's shutdown, a reconcile before taking new work, and the Slack outbox's
    deliverer in a thread beside the jobs.

    On SIGTERM (a dyno restart) an idle worker stops at once; a busy one lets its job run for
    `imminent_shutdown_delay` seconds, then raises ShutDownImminentException inside it, as HerokuWorker does in
    its work horse, so the job ends as failed well before Heroku's SIGKILL and its operation resumes later.
    """

    imminent_shutdown_delay = 6
    _outbox: delivery.Running | None = None

    def __init__(self, queues: Any, *args: Any, **kwargs: Any) -> None:
        """Whatever `rq worker` was told, jobs are read as JSON and gated: the door does not depend on flags."""
        names = [queue.name if isinstance(queue, Queue) else queue for queue in ensure_job_list(queues)]
        kwargs.update(job_class=GatedJob, serializer=SERIALIZER)
        super().__init__(names, *args, **kwargs)

    def execute_job(self, job: Job, queue: Queue) -> None:
        why = refusal(job)
        if why is not None:  # GatedJob refuses to import or call it: RQ records it as failed, with no result
            self.log.error("cftoken worker: refused job %s: %s; it was not run", job.id, why)
        super().execute_job(job, queue)

    def handle_exception(self, job: Job, *exc_info: Any) -> None:
        if refusal(job) is None:  # a refused job was logged in one line above; no traceback for it
            super().handle_exception(job, *exc_info)

    def work(self, *args: Any, **kwargs: Any) -> bool:
        try:
            services = process_services()  # settings, inventory and clients, built once for every job to come
        except (SettingsError, InventoryError) as exc:
            sys.exit(f"cftoken worker: {exc}")  # one line naming the problem, before any job can fail on it
        self.queues[0].enqueue(RECONCILE_JOB, at_front=True, job_timeout=600)
        outbox = delivery.for_services(services)
        self._outbox = delivery.start(outbox)  # Slack messages go out beside the jobs, never behind them
        try:
            return super().work(*args, **kwargs)
        finally:
            self._outbox.stop_and_wait(OUTBOX_STOP_SECONDS)
            if kwargs.get("burst"):
                outbox.drain(timeout=outbox.lease_seconds + 10)  # a burst worker leaves nothing it could deliver

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM: the outbox stops after the delivery in hand while the job (if any) finishes, so both are done
        well within Heroku's 30 s; what is left to post stays in Redis for the next deliverer."""
        if self._outbox is not None:
            self._outbox.stop.set()
        super().request_stop(signum, frame)

    def unsubscribe(self) -> None:
        """RQ's unsubscribe without its wait of up to 60 s: redis-py's PubSubWorkerThread.stop() now joins the
        thread, which, once unsubscribed, waits `sleep_time` (RQ passes 60) for a new subscription before it looks
        at its running flag; so the flag is cleared first, and the (daemon) thread is given 1 s, as RQ meant."""
        if self.pubsub_thread:
            self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
            try:
                self.pubsub_thread.stop(timeout=0)  # clear the flag only
            except TypeError:  # an older redis-py, whose stop() only clears the flag
                self.pubsub_thread.stop()
            self.pubsub.unsubscribe()
            self.pubsub_thread.join(timeout=1)
            self.pubsub.close()

    def handle_warm_shutdown_request(self) -> None:
        if self.get_state() != WorkerStatus.BUSY:
            return
        self.log.warning("Imminent shutdown, raising ShutDownImminentException in %d seconds",
                         self.imminent_shutdown_delay)
        # The job's own timeout alarm gives way to this one, as in HerokuWorker's horse: the job ends either way.
        signal.signal(signal.SIGALRM, self._shut_down_now)
        signal.alarm(self.imminent_shutdown_delay)

    def _shut_down_now(self, signum: int, frame: FrameType | None) -> None:
        self.log.warning("raising ShutDownImminentException to cancel the job")
        raise ShutDownImminentException(f"shut down imminent (signal: {signal.Signals(signum).name})", {})
