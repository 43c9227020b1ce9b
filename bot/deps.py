"""What the web's listeners work with: `Deps` (in every Bolt request's context under DEPS), where a command or a click
came from (our workspace and channel, a request's own message, the request or token its button names), and how an
answer (or an error, in one place) reaches the person or the request's thread.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from logging import Logger

import redis
from redis.client import Pipeline
from rq import Queue
from slack_bolt.context.ack import Ack
from slack_bolt.context.respond import Respond
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from bot.usergroups import current_approvers, shown_approvers
from domain import (
    forgeries,
    messages,
    outbox,
    requests,
)
from domain.access import (
    Origin,
    approvers_for,
    check_message,
    check_origin,
)
from domain.errors import CftokenError, RecordTampered
from domain.inventory import Inventory
from domain.requests import AlreadyOpen, Request, RequestClosed
from domain.settings import WebSettings

DEPS = "cftoken"  # the Bolt context key under which listeners find their dependencies


@dataclass(frozen=True)
class Deps:
    settings: WebSettings
    redis: redis.Redis
    queue: Queue
    inventory: Inventory
    clock: Callable[[], datetime]

    def approvers(self, client: WebClient, token: str | None = None) -> frozenset[str]:
        """Who may decide on `token` (its own approvers, else the global ones), read fresh for every decision (raises
        ApproversUnavailable when Slack is slow to say)."""
        return current_approvers(self.configured_approvers(token), conn=self.redis, client=client)

    def configured_approvers(self, token: str | None) -> tuple[str, ...]:
        """The entries (users, groups) that approve `token`, as configured."""
        return approvers_for(self.inventory.find(token) if token else None, self.settings.approvers)

    def shown_approvers(self, client: WebClient) -> frozenset[str]:
        """For display only: may be a few minutes old."""
        return shown_approvers(self.settings.approvers, conn=self.redis, client=client)


def told_and_redrawn(deps: Deps, pipe: Pipeline, request: Request, note: Callable[[Request], str], key: str) -> None:
    """A transition's redraw and its note in the thread, written in the transition's MULTI."""
    outbox.redraw_in(pipe, request.id)
    tell(deps, request, note(request), key, pipe=pipe)


def tell(deps: Deps, request: Request, text: str, key: str, *, pipe: Pipeline | None = None) -> None:
    """A note in the request's thread, once per `key` for that request (delivered by the outbox); with `pipe`,
    written in that MULTI."""
    if pipe is not None:
        outbox.reply_in(pipe, f"{request.id}:{key}", text, request_id=request.id, now=deps.clock())
        return
    outbox.post(deps.redis, f"{request.id}:{key}", text, request_id=request.id, now=deps.clock())


def ack_with(ack: Ack, message: messages.Message | None) -> None:
    """Acknowledge; with a message, Slack shows it to the person who typed the command (and nobody else)."""
    if message is None:
        ack()
        return
    text, blocks = message
    ack(text=text, blocks=blocks, response_type="ephemeral")


def reply(respond: Respond, message: messages.Message) -> None:
    """An answer only the person who typed or clicked can see."""
    text, blocks = message
    respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


def expected_origin(context: dict, deps: Deps) -> Origin:
    """Our workspace and organisation (auth.test, which Bolt calls once and caches), app and SRE channel."""
    bot = context.get("authorize_result")
    return Origin(
        team_id=getattr(bot, "team_id", None), enterprise_id=getattr(bot, "enterprise_id", None),
        app_id=deps.settings.slack_app_id, channel_id=deps.settings.cftoken_channel_id,
    )


def command_origin(command: dict) -> Origin:
    return Origin(team_id=command.get("team_id"), enterprise_id=command.get("enterprise_id") or None,
                  app_id=command.get("api_app_id"), channel_id=command.get("channel_id"))


def click_origin(body: dict) -> Origin:
    """Where a click says it came from; the clicked message's channel must be the payload's channel."""
    team, container = body.get("team") or {}, body.get("container") or {}
    channel = (body.get("channel") or {}).get("id")
    enterprise = team.get("enterprise_id") or (body.get("enterprise") or {}).get("id")
    return Origin(team_id=team.get("id"), enterprise_id=enterprise or None, app_id=body.get("api_app_id"),
                  channel_id=channel if channel == container.get("channel_id") else None)


def check_click(body: dict, context: dict, deps: Deps) -> Request | None:
    """A click on a request's button counts only from our workspace, on that request's own message; the request
    as read (None for an unknown id, which the transition itself refuses)."""
    check_origin(click_origin(body), expected_origin(context, deps))
    request = requests.load(deps.redis, _clicked(body), now=deps.clock())
    if request is not None:
        check_clicked_message(body, request)
    return request


def clicked_token(deps: Deps, body: dict) -> str | None:
    """The token of the request whose button was clicked (None for an unknown id, which the transition refuses)."""
    request = requests.load(deps.redis, _clicked(body), now=deps.clock())
    return request.token if request is not None else None


def check_clicked_message(body: dict, request: Request) -> None:
    """The click came from `request`'s own message (not a copy of its button on another one)."""
    container = body.get("container") or {}
    check_message(clicked_channel=container.get("channel_id"), clicked_ts=container.get("message_ts"),
                  request_channel=request.channel, request_ts=request.message_ts)


def _header(request: BoltRequest, name: str) -> str | None:
    values = request.headers.get(name) or [None]
    return values[0]


def _clicked(body: dict) -> str:
    """The clicked button's value: a request id (or, for request_roll, a token name) and nothing else."""
    return str(body["actions"][0].get("value", ""))


@contextmanager
def answering(respond: Respond, client: WebClient, context: dict, logger: Logger) -> Iterator[None]:
    """Hand any error raised after the ack to `on_error`.

    Bolt's own error path (app.error) clears the ack it has not yet returned when a listener raises quickly
    after acking, which makes Slack's request wait 3 s and fail; catching inside the listener avoids that.
    """
    try:
        yield
    except Exception as error:  # noqa: BLE001 - on_error answers every error, logging unexpected ones
        on_error(error, respond, client, context, logger)


def on_error(error: Exception, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """Bolt's error handler, and the answer to errors raised after an ack: through the response_url."""
    reply(respond, describe_error(error, client, context.get(DEPS), logger))


def describe_error(error: Exception, client: WebClient, deps: Deps | None, logger: Logger) -> messages.Message:
    """The one place errors become words: typed errors as written, anything else as a reference id."""
    if isinstance(error, RequestClosed) and deps is not None:
        outbox.redraw(deps.redis, error.request.id)  # e.g. it just expired: take the buttons away
    if isinstance(error, AlreadyOpen):
        return messages.render_already_open(error.request)
    if isinstance(error, RecordTampered) and deps is not None:
        report_forged(error, client, deps, logger)
    if isinstance(error, CftokenError):
        return messages.render_error(error)
    reference = secrets.token_hex(4)
    logger.error("unexpected error, reference %s", reference, exc_info=error)
    return messages.render_unexpected(reference)


def report_forged(error: RecordTampered, client: WebClient, deps: Deps, logger: Logger) -> None:
    """A click met a record Redis alone wrote: logged; the channel and the audit hear of it once."""
    logger.error("refused %s: %s", error.record_id, error)
    text = forgeries.claim_report(deps.redis, error, inventory=deps.inventory, now=deps.clock())
    if text is not None:
        outbox.post(deps.redis, f"forged:{error.record_id}:{deps.clock().isoformat()}", text, now=deps.clock())
