"""Composition root: settings → Redis → App, served as WSGI (`POST /slack/events`, `GET /healthz`) or over
Socket Mode when SLACK_APP_TOKEN is set.

    gunicorn bot.web:application          # the app is built when gunicorn looks it up, never at import
    python -m bot.web                     # Socket Mode if SLACK_APP_TOKEN is set, else gunicorn on $PORT
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import redis
from rq import Queue
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot.app import build_app
from domain.clock import make_clock
from domain.inventory import InventoryError, load_inventory
from domain.redis_conn import connect
from domain.settings import Settings, SettingsError, load_settings

EVENTS_PATH = "/slack/events"
WORKER_BOOT_ERROR = 3  # gunicorn's exit code for "this worker cannot boot": the master stops instead of retrying
HEALTH_PATH = "/healthz"


class WebApplication:
    """WSGI: Slack's signed requests go to Bolt; /healthz answers 200 when Redis does, 503 otherwise."""

    def __init__(self, app: App, conn: redis.Redis) -> None:
        self.slack = SlackRequestHandler(app, path=EVENTS_PATH)
        self.conn = conn

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == HEALTH_PATH and environ.get("REQUEST_METHOD") in ("GET", "HEAD"):
            healthy = self._redis_answers()
            body = b"ok\n" if healthy else b"redis unreachable\n"
            status = "200 OK" if healthy else "503 Service Unavailable"
            start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
            return [body]
        return self.slack(environ, start_response)

    def _redis_answers(self) -> bool:
        try:
            return bool(self.conn.ping())
        except redis.RedisError:
            return False


def create_app(settings: Settings) -> tuple[App, redis.Redis]:
    conn = connect(settings.redis_url)
    inventory = load_inventory(settings.cftoken_inventory)
    clock = make_clock(conn, settings.cftoken_clock_offset_key)
    return build_app(settings, conn, Queue(connection=conn), inventory, clock=clock), conn


def create_application(settings: Settings | None = None) -> WebApplication:
    """The WSGI callable for gunicorn, built from the environment."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        app, conn = create_app(settings or load_settings())
    except (SettingsError, InventoryError) as exc:
        print(f"cftoken web: {exc}", file=sys.stderr)  # one line naming the problem, not a traceback
        sys.exit(WORKER_BOOT_ERROR)
    return WebApplication(app, conn)


def socket_mode(settings: Settings | None = None) -> None:
    """Serve over Slack's Socket Mode (no public URL needed)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    settings = settings or load_settings()
    assert settings.slack_app_token is not None, "socket_mode needs SLACK_APP_TOKEN"
    logging.basicConfig(level=logging.INFO)
    app, _ = create_app(settings)
    SocketModeHandler(app, settings.slack_app_token.get_secret_value()).start()


def __getattr__(name: str) -> WebApplication:
    """`bot.web:application` is built on lookup, so importing this module creates nothing."""
    if name == "application":
        return create_application()
    raise AttributeError(name)


def main() -> None:
    if os.environ.get("SLACK_APP_TOKEN"):
        socket_mode()
        return
    port = os.environ.get("PORT", "8000")
    workers = os.environ.get("WEB_CONCURRENCY", "2")
    os.execvp(  # noqa: S606 - replace this process with gunicorn
        "gunicorn",
        ["gunicorn", "bot.web:application", "--bind", f"0.0.0.0:{port}", "--workers", workers,
         "--worker-class", "gthread", "--threads", "8", "--access-logfile", "-"],
    )


if __name__ == "__main__":
    main()
