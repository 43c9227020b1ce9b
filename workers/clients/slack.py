"""The workers' way to talk to Slack: post and update messages in the channel.

Errors (see domain/errors.py): 429 after slack_sdk's retries → RateLimited; 5xx, timeouts and dropped
connections → ServiceUnavailable; any other `ok: false` (e.g. channel_not_found) → UnexpectedResponse
naming Slack's error code. The bot token never appears in repr, logs or exception messages.
"""

from __future__ import annotations

import logging
from http.client import HTTPException
from typing import Any

from pydantic import SecretStr
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler

from domain.errors import CftokenError, RateLimited, ServiceUnavailable, UnexpectedResponse

log = logging.getLogger(__name__)
SERVICE = "slack"
Blocks = list[dict[str, Any]] | None


def _retry_handlers() -> list[RetryHandler]:
    return [ConnectionErrorRetryHandler(), RateLimitErrorRetryHandler(max_retry_count=3)]


class SlackClient:
    """Posts to one channel through slack_sdk, retrying rate limits and connection errors."""

    def __init__(self, *, base_url: str, token: SecretStr, channel: str, timeout: float = 10.0) -> None:
        self.base_url, self.channel, self.timeout = base_url, channel, timeout
        self._web = WebClient(
            token=token.get_secret_value(),
            base_url=base_url,
            timeout=timeout,  # type: ignore[arg-type]  # urllib takes float seconds; slack_sdk says int
            retry_handlers=_retry_handlers(),
        )

    def __repr__(self) -> str:
        return f"SlackClient(base_url={self.base_url!r}, channel={self.channel!r})"

    def post(self, text: str, blocks: Blocks = None, *, thread_ts: str | None = None) -> str:
        """Post to the channel (in a thread if thread_ts); return the new message's ts."""
        response = self._call(
            "chat.postMessage", self._web.chat_postMessage,
            channel=self.channel, text=text, blocks=blocks, thread_ts=thread_ts,
        )
        return str(response["ts"])

    def update(self, ts: str, text: str, blocks: Blocks = None) -> None:
        """Replace the text (and blocks, if given) of a message the bot posted."""
        self._call(
            "chat.update", self._web.chat_update, channel=self.channel, ts=ts, text=text, blocks=blocks
        )

    def display_name(self, user: str) -> str | None:
        """A person's name as their profile shows it (users.info), or None when Slack does not say."""
        info = self._call("users.info", self._web.users_info, user=user)["user"]
        profile = info.get("profile") or {}
        return profile.get("real_name") or info.get("real_name") or profile.get("display_name") or info.get("name")

    def _call(self, method: str, function: Any, **kwargs: Any) -> Any:
        """Call one Web API method, turning slack_sdk's exceptions into cftoken's typed errors."""
        arguments = {key: value for key, value in kwargs.items() if value is not None}
        try:
            return function(**arguments)
        except SlackApiError as exc:
            response = exc.response
            code = str(response.get("error", "")) if isinstance(response.data, dict) else ""
            log.warning("slack %s failed: HTTP %s %s", method, response.status_code, code)
            raise _http_error(method, response.status_code, code, response.headers) from None
        except (OSError, HTTPException) as exc:
            raise _unavailable(method, exc) from None
        except SlackClientError as exc:
            raise UnexpectedResponse(f"Slack {method}: {type(exc).__name__}", service=SERVICE) from None


def _http_error(method: str, status: int, code: str, headers: Any) -> CftokenError:
    """The typed error for a Slack answer that was not a success."""
    if status == 429 or code in ("ratelimited", "rate_limited"):
        retry_after = _retry_after(headers)
        return RateLimited(
            f"Slack is rate limiting {method}; retry after {retry_after:.0f}s",
            service=SERVICE,
            retry_after=retry_after,
        )
    if status >= 500:
        return ServiceUnavailable(f"Slack {method} answered HTTP {status} {code}".rstrip(), service=SERVICE)
    return UnexpectedResponse(f"Slack refused {method}: {code or f'HTTP {status}'}", service=SERVICE)


def _unavailable(method: str, exc: BaseException) -> ServiceUnavailable:
    log.warning("slack %s did not answer: %s", method, type(exc).__name__)
    return ServiceUnavailable(f"Slack {method} did not answer ({type(exc).__name__})", service=SERVICE)


def _retry_after(headers: Any) -> float:
    value = next((v for k, v in dict(headers or {}).items() if k.lower() == "retry-after"), "1")
    try:
        return float(value[0] if isinstance(value, list) else value)
    except (TypeError, ValueError):
        return 1.0

