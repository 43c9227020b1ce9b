"""Settings module for `rq worker --config`: Redis from REDIS_URL, Heroku TLS included.

rq reads REDIS_URL from here before the worker class runs, so a malformed one stops the worker here, in one line.
"""

import os
import sys

from domain.redis_conn import redis_url_problem, rq_url

_url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
if _problem := redis_url_problem(_url):
    sys.exit(f"cftoken worker: REDIS_URL is malformed: {_problem}")
REDIS_URL = rq_url(_url)
