"""Composition root of the web process: settings → Redis → the Bolt app, served as WSGI and, with
SLACK_APP_TOKEN set, over Socket Mode too.

    python -m bot.serve bot.web:application --listen 0.0.0.0:$PORT   # the Procfile's web (bot/serve.py)

`POST /slack/events` is served only with SLACK_SIGNING_SECRET set, and every request to it passes
`bot.front_door` (signature, shape, response_url) before Bolt, which verifies the signature again. With
SLACK_APP_TOKEN set the same process also holds a Socket Mode connection (commands and clicks arrive over it,
authenticated by the app token); without a signing secret it then answers /slack/events with 404.
`GET /healthz` answers 200 when Redis does.
"""

from __future__ import annotations

import io
import logging
import sys
import time
from collections.abc import Callable, Collection, Iterable
from typing import Any

import redis
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler

from bot import infisical_events, metrics
from bot.app import build_bolt_app
from bot.front_door import SLACK_RESPONSE_ORIGINS, Rejection, check_request, origin_of
from bot.infisical_events import InfisicalEvents
from bot.serve import MAX_BODY_BYTES
from bot.socket_mode import SocketModeKeeper
from domain.clock import make_clock
from domain.inventory import InventoryError, load_inventory
from domain.metrics import audit_counts, operation_counts, slack_token_refused
from domain.queueing import AUDIT_QUEUE, job_queue
from domain.redis_conn import connect
from domain.settings import SettingsError, WebSettings, load_settings
from domain.status import read_statuses

EVENTS_PATH = "/slack/events"
HEALTH_PATH = "/healthz"
METRICS_PATH = "/metrics"
BOOT_ERROR = 3  # exit status of a web process that cannot start (also gunicorn's "worker cannot boot")
DEFAULT_SLACK_API = "https://slack.com/api/"

log = logging.getLogger(__name__)


def response_origins(settings: WebSettings) -> frozenset[str]:
    """Where answers may be posted: Slack's hooks host, plus the Web API's own host when SLACK_API_URL points
    elsewhere (a stand-in Slack serves its response URLs itself; whoever sets SLACK_API_URL trusts that host
    with the bot token already)."""
    if settings.slack_api_url == DEFAULT_SLACK_API:
        return SLACK_RESPONSE_ORIGINS
    return SLACK_RESPONSE_ORIGINS | {origin_of(settings.slack_api_url)}


class WebApplication:
    """WSGI: /healthz, and /slack/events through the front door to Bolt (404 when HTTP mode is off)."""

    def __init__(
        self, app: App, conn: redis.Redis, *, signing_secret: str | None, response_origins: Collection[str],
        now: Callable[[], float] = time.time, metrics: Callable[[str | None], bytes | None] | None = None,
    ) -> None:
        self.slack = SlackRequestHandler(app, path=EVENTS_PATH)
        self.conn, self.signing_secret = conn, signing_secret
        self.response_origins, self.now = frozenset(response_origins), now
        self.socket_mode: SocketModeKeeper | None = None  # with SLACK_APP_TOKEN: the Socket Mode connection
        self.metrics = metrics  # Authorization header → the exposition, or None (refused); None: /metrics is off
        self.infisical: InfisicalEvents | None = None  # POST /infisical/events, when its secret is set

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path, method = environ.get("PATH_INFO"), environ.get("REQUEST_METHOD")
        if path == HEALTH_PATH and method in ("GET", "HEAD"):
            healthy = self._redis_answers()
            return _answer(start_response, 200 if healthy else 503, b"ok\n" if healthy else b"redis unreachable\n")
        if path == METRICS_PATH and method == "GET" and self.metrics is not None:
            body = self.metrics(environ.get("HTTP_AUTHORIZATION"))
            if body is None:
                return _answer(start_response, 401, b"a bearer token is required\n")
            return _answer(start_response, 200, body, metrics.CONTENT_TYPE)
        if path == infisical_events.PATH and self.infisical is not None:
            return self._infisical(environ, start_response, method)
        if path != EVENTS_PATH or self.signing_secret is None:
            return _answer(start_response, 404, b"not found\n")
        if method != "POST":
            return _answer(start_response, 405, b"POST only\n")
        body, rejection = _read_body(environ)
        if rejection is None:
            headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                       if key.startswith("HTTP_")}
            rejection = check_request(headers, body, signing_secret=self.signing_secret,
                                      response_origins=self.response_origins, now=self.now)
        if rejection is not None:
            log.info("refused %s %s: %s", method, path, rejection.error)
            return _answer(start_response, rejection.status, rejection.body(), "application/json")
        environ["wsgi.input"] = io.BytesIO(body)
        return self.slack(environ, start_response)

    def _infisical(self, environ: dict[str, Any], start_response: Callable[..., Any], method: str | None
                   ) -> Iterable[bytes]:
        if method != "POST":
            return _answer(start_response, 405, b"POST only\n")
        body, rejection = _read_body(environ)
        if rejection is not None:
            return _answer(start_response, rejection.status, rejection.body(), "application/json")
        assert self.infisical is not None
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        status, answer = self.infisical.handle(headers, body)
        return _answer(start_response, status, answer, "application/json")

    def _redis_answers(self) -> bool:
        try:
            return bool(self.conn.ping())
        except redis.RedisError:
            return False


def _read_body(environ: dict[str, Any]) -> tuple[bytes, Rejection | None]:
    """The request body, read only when it declares a length within MAX_BODY_BYTES."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return b"", Rejection(411, "a Content-Length is required")
    if not 0 <= length <= MAX_BODY_BYTES:
        return b"", Rejection(413, f"bodies are limited to {MAX_BODY_BYTES} bytes")
    body = environ["wsgi.input"].read(length)
    if len(body) != length:
        return b"", Rejection(400, "the body is shorter than its Content-Length")
    return body, None


def _answer(start_response: Callable[..., Any], status: int, body: bytes, kind: str = "text/plain") -> list[bytes]:
    reasons = {200: "OK", 202: "Accepted", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
               405: "Method Not Allowed", 411: "Length Required", 413: "Payload Too Large", 503: "Service Unavailable"}
    start_response(f"{status} {reasons[status]}", [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


def connect_bolt_app(settings: WebSettings) -> tuple[App, redis.Redis]:
    """The Bolt app on the Redis, queue, inventory and clock the settings name."""
    conn = connect(settings.redis_url)
    inventory = load_inventory(settings.cftoken_inventory)
    clock = make_clock(conn, settings.cftoken_clock_offset_key)
    return build_bolt_app(settings, conn, job_queue(conn), inventory, clock=clock), conn


def build_web_application(settings: WebSettings | None = None) -> WebApplication:
    """The web process from the environment: WSGI, plus a Socket Mode connection when SLACK_APP_TOKEN is set."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # httpx logs every request's URL at INFO: for a response_url that is a capability (who holds it can answer)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        settings = settings or load_settings(WebSettings)
        app, conn = connect_bolt_app(settings)
    except (SettingsError, InventoryError) as exc:
        print(f"cftoken web: {exc}", file=sys.stderr)  # one line naming the problem, not a traceback
        sys.exit(BOOT_ERROR)
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    web = WebApplication(app, conn, signing_secret=secret, response_origins=response_origins(settings),
                         metrics=metrics_source(settings, conn))
    if settings.cftoken_infisical_webhook_secret is not None:
        web.infisical = InfisicalEvents(conn, job_queue(conn, AUDIT_QUEUE),
                                        settings.cftoken_infisical_webhook_secret.get_secret_value())
    if settings.slack_app_token is not None:
        web.socket_mode = start_socket_mode(app, settings)
    return web


def metrics_source(settings: WebSettings, conn: redis.Redis) -> Callable[[str | None], bytes | None] | None:
    """GET /metrics when CFTOKEN_METRICS_TOKEN is set: the exposition for a request bearing it, else None."""
    if settings.cftoken_metrics_token is None:
        return None
    token = settings.cftoken_metrics_token.get_secret_value()
    inventory = load_inventory(settings.cftoken_inventory)
    clock = make_clock(conn, settings.cftoken_clock_offset_key)

    def scrape(authorization: str | None) -> bytes | None:
        if not metrics.authorized(authorization, token):
            return None
        return metrics.render_metrics(inventory, read_statuses(conn), operation_counts(conn), clock(),
                                      slack_token_refused=slack_token_refused(conn), audit=audit_counts(conn))

    return scrape


def start_socket_mode(app: App, settings: WebSettings) -> SocketModeKeeper:
    """Connect to Slack over Socket Mode in background threads, retrying while Slack refuses or does not answer."""
    assert settings.slack_app_token is not None
    served = settings.slack_signing_secret is not None
    log.info("socket mode: connecting; HTTP %s is %s", EVENTS_PATH, "served (signed requests only)" if served
             else "not served")
    return SocketModeKeeper(app, settings.slack_app_token.get_secret_value(), http_served=served).start()


def __getattr__(name: str) -> WebApplication:
    """`bot.web:application` is built on lookup, so importing this module creates nothing."""
    if name == "application":
        return build_web_application()
    raise AttributeError(name)
