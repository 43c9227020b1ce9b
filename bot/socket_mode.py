"""The web's Socket Mode connection, kept in a background thread so that HTTP never depends on it.

With SLACK_APP_TOKEN set the web also holds a Socket Mode connection. Slack may refuse the app token (a wrong or
revoked one, a bot token in its place: `not_allowed_token_type`) or not answer `apps.connections.open` (a 503);
neither may take HTTP or `/healthz` down, so the connection is made here, beside the server: one log line saying
why it failed and that HTTP is still served (again only when the reason changes), then retries after 2 s,
4 s … at most every 5 minutes until Slack accepts it. Once connected, slack_sdk's client reconnects by itself.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from slack_bolt import App
from slack_sdk.errors import SlackApiError, SlackClientError

from domain import slack_answers

log = logging.getLogger(__name__)
SDK_LOG = logging.getLogger("cftoken.socket_mode.sdk")  # slack_sdk's Socket Mode client logs here
SDK_LOG.addFilter(lambda record: not record.getMessage().startswith("Failed to retrieve WSS URL"))  # said below
FIRST_WAIT_SECONDS = 2.0
MAX_WAIT_SECONDS = 300.0


class SocketModeKeeper:
    """Connects `app` over Socket Mode with `app_token` in a daemon thread, retrying with backoff."""

    def __init__(self, app: App, app_token: str, *, http_served: bool, first_wait: float = FIRST_WAIT_SECONDS,
                 max_wait: float = MAX_WAIT_SECONDS) -> None:
        self.app, self.app_token, self.http_served = app, app_token, http_served
        self.first_wait, self.max_wait = first_wait, max_wait
        self.handler: Any = None  # slack_bolt's SocketModeHandler, once made
        self.connected = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cftoken-socket-mode", daemon=True)

    def start(self) -> SocketModeKeeper:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        if self.handler is not None:
            self.handler.close()

    def _run(self) -> None:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        wait, said = self.first_wait, ""
        while not self._stop.is_set():
            try:
                if self.handler is None:
                    self.handler = SocketModeHandler(self.app, self.app_token, logger=SDK_LOG)
                self.handler.connect()
            except (SlackApiError, SlackClientError, OSError) as exc:
                reason = _reason(exc)
                if reason != said:
                    log.error("socket mode: %s; HTTP is still served%s; retrying in %.0f s, then at most every "
                              "%.0f s", reason, "" if self.http_served else " (/healthz only)", wait, self.max_wait)
                    said = reason
                self._stop.wait(wait)
                wait = min(self.max_wait, wait * 2)
                continue
            self.connected.set()
            log.info("socket mode: connected%s", " after Slack refused it before" if said else "")
            return


def _reason(exc: Exception) -> str:
    """Why the connection failed, in Slack's own words (never the token)."""
    if isinstance(exc, SlackApiError):
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        code = str(data.get("error") or "")
        status = exc.response.status_code
        if status >= 500 or slack_answers.classify(code) == "transient":
            return f"Slack could not open a Socket Mode connection (apps.connections.open: HTTP {status} {code})"
        return f"Slack refused SLACK_APP_TOKEN (apps.connections.open: {code or f'HTTP {status}'})"
    return f"Slack did not answer apps.connections.open ({type(exc).__name__})"
