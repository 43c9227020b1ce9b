"""The floor for acknowledgement time: a bare Bolt app whose listeners only call ack(), served like `web`.

    python -m bot.serve bench.bare:application …     # same server flags as the Procfile's web line

It verifies signatures and routes exactly as cftoken's app does (same Bolt, same WSGI adapter, same
SLACK_SIGNING_SECRET / SLACK_BOT_TOKEN / SLACK_API_URL), then does nothing but ack.
"""

from __future__ import annotations

import os
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient


def only_ack(ack: Any) -> None:
    ack()


def create_application() -> SlackRequestHandler:
    client = WebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"])
    app = App(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"], token_verification_enabled=False)
    app.command("/cftoken")(only_ack)
    for action in ("approve", "deny", "cancel", "request_roll"):
        app.action(action)(only_ack)
    return SlackRequestHandler(app)


def __getattr__(name: str) -> SlackRequestHandler:
    """`bench.bare:application`, built on lookup like `bot.web:application`."""
    if name == "application":
        return create_application()
    raise AttributeError(name)
