"""Delivery stops for the whole process while Slack refuses the bot token, and starts again once it works.

A refused token (invalid_auth, token_revoked, account_inactive, not_authed) makes every call fail the same way,
so retrying each message would only spin: the first refusal closes the gate with one loud log line and the
`cftoken_slack_token_refused` metric; nothing queued is dropped. While closed, auth.test is asked again after
5 s, then 10, 20 … at most 60 s; the first ok opens the gate (one log line) and delivery picks up where it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from domain.errors import CftokenError, SlackTokenRefused
from domain.metrics import mark_slack_token_refused
from workers.clients.slack import SlackClient

log = logging.getLogger(__name__)
FIRST_CHECK_SECONDS = 5.0
MAX_CHECK_SECONDS = 60.0


class TokenGate:
    """Open while Slack accepts the bot token (as far as this process knows)."""

    def __init__(self, conn: redis.Redis, slack: SlackClient, *, now: Callable[[], float] = time.monotonic) -> None:
        self.redis, self.slack, self.now = conn, slack, now
        self.refused: SlackTokenRefused | None = None
        self._wait = FIRST_CHECK_SECONDS
        self._next_check = 0.0

    def close(self, exc: SlackTokenRefused) -> None:
        """Slack refused the bot token: deliver nothing until auth.test answers ok again."""
        if self.refused is None:
            log.error("outbox: SLACK REFUSES THE BOT TOKEN (%s): nothing is posted to the channel until it works "
                      "again; every message stays queued. %s", exc.code, exc.next_step())
            self._wait = FIRST_CHECK_SECONDS
        self.refused = exc
        self._next_check = self.now() + self._wait
        self._mark(True)

    def is_open(self) -> bool:
        """True while the token works; while closed, asks auth.test when the next check is due."""
        if self.refused is None:
            return True
        if self.now() < self._next_check:
            return False
        try:
            self.slack.auth_test()
        except SlackTokenRefused as exc:
            self._wait = min(MAX_CHECK_SECONDS, self._wait * 2)
            self.close(exc)
            return False
        except CftokenError as exc:  # Slack is not answering at all: ask again later
            log.warning("outbox: could not check the bot token with Slack (%s); asking again in %.0fs", exc,
                        self._wait)
            self._next_check = self.now() + self._wait
            return False
        log.warning("outbox: Slack accepts the bot token again (it refused it with %s); delivering what is queued",
                    self.refused.code)
        self.refused = None
        self._mark(False)
        return True

    def _mark(self, refused: bool) -> None:
        try:
            mark_slack_token_refused(self.redis, refused)
        except redis.RedisError as exc:
            log.warning("outbox: could not record the token's state for /metrics (%s)", type(exc).__name__)
