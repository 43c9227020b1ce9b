"""Keep-alive for the web's Slack calls: slack_sdk's WebClient and `respond` over one httpx connection pool.

slack_sdk opens a new urllib connection (against real Slack, a TCP and TLS handshake) for every call: `auth.test`,
approver-group reads, `views.open`, `chat.postEphemeral`, and each `response_url` answer. `KeepAliveWebClient`
and `KeepAliveRespond` change only how the bytes travel: slack_sdk still builds each request, runs its retry
handlers (429 with Retry-After, dropped connections) and shapes every answer and error (SlackApiError for
`ok: false`, the 429's headers, a webhook's status and body) as before, because a non-2xx answer is raised as
urllib's HTTPError and a broken connection as URLError, as urlopen does. Redirects are not followed (urllib's
are for GET and HEAD only; Slack answers these POSTs in place).
"""

from __future__ import annotations

import io
from http.client import HTTPMessage
from typing import Any
from urllib.error import HTTPError, URLError
from urllib.request import Request

import httpx
from slack_bolt.context.respond import Respond
from slack_bolt.context.respond.internals import _build_message
from slack_sdk import WebClient
from slack_sdk.errors import SlackRequestError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.webhook import WebhookClient, WebhookResponse

KEEPALIVE_SECONDS = 60.0  # an idle connection is closed after this (Slack's own idle timeout is longer)


def new_pool() -> httpx.Client:
    """One connection pool for a process's Slack calls (thread-safe; Bolt's listeners share it)."""
    return httpx.Client(limits=httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS), follow_redirects=False)


def send(pool: httpx.Client, request: Request, timeout: float) -> tuple[int, HTTPMessage, bytes]:
    """Send a urllib `request` over `pool`: (status, headers, body) for a 2xx answer. Anything else raises as
    urlopen would: HTTPError (with status, headers and body) for a non-2xx answer, URLError when no connection
    could be made or it broke, TimeoutError when the answer was too slow."""
    if not request.full_url.lower().startswith(("http://", "https://")):
        raise SlackRequestError(f"Invalid URL detected: {request.full_url}")
    headers = {name: str(value) for name, value in request.header_items() if name.lower() != "content-length"}
    try:
        answer = pool.request(request.get_method(), request.full_url, content=request.data, headers=headers,
                              timeout=timeout)
    except httpx.ConnectTimeout as exc:
        raise URLError(TimeoutError("timed out")) from exc
    except httpx.TimeoutException as exc:
        raise TimeoutError("timed out") from exc
    except httpx.TransportError as exc:
        raise URLError(f"{type(exc).__name__}: {exc}") from exc
    message = HTTPMessage()
    for name, value in answer.headers.multi_items():
        message[name] = value
    if not 200 <= answer.status_code < 300:
        raise HTTPError(request.full_url, answer.status_code, answer.reason_phrase, message, io.BytesIO(answer.content))
    return answer.status_code, message, answer.content


class KeepAliveWebClient(WebClient):
    """slack_sdk's WebClient whose calls share one keep-alive connection pool (`pool`, created when not given)."""

    def __init__(self, *args: Any, pool: httpx.Client | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = pool if pool is not None else new_pool()

    def close(self) -> None:
        """Close the pool's connections (of this client and every `quick` one sharing it)."""
        self.pool.close()

    def quick(self, timeout: float) -> KeepAliveWebClient:
        """The same client and pool with a short timeout and no retries (a decision cannot wait), but for one
        immediate resend when a kept-alive connection turns out closed (`ResendOnClosedConnection`)."""
        return KeepAliveWebClient(token=self.token, base_url=self.base_url, timeout=timeout,
                                  retry_handlers=[ResendOnClosedConnection()],
                                  headers=dict(self.headers), logger=self._logger, pool=self.pool)

    def like(self, other: WebClient) -> KeepAliveWebClient:
        """A copy of `other` (Bolt's per-request client: its token and team) on this client's pool."""
        return KeepAliveWebClient(token=other.token, base_url=other.base_url, timeout=other.timeout,
                                  headers=dict(other.headers), team_id=other.default_params.get("team_id"),
                                  logger=other.logger, retry_handlers=other.retry_handlers, pool=self.pool)

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        """slack_sdk's one place that opens a connection: here it reuses one of the pool's."""
        status, headers, body = send(self.pool, req, self.timeout)
        if headers.get_content_type() == "application/gzip":
            return {"status": status, "headers": headers, "body": body}
        return {"status": status, "headers": headers, "body": body.decode(headers.get_content_charset() or "utf-8")}


class ResendOnClosedConnection(ConnectionErrorRetryHandler):
    """Once and at once, when a call broke before any answer (a pooled connection Slack had closed, which a fresh
    connection per call never meets); never after a timeout, so a decision waits at most its timeout once more
    for a connection that fails at once, not twice its timeout."""

    def __init__(self) -> None:
        super().__init__(max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.0))

    def _can_retry(self, *, state: Any, request: Any, response: Any = None, error: Exception | None = None) -> bool:
        timed_out = isinstance(getattr(error, "reason", None), TimeoutError) or isinstance(error, TimeoutError)
        return isinstance(error, URLError) and response is None and not timed_out


def quick_client(client: WebClient, timeout: float) -> WebClient:
    """`client` with a short timeout and no retries, on its connection pool when it has one."""
    if isinstance(client, KeepAliveWebClient):
        return client.quick(timeout)
    return WebClient(token=client.token, base_url=client.base_url, timeout=timeout, retry_handlers=[])


class KeepAliveWebhookClient(WebhookClient):
    """slack_sdk's client for a `response_url`, sending through `pool`."""

    def __init__(self, url: str, *, pool: httpx.Client, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.pool = pool

    def _perform_http_request_internal(self, url: str, req: Request) -> WebhookResponse:
        status, headers, body = send(self.pool, req, self.timeout)
        text = body.decode(headers.get_content_charset() or "utf-8")
        return WebhookResponse(url=url, status_code=status, body=text, headers=headers)  # type: ignore[arg-type]


class KeepAliveRespond(Respond):
    """Bolt's `respond` (an answer through the request's response_url), sent through `pool`."""

    def __init__(self, *, response_url: str | None, pool: httpx.Client) -> None:
        super().__init__(response_url=response_url)
        self.pool = pool

    def __call__(self, text: str | dict = "", blocks: Any = None, **options: Any) -> WebhookResponse:  # type: ignore[override]
        """As Bolt's: a text with options, or a whole message as a dict."""
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        message = _build_message(**text) if isinstance(text, dict) else _build_message(text, blocks, **options)
        return KeepAliveWebhookClient(self.response_url, pool=self.pool).send_dict(message)
