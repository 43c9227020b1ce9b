"""`POST /infisical/events`: Infisical's secrets.modified webhook (api-contracts.md "Infisical webhooks"), served only
when CFTOKEN_INFISICAL_WEBHOOK_SECRET is set.

The request must carry `x-infisical-signature: t=<ms>;<hex HMAC-SHA256 of the raw body under the secret>`, with `t`
within five minutes of now (the same timestamp is in the body), and not seen before: an unsigned, stale or
replayed request is answered 401 and changes nothing. A good one only enqueues the check of the folder it names
(environment and path; `changedBy` is not relied on): the worker reads the vault (workers/audit/vault_events.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable

import redis
from rq import Queue

from domain.queueing import enqueue_vault_event

log = logging.getLogger(__name__)
PATH = "/infisical/events"
HEADER = "x-infisical-signature"
MAX_AGE_MS = 5 * 60 * 1000
SEEN_PREFIX = "cftoken:infisical:seen:"
_SIGNATURE = re.compile(r"^t=(?P<t>\d{1,16});(?P<sig>[0-9a-f]{64})$")


def refusal(header: str | None, body: bytes, secret: bytes, now_ms: int) -> str | None:
    """Why a request is not Infisical's (None when it is): no or malformed signature, wrong HMAC, stale or early."""
    match = _SIGNATURE.match((header or "").strip())
    if match is None:
        return "no valid x-infisical-signature header"
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, match["sig"]):
        return "the signature does not match the body"
    if abs(now_ms - int(match["t"])) > MAX_AGE_MS:
        return "the signature is older than 5 minutes (or from the future)"
    return None


class InfisicalEvents:
    """The door: (headers, raw body) → (status, answer); a good secrets.modified event enqueues one job."""

    def __init__(self, conn: redis.Redis, queue: Queue, secret: str, *,
                 now: Callable[[], float] = time.time) -> None:
        self.conn, self.queue, self.secret, self.now = conn, queue, secret.encode(), now

    def handle(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        header = headers.get(HEADER)
        why = refusal(header, body, self.secret, int(self.now() * 1000))
        if why is None and not self.conn.set(SEEN_PREFIX + (header or "").split(";", 1)[1], "1", nx=True,
                                             ex=2 * MAX_AGE_MS // 1000):
            why = "this signed request was already received (replayed)"
        if why is not None:
            log.info("refused POST %s: %s", PATH, why)
            return 401, json.dumps({"error": why}).encode()
        event, project = _event(body)
        if event != "secrets.modified" or project is None:
            return 200, b'{"ok":true,"ignored":true}'
        enqueue_vault_event(self.queue, environment=project[0], secret_path=project[1])
        return 202, b'{"ok":true}'


def _event(body: bytes) -> tuple[str | None, tuple[str, str] | None]:
    """The event's name and (environment, secretPath), if the body has them."""
    try:
        data = json.loads(body)
    except ValueError:
        return None, None
    project = data.get("project") if isinstance(data, dict) else None
    environment = project.get("environment") if isinstance(project, dict) else None
    path = project.get("secretPath") if isinstance(project, dict) else None
    ok = isinstance(environment, str) and isinstance(path, str) and 0 < len(environment) + len(path) < 1000
    return data.get("event") if isinstance(data, dict) else None, (environment, path) if ok else None
