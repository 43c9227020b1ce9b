"""One way to connect to Redis, including Heroku's `rediss://` with its self-signed certificate."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
from redis.connection import parse_url

# Heroku Redis serves TLS with a self-signed certificate; its own help article says not to verify it.
UNVERIFIED_TLS = "ssl_cert_reqs=none"


def connect(url: str, **options: Any) -> redis.Redis:
    """A client for `url`; for rediss:// the certificate is not verified (Heroku Redis signs its own)."""
    options.setdefault("socket_connect_timeout", 5)  # so /healthz answers 503 rather than hanging
    if url.startswith("rediss://") and "ssl_cert_reqs=" not in url:
        options.setdefault("ssl_cert_reqs", "none")
    return redis.Redis.from_url(url, **options)


def rq_url(url: str) -> str:
    """`url` for tools that take only a URL (`rq worker --url`): rediss:// gains ssl_cert_reqs=none."""
    if not url.startswith("rediss://") or "ssl_cert_reqs=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}{UNVERIFIED_TLS}"


def redis_url_problem(url: str) -> str:
    """What is wrong with a Redis URL (empty when redis-py can use it): a scheme it knows, a numeric port."""
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return "expected a redis://, rediss:// or unix:// URL"
    try:
        parse_url(url)
    except ValueError as exc:
        return f"expected a URL such as redis://:password@host:6379/0 ({exc})"
    return ""


def redis_where(url: str) -> str:
    """host:port/db of a Redis URL, without its password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}{parts.path or '/0'}"


def redis_down(url: str) -> str:
    return f"Redis at {redis_where(url)} is not answering: check REDIS_URL and that the server runs"
