"""The buttons of a request's consumers: Retry sync on a failed secret sync (any approver of the token; queues the
worker's retry once at a time) and Done on a consumer copied by hand (its owner, or a member of the owner group)."""

from __future__ import annotations

from logging import Logger

from slack_bolt import App
from slack_bolt.context.respond import Respond
from slack_sdk import WebClient

from bot.deps import DEPS, Deps, _clicked, answering, click_origin, expected_origin, tell
from bot.usergroups import current_approvers
from domain import actions, consumer_records, outbox, requests
from domain.access import check_origin
from domain.errors import UsageError
from domain.queueing import enqueue_retry_sync
from domain.requests import Request

RETRY_SECONDS = 15 * 60  # one retry of a sync at a time; the worker clears it when its retry ends


def register(app: App) -> None:
    app.action(actions.RETRY_SYNC)(on_retry_sync)
    app.action(actions.CONSUMER_DONE)(on_consumer_done)


def _request(deps: Deps, body: dict) -> tuple[Request, str]:
    request_id, _, rest = _clicked(body).partition("|")
    request = requests.load(deps.redis, request_id, now=deps.clock())
    if request is None or not rest:
        raise UsageError("That request is no longer on record: nothing to do.")
    return request, rest


def on_retry_sync(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_origin(click_origin(body), expected_origin(context, deps))
        request, sync_id = _request(deps, body)
        user = body["user"]["id"]
        if user not in deps.approvers(client, request.token):
            raise UsageError(f"Only an approver of {request.token} can retry its sync.")
        if not deps.redis.set(f"cftoken:consumers:retry:{request.id}:{sync_id}", user, nx=True, ex=RETRY_SECONDS):
            raise UsageError("A retry of this sync is already under way; its outcome follows in the thread.")
        enqueue_retry_sync(deps.queue, request_id=request.id, sync_id=sync_id)
        tell(deps, request, f"🔁 <@{user}> pressed *Retry sync*: the bot runs the sync again and reports it here.",
             f"retry-sync:{sync_id}:{deps.clock().timestamp():.0f}")


def on_consumer_done(ack, body: dict, respond: Respond, client: WebClient, context: dict, logger: Logger) -> None:
    ack()
    with answering(respond, client, context, logger):
        deps: Deps = context[DEPS]
        check_origin(click_origin(body), expected_origin(context, deps))
        request, index_text = _request(deps, body)
        record = consumer_records.load(deps.redis, request.id)
        index = int(index_text) if index_text.isdigit() else -1
        if record is None or not 0 <= index < len(record.hand):
            raise UsageError("That consumer is no longer on record: nothing to confirm.")
        entry, user = record.hand[index], body["user"]["id"]
        owner = entry.owner.removeprefix("<@").removeprefix("<!subteam^").rstrip(">")
        if user not in current_approvers((owner,), conn=deps.redis, client=client):
            raise UsageError(f"Only {entry.owner} can confirm this consumer.")
        if consumer_records.confirm(deps.redis, request.id, index, user):
            tell(deps, request, f"✅ <@{user}> confirmed: the consumer is on the new value.", f"consumer-done:{index}")
            outbox.redraw(deps.redis, request.id)
