"""The workers' way to talk to Slack: post, update, ephemeral, and finding a message by its outbox key.

One keep-alive httpx connection pool for every call (slack_sdk's WebClient opens a new connection, against real
Slack a TLS handshake, per call). Errors (domain/errors.py): 429 → RateLimited with Slack's Retry-After, not
slept here (the outbox waits it out without holding anything); 5xx, timeouts and dropped connections →
ServiceUnavailable. An `ok: false` answer is read as Slack documents its code (domain/slack_answers.py): a
transient one (internal_error, fatal_error, service_unavailable, request_timeout) → ServiceUnavailable,
`ratelimited` → RateLimited, a refused bot token (invalid_auth, token_revoked, …) → SlackTokenRefused, and
only a refusal of the call itself (channel_not_found, invalid_blocks, …) → SlackRefused naming the code.
The bot token never appears in repr, logs or exception messages.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
from pydantic import SecretStr

from domain import slack_answers
from domain.errors import RateLimited, ServiceUnavailable, SlackRefused, SlackTokenRefused, UnexpectedResponse
from domain.outbox import METADATA_EVENT
from workers.clients.http import RetryPolicy, retry_after_seconds, send

log = logging.getLogger(__name__)
SERVICE = "slack"
Blocks = list[dict[str, Any]] | None
FORM_METHODS = frozenset({"conversations.history", "conversations.replies", "users.info"})
HISTORY_LIMIT = 200  # how far back a lost post is looked for: it was made moments before


class SlackClient:
    """Posts to one channel over one keep-alive connection pool."""

    def __init__(
        self,
        *,
        base_url: str,
        token: SecretStr,
        channel: str,
        timeout: float = 10.0,
        retry: RetryPolicy = RetryPolicy(attempts=1),  # noqa: B008 - frozen; the outbox retries, not the client
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url, self.channel, self.retry = base_url.rstrip("/") + "/", channel, retry
        self._http = httpx.Client(
            timeout=timeout, transport=transport, headers={"Authorization": f"Bearer {token.get_secret_value()}"}
        )

    def __repr__(self) -> str:
        return f"SlackClient(base_url={self.base_url!r}, channel={self.channel!r})"

    def close(self) -> None:
        self._http.close()

    def post(
        self,
        text: str,
        blocks: Blocks = None,
        *,
        thread_ts: str | None = None,
        broadcast: bool = False,
        key: str | None = None,
    ) -> str:
        """Post to the channel (a thread reply if thread_ts, also shown in the channel if broadcast); return its ts.

        `key` travels as the message's metadata, so that `find` can tell whether a post whose answer was lost
        reached Slack.
        """
        metadata = {"event_type": METADATA_EVENT, "event_payload": {"key": key}} if key else None
        body = self._call(
            "chat.postMessage", idempotent=False, channel=self.channel, text=text, blocks=blocks,
            thread_ts=thread_ts, reply_broadcast=True if thread_ts and broadcast else None, metadata=metadata,
        )
        return str(body["ts"])

    def update(self, ts: str, text: str, blocks: Blocks = None) -> None:
        """Replace the text (and blocks, if given) of a message the bot posted."""
        self._call("chat.update", idempotent=True, channel=self.channel, ts=ts, text=text, blocks=blocks)

    def display_name(self, user: str) -> str | None:
        """A person's name as their profile shows it (users.info), or None when Slack does not say."""
        info = self._call("users.info", idempotent=True, user=user)["user"]
        profile = info.get("profile") or {}
        return profile.get("real_name") or info.get("real_name") or profile.get("display_name") or info.get("name")

    def post_ephemeral(self, user: str, text: str, blocks: Blocks = None) -> None:
        """A message in the channel that only `user` sees."""
        self._call("chat.postEphemeral", idempotent=False, channel=self.channel, user=user, text=text, blocks=blocks)

    def auth_test(self) -> str:
        """Whether Slack accepts the bot token (auth.test): the bot's user id; SlackTokenRefused if not."""
        return str(self._call("auth.test", idempotent=True).get("user_id") or "")

    def find(self, key: str, *, thread_ts: str | None = None) -> str | None:
        """The ts of the bot's recent message carrying outbox `key` (in the thread of thread_ts), or None."""
        method, where = ("conversations.replies", {"ts": thread_ts}) if thread_ts else ("conversations.history", {})
        body = self._call(
            method, idempotent=True, channel=self.channel, limit=HISTORY_LIMIT, include_all_metadata=True, **where
        )
        for message in body.get("messages", []):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == METADATA_EVENT and metadata.get("event_payload", {}).get("key") == key:
                return str(message["ts"])
        return None

    def _call(self, method: str, *, idempotent: bool, **arguments: Any) -> dict[str, Any]:
        """Call one Web API method with a JSON body; a typed error unless Slack answers ok."""
        payload = {name: value for name, value in arguments.items() if value is not None}
        body_argument: dict[str, Any] = {"json": payload}
        if method in FORM_METHODS:  # Slack reads these from a form (or the query), not from a JSON body
            body_argument = {"data": {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in payload.items()}}
        response = send(
            self._http, SERVICE, "POST", self.base_url + method, idempotent=idempotent, policy=self.retry,
            **body_argument,
        )
        try:
            body = response.json()
        except json.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise UnexpectedResponse(f"Slack {method} answered HTTP {response.status_code}", service=SERVICE)
        if not body.get("ok"):
            _raise_for(method, str(body.get("error") or f"HTTP {response.status_code}"), response)
        return body


def _raise_for(method: str, code: str, response: httpx.Response) -> None:
    """The typed error for Slack's `ok: false` answer `code`, as Slack documents it."""
    log.warning("slack %s failed: %s", method, code)
    kind = slack_answers.classify(code)
    if code in slack_answers.RATE_LIMITED:
        raise RateLimited(f"Slack is rate limiting {method} ({code})", service=SERVICE,
                          retry_after=retry_after_seconds(response))
    if kind == "transient":
        raise ServiceUnavailable(f"Slack answered {method} with {code} (a transient error on Slack's side)",
                                 service=SERVICE)
    if kind == "auth":
        raise SlackTokenRefused(f"Slack refused the bot token ({method}: {code})", code=code)
    raise SlackRefused(f"Slack refused {method}: {code}", code=code)
