"""Schedule for the `clock` process (`rq cron workers.cron`): expiry scans, reconciles, request expiry."""

import sys

from rq import cron

from domain.settings import SettingsError, load_settings
from workers import jobs

try:
    settings = load_settings()
except SettingsError as exc:
    sys.exit(f"cftoken clock: {exc}")

cron.register(jobs.scan_expiry, "default", interval=settings.cftoken_scan_interval_minutes * 60, job_timeout=600)
cron.register(jobs.reconcile, "default", interval=60, job_timeout=600)
cron.register(jobs.expire_requests, "default", interval=60)
