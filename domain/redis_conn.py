"""One way to connect to Redis, including Heroku's `rediss://` with its self-signed certificate."""

from __future__ import annotations

from typing import Any

import redis

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
