"""One place that sends a request, retries what is safe to retry, and turns transport trouble into typed errors.

Retry policy (idempotent calls only): on 429 (honouring Retry-After, capped), 5xx and connection errors,
exponential backoff with full jitter, bounded in attempts and in total time. Calls that must not repeat
blindly (roll, create token, create ticket) pass `idempotent=False` and fail on the first error: the
operation above knows whether a repeat is safe.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from domain.errors import RateLimited, ServiceUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # total tries, first included
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 30.0  # a longer Retry-After is not waited out: RateLimited is raised
    total_budget: float = 45.0  # seconds, sleeps included
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @classmethod
    def instant(cls, attempts: int = 4) -> RetryPolicy:
        """Same decisions, no waiting: for tests."""
        return cls(attempts=attempts, sleep=lambda _seconds: None)

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def retry_after_seconds(response: httpx.Response) -> float:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0


def send(
    client: httpx.Client,
    service: str,
    method: str,
    url: str,
    *,
    idempotent: bool,
    policy: RetryPolicy,
    **kwargs: object,
) -> httpx.Response:
    """Send one request with the retry policy; return any non-429, non-5xx response for the caller to read."""
    started = time.monotonic()
    attempts = policy.attempts if idempotent else 1
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            response = client.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as exc:
            reason = type(exc).__name__
            if last:
                raise ServiceUnavailable(f"{service} did not answer ({reason})", service=service) from None
            delay = policy.backoff(attempt)
            log.warning("%s %s %s: %s, retrying in %.2fs", service, method, _path(url), reason, delay)
        else:
            if response.status_code == 429:
                wait = retry_after_seconds(response)
                if last or wait > policy.max_retry_after:
                    raise RateLimited(
                        f"{service} is rate limiting the bot; retry after {wait:.0f}s",
                        service=service,
                        retry_after=wait,
                    )
                delay = max(wait, policy.backoff(attempt))
            elif response.status_code >= 500:
                if last:
                    raise ServiceUnavailable(
                        f"{service} answered HTTP {response.status_code}", service=service
                    )
                delay = policy.backoff(attempt)
            else:
                return response
            log.warning(
                "%s %s %s: HTTP %s, retrying in %.2fs", service, method, _path(url), response.status_code, delay
            )
        if time.monotonic() - started + delay > policy.total_budget:
            raise ServiceUnavailable(f"{service} kept failing for {policy.total_budget:.0f}s", service=service)
        policy.sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


def _path(url: str) -> str:
    """The path alone, for logs: never a query string (which could carry an api_key)."""
    return url.split("?", 1)[0]
