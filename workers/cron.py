"""The `clock` process (`python -m workers.cron`): RQ's cron scheduler enqueueing expiry scans, reconciles and
request expiry as JSON jobs. The clock also delivers the Slack outbox (a thread, workers/delivery.py), so the
channel hears from the bot, and learns that no worker is picking up work, even when every worker is down.

Not `rq cron`: in rq 2.x its CronJob builds its own Queue with the default (pickle) serializer, whatever
`--serializer` says, and the worker refuses pickled jobs. `JsonCronJob` enqueues through `domain.queueing`.
"""

from __future__ import annotations

import logging
import sys

import redis
from rq.cron import CronJob, CronScheduler
from rq.job import Job

from domain.inventory import InventoryError
from domain.queueing import EXPIRE_JOB, RECONCILE_JOB, SCAN_JOB, job_queue
from domain.redis_conn import connect, redis_down
from domain.settings import ClockSettings, CommonSettings, SettingsError, load_settings
from workers import delivery

log = logging.getLogger(__name__)


class JsonCronJob(CronJob):
    """RQ's interval job, enqueued by name on cftoken's JSON queue."""

    def enqueue(self, connection: redis.Redis) -> Job:
        job = job_queue(connection, self.queue_name).enqueue(self.func_name, *self.args, **self.kwargs,
                                                             **self.job_options)
        log.info("enqueued %s as job %s", self.func_name, job.id)
        return job


def schedule(settings: CommonSettings) -> list[JsonCronJob]:
    """What the clock enqueues, and how often."""
    return [
        JsonCronJob("default", func_name=SCAN_JOB, interval=settings.cftoken_scan_interval_minutes * 60,
                    job_timeout=600),
        JsonCronJob("default", func_name=RECONCILE_JOB, interval=60, job_timeout=600),
        JsonCronJob("default", func_name=EXPIRE_JOB, interval=60),
    ]


class Clock(CronScheduler):
    """RQ's CronScheduler (birth, heartbeat, SIGTERM) running cftoken's schedule."""

    def __init__(self, settings: CommonSettings) -> None:
        super().__init__(connection=connect(settings.redis_url))
        self._cron_jobs.extend(schedule(settings))


def _redis_answers(url: str) -> bool:
    conn = connect(url)
    try:
        return bool(conn.ping())
    except redis.RedisError:
        return False
    finally:
        conn.close()


def main() -> None:
    try:
        settings = load_settings(ClockSettings)
        outbox = delivery.for_clock(settings)
    except (SettingsError, InventoryError) as exc:
        sys.exit(f"cftoken clock: {exc}")
    if not _redis_answers(settings.redis_url):
        sys.exit(f"cftoken clock: {redis_down(settings.redis_url)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    running = delivery.start(outbox) if outbox is not None else None
    try:
        Clock(settings).start()  # until SIGTERM (RQ's CronScheduler stops at once)
    finally:
        if running is not None:
            running.stop_and_wait()  # the delivery in hand finishes and releases its lease


if __name__ == "__main__":
    main()
