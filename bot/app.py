"""build_bolt_app: one Bolt App wired to its settings, Redis, queue and inventory; no module-level state."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime
from typing import Any

import redis
from rq import Queue
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot import listeners
from bot.deps import DEPS, Deps
from bot.slack_auth import patient
from bot.slack_http import KeepAliveRespond, KeepAliveWebClient
from domain import integrity
from domain.clock import utc_now
from domain.inventory import Inventory
from domain.settings import WebSettings


def build_bolt_app(
    settings: WebSettings,
    redis: redis.Redis,
    queue: Queue,
    inventory: Inventory,
    client: WebClient | None = None,
    *,
    clock: Callable[[], datetime] = utc_now,
    listener_executor: Executor | None = None,
) -> App:
    """The Bolt app for /cftoken and its buttons; `client` defaults to the Web API at SLACK_API_URL, over one
    keep-alive connection pool."""
    if client is None:
        client = KeepAliveWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            retry_handlers=web_retry_handlers(),
        )
    deps = Deps(settings, redis, queue, inventory, clock)
    app = CftokenApp(
        context={DEPS: deps},
        client=client,
        # Always verified: Bolt skips the check only for Socket Mode requests (authenticated by the app token).
        # Without a secret (Socket Mode only) a random one means no HTTP request can ever pass.
        signing_secret=(
            settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret
            else secrets.token_hex(32)
        ),
        request_verification_enabled=True,
        token_verification_enabled=False,  # no Slack call at start-up; Bolt checks the token on the first request
        listener_executor=listener_executor,
    )
    # records are signed with the current key, and checked with it or the previous one during a key change
    integrity.use_key(settings.cftoken_secret_key, settings.cftoken_secret_key_previous)
    listeners.register(app)
    return app


class CftokenApp(App):
    """Bolt's App, with additions to every request's context, made where Bolt builds it: `context` (the
    listeners' dependencies; a middleware would cost Bolt a build of every listener argument per request), and a
    client and a `respond` on the app client's keep-alive pool in place of Bolt's per-request ones, which would
    open a new connection per call (auth.test included); and an authorization that retries a first auth.test
    Slack failed for its own reasons (bot/slack_auth.py) instead of telling people the app is not installed."""

    def __init__(self, *, context: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._extra_context = dict(context)
        # a Slack blip at the first auth.test turns nobody away
        self._middleware_list = patient(self._middleware_list, self._extra_context[DEPS].redis)

    def _init_context(self, req: BoltRequest) -> None:
        super()._init_context(req)
        req.context.update(self._extra_context)
        if isinstance(self.client, KeepAliveWebClient):
            req.context["client"] = self.client.like(req.context["client"])
            req.context["respond"] = KeepAliveRespond(response_url=req.context.response_url, pool=self.client.pool)


def web_retry_handlers() -> list:
    """The web's few Slack calls (auth.test, a user group's members) retry dropped connections and 429s, briefly:
    they run inside Slack's 3 seconds."""
    return [ConnectionErrorRetryHandler(max_retry_count=1), RateLimitErrorRetryHandler(max_retry_count=1)]
