"""build_bolt_app: one Bolt App wired to its settings, Redis, queue and inventory; no module-level state."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import datetime

import redis
from rq import Queue
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot import listeners
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
    """The Bolt app for /cftoken and its buttons; `client` defaults to the Web API at SLACK_API_URL."""
    if client is None:
        client = WebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            retry_handlers=web_retry_handlers(),
        )
    app = App(
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
    integrity.use_key(settings.cftoken_secret_key)  # request records are signed and checked with it
    listeners.register(app, listeners.Deps(settings, redis, queue, inventory, clock))
    return app


def web_retry_handlers() -> list:
    """The web's few Slack calls (auth.test, a user group's members) retry dropped connections and 429s, briefly:
    they run inside Slack's 3 seconds."""
    return [ConnectionErrorRetryHandler(max_retry_count=1), RateLimitErrorRetryHandler(max_retry_count=1)]
