"""Settings module for `rq worker --config`: Redis from REDIS_URL, Heroku TLS included."""

import os

from domain.redis_conn import rq_url

REDIS_URL = rq_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
