"""One short function per command and button: ack → parse → authorize → record → enqueue → update the message.

Every listener acks first (Slack's 3 seconds), then does only Redis work and Slack calls. Refusals are raised
as typed errors; `on_error` is the one place that turns them into what the person reads (also registered as
Bolt's error handler, for anything raised outside a listener body).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from logging import Logger
from typing import Any

import redis
from rq import Queue
from slack_bolt import App
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot import approvals, audit, messages
from bot.access import check_channel, check_not_management, check_requester
from bot.approvals import AlreadyOpen, Request, RequestClosed
from bot.commands import Command, UsageError, parse_command
from bot.errors import CftokenError
from bot.inventory import Inventory
from bot.queueing import enqueue_request, enqueue_verify
from bot.settings import Settings
from bot.status import last_rotations, read_statuses
from bot.usergroups import resolve_approvers

DEPS = "cftoken"  # the Bolt context key under which listeners find their dependencies
REQUEST_ROLL_REASON = "expiry warning"


@dataclass(frozen=True)
class Deps:
    settings: Settings
    redis: redis.Redis
    queue: Queue
    inventory: Inventory
    clock: Callable[[], datetime]

    def approvers(self, client: WebClient) -> frozenset[str]:
        return resolve_approvers(self.settings.approvers, conn=self.redis, client=client)


def register(app: App, deps: Deps) -> None:
    """Attach the dependencies, the listeners and the error handler to `app`."""

    def provide(context: dict[str, Any], next_: Callable[[], None]) -> None:
        context[DEPS] = deps
        next_()

    app.use(provide)
    app.command("/cftoken")(on_command)
    app.action("approve")(on_approve)
    app.action("deny")(on_deny)
    app.action("cancel")(on_cancel)
    app.action("request_roll")(on_request_roll)
    app.error(on_error)


def on_command(ack, command: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """`/cftoken …` from the SRE channel."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_channel(command["channel_id"], deps.settings.cftoken_channel_id)
        parsed = parse_command(command["text"], deps.inventory)
        ANSWERS[parsed.verb](parsed, command["user_id"], deps, respond, client)
        sweep_expired(deps, client)


def on_approve(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """Approve: count the click; the click that completes the approvals queues the job, exactly once."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        user, approvers = body["user"]["id"], deps.approvers(client)
        request = approvals.approve(deps.redis, _clicked(body), user=user, approvers=approvers, now=deps.clock())
        if request.state == "approved":
            enqueue_request(deps.queue, request.id)
            request = approvals.mark_queued(deps.redis, request.id, now=deps.clock())
        if request.state in ("pending", "queued"):  # past queued, the worker owns the message
            show_request(client, request, deps.inventory)


def on_deny(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """Deny: any approver but the requester ends the request."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        user, approvers = body["user"]["id"], deps.approvers(client)
        request = approvals.deny(deps.redis, _clicked(body), user=user, approvers=approvers, now=deps.clock())
        show_request(client, request, deps.inventory)


def on_cancel(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """Cancel: the requester withdraws."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        request = approvals.cancel(deps.redis, _clicked(body), user=body["user"]["id"], now=deps.clock())
        show_request(client, request, deps.inventory)


def on_request_roll(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    """The "Request roll" button on an expiry warning: the clicker opens the normal two-person roll request."""
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_channel(body["channel"]["id"], deps.settings.cftoken_channel_id)
        token = deps.inventory.find(_clicked(body))
        if token is None:
            raise UsageError(f"The token `{messages.escape(_clicked(body))}` is no longer in the inventory.")
        open_for_approval(Command("roll", token, REQUEST_ROLL_REASON), body["user"]["id"], deps, respond, client)


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
    """The one place errors become words: typed errors as written, anything else as a reference id."""
    deps: Deps | None = context.get(DEPS)
    if isinstance(error, RequestClosed) and deps is not None:
        show_request(client, error.request, deps.inventory)  # e.g. it just expired: take the buttons away
    if isinstance(error, AlreadyOpen):
        reply(respond, messages.render_already_open(error.request))
    elif isinstance(error, CftokenError):
        reply(respond, messages.render_error(error))
    else:
        reference = secrets.token_hex(4)
        logger.error("unexpected error, reference %s", reference, exc_info=error)
        reply(respond, messages.render_unexpected(reference))


def show_help(command: Command, user: str, deps: Deps, respond: Respond, client: WebClient) -> None:
    reply(respond, messages.render_help(deps.inventory, deps.approvers(client)))


def show_list(command: Command, user: str, deps: Deps, respond: Respond, client: WebClient) -> None:
    rotations = last_rotations(deps.redis, deps.inventory.names)
    reply(respond, messages.render_list(deps.inventory, read_statuses(deps.redis), deps.clock(), rotations))


def show_history(command: Command, user: str, deps: Deps, respond: Respond, client: WebClient) -> None:
    assert command.token is not None
    reply(respond, messages.render_history(command.token, audit.recent(deps.redis, command.token.name)))


def queue_verify(command: Command, user: str, deps: Deps, respond: Respond, client: WebClient) -> None:
    assert command.token is not None
    enqueue_verify(deps.queue, name=command.token.name, requested_by=user)
    audit.append(deps.redis, audit.AuditEvent(at=deps.clock(), who=user, event="verify", token=command.token.name))
    reply(respond, messages.render_verify_queued(command.token))


def open_for_approval(command: Command, user: str, deps: Deps, respond: Respond, client: WebClient) -> None:
    """Record a pending roll/revoke and post the approval message in the channel."""
    assert command.token is not None and command.verb in ("roll", "revoke")
    check_not_management(command.token, deps.inventory, command.verb)
    check_requester(user, deps.approvers(client), command.verb)
    request = approvals.open_request(
        deps.redis, action=command.verb, token=command.token.name, requester=user, reason=command.reason,
        needed=deps.settings.approvals_needed(command.verb), channel=deps.settings.cftoken_channel_id,
        ttl=timedelta(minutes=deps.settings.cftoken_request_ttl_minutes), now=deps.clock(),
    )  # fmt: skip
    text, blocks = messages.render_request(request, deps.inventory)
    posted = client.chat_postMessage(channel=request.channel, text=text, blocks=blocks)
    approvals.attach_message(
        deps.redis, request.id, channel=posted["channel"], message_ts=posted["ts"], now=deps.clock()
    )


ANSWERS = {
    "help": show_help,
    "list": show_list,
    "history": show_history,
    "verify": queue_verify,
    "roll": open_for_approval,
    "revoke": open_for_approval,
}


def sweep_expired(deps: Deps, client: WebClient) -> None:
    """Take the buttons off requests that expired unattended (the periodic job does the same)."""
    for request in approvals.expire_overdue(deps.redis, now=deps.clock()):
        show_request(client, request, deps.inventory)


def show_request(client: WebClient, request: Request, inventory: Inventory) -> None:
    """Update the approval message in place to the request's current state."""
    if request.message_ts is None:
        return
    text, blocks = messages.render_request(request, inventory)
    client.chat_update(channel=request.channel, ts=request.message_ts, text=text, blocks=blocks)


def reply(respond: Respond, message: messages.Message) -> None:
    """An answer only the person who typed or clicked can see."""
    text, blocks = message
    respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=False)


def _clicked(body: dict) -> str:
    """The clicked button's value: a request id (or, for request_roll, a token name) and nothing else."""
    return str(body["actions"][0].get("value", ""))
