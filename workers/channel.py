"""Keep the channel in step with an operation, through the Slack outbox: nothing here waits for Slack.

The request's message is redrawn to its current state; progress notes, the result (mentioning the requester)
and pause notices go in its thread, each once (by its key), a failure or pause also broadcast to the channel.
When Redis lost the request's record, what the worker holds in memory is posted at the top level instead and the
message is redrawn from that memory.
"""

from __future__ import annotations

import logging
from datetime import datetime

from redis.client import Pipeline

from domain import blast_records, consumer_records, forgeries, outbox, requests, thread_notes
from domain.errors import RecordTampered
from domain.messages import ticket_link
from domain.requests import Request
from domain.status import read_status
from workers.approval_message import render_request
from workers.operations import revoke_lookup as revoke_targets
from workers.operations.checkpoints import Checkpoint
from workers.services import Services

log = logging.getLogger(__name__)

STEP_NOTES = {
    "rolled": "Rolled at Cloudflare: the old value stopped working; the new value is going to the vault.",
    "stored": "The new value is stored in the vault.",
    "verified": "The new value is verified active at Cloudflare.",
    "deleted at Cloudflare": "Deleted at Cloudflare.",
    "vault value replaced": "The vault value is replaced with a REVOKED placeholder.",
}


def refresh_message(services: Services, request: Request) -> None:
    """Redraw the request's message to its current state (latest state wins); from `request` if Redis lost it."""
    if requests.load(services.redis, request.id, now=services.now()) is not None:
        outbox.redraw(services.redis, request.id)
    elif request.message_ts:
        now = services.now()
        text, blocks = render_request(request, services.inventory, read_status(services.redis, request.token), now,
                                      revoke_targets.for_request(services.redis, request, now=now),
                                      blast_records.for_request(services.redis, request, now=now),
                                      consumer_records.load(services.redis, request.id))
        outbox.post(services.redis, f"{request.id}:redraw:{request.state}", text, blocks,
                    update_ts=request.message_ts, now=services.now())


def show_step(services: Services, request_id: str, step: str) -> Request:
    """Record the step in progress on the request, show it on its message, and note a finished step in the thread."""
    request = requests.set_step(services.redis, request_id, step, now=services.now())
    outbox.redraw(services.redis, request_id)
    note = STEP_NOTES.get(step)
    if note is not None:
        post(services, thread_notes.step(note), request_id=request_id, key=f"step:{step}")
    return request


def show_expired(services: Services, request: Request) -> None:
    """An approval request expired: take its buttons away and tell the requester."""
    outbox.redraw(services.redis, request.id)
    post(services, thread_notes.expired(request), request_id=request.id, key="expired")


Reply = tuple[str, str, list | None]  # (key, text, blocks): one more reply in a request's thread


def conclude(
    services: Services,
    checkpoint: Checkpoint,
    *,
    ok: bool,
    result: str,
    ticket_url: str | None = None,
    ticket_number: int | None = None,
    broadcast: bool = False,
    replies: tuple[Reply, ...] = (),
    next_step: str | None = "done",
) -> Request:
    """End the request (succeeded/failed) in one MULTI with everything that tells of it: its audit event, its
    message's redraw, the result in its thread once (❌, or `broadcast`, also in the channel), `replies`, and the
    checkpoint's end ("done"), or its `next_step` (a step that follows the result), or nothing (None). A worker
    killed around it leaves none of it or all of it. A request that had already ended is settled instead
    (`settle`): its own result is owed, not this one."""
    now, finish = services.now(), next_step == "done"
    moved = {"drop": ("pauses", "retry_at"), "step": next_step} if next_step and not finish else None

    def tell(pipe: Pipeline, request: Request) -> None:
        outbox.redraw_in(pipe, request.id)
        reply_result_in(pipe, request, now=now, broadcast=broadcast or not ok)
        for key, text, blocks in replies:
            outbox.reply_in(pipe, f"{request.id}:{key}", text, request_id=request.id, blocks=blocks, now=now)
        if finish:
            checkpoint.finish_in(pipe, now=now)
        elif moved:
            checkpoint.save_in(pipe, now=now, **moved)

    request, wrote = requests.finish_written(
        services.redis, checkpoint.request_id, ok=ok, result=result, now=now, ticket_url=ticket_url,
        ticket_number=ticket_number, also=tell,
    )
    if not wrote:  # it had ended before this worker got here: its own result is owed, once
        settle(services, checkpoint, request, finish=finish)
        if moved:
            checkpoint.save(now=now, **moved)
    elif finish:
        checkpoint.finished_here()
    elif moved:
        checkpoint.saved_here(now=now, **moved)
    return request


def result_owed(services: Services, request: Request) -> bool:
    """The request ended and its result was never queued: a worker of an earlier version, which ended a request
    and posted its result in separate writes, was killed between them."""
    return (request.state in ("succeeded", "failed")
            and not services.redis.exists(outbox.post_key(f"{request.id}:result")))


def settle(services: Services, checkpoint: Checkpoint, request: Request, *, finish: bool = True) -> None:
    """A request that ended while its operation did not: redraw its message, post the result its record holds once
    (nothing if it was posted) and (`finish`) end the checkpoint, in one MULTI. Nothing at Cloudflare, the vault or
    FreeScout. (A checkpoint put back after its request ended and reported is a replay: approval.check refuses it.)"""
    now = services.now()
    with services.redis.pipeline(transaction=True) as pipe:
        outbox.redraw_in(pipe, request.id)
        if request.state in ("succeeded", "failed"):
            reply_result_in(pipe, request, now=now, broadcast=request.state == "failed")
        if finish:
            checkpoint.finish_in(pipe, now=now)
        pipe.execute()
    if finish:
        checkpoint.finished_here()
    log.info("%s %s had ended as %s: its result is posted at most once", request.action, request.id, request.state)


def reply_result_in(pipe: Pipeline, request: Request, *, now: datetime, broadcast: bool) -> None:
    """The result the finished request's record holds, with its ticket, in its thread under the key `result`."""
    ok = request.state == "succeeded"
    ticket = (f"\nIncident ticket: {ticket_link(request.ticket_url, request.ticket_number)}"
              if request.ticket_url else "")
    text = thread_notes.result(request, ok=ok, text=(request.result or "") + ticket)
    outbox.reply_in(pipe, f"{request.id}:result", text, request_id=request.id, broadcast=broadcast, now=now)


def post(
    services: Services,
    text: str,
    *,
    request_id: str,
    key: str,
    blocks: list | None = None,
    broadcast: bool = False,
    in_thread: bool = True,
) -> None:
    """A reply in the request's thread, once per `key` for that request (`broadcast`: also in the channel);
    `in_thread=False` posts it at the top level (the request's record, and so its message, is lost)."""
    outbox.post(
        services.redis, f"{request_id}:{key}", text, blocks, request_id=request_id if in_thread else None,
        broadcast=broadcast, now=services.now(),
    )


def refuse_forged(services: Services, exc: RecordTampered) -> None:
    """A record Redis alone wrote was refused: an error in the log every time; audit and ⚠️ once per record."""
    log.error("refused %s: %s", exc.record_id, exc)
    text = forgeries.claim_report(services.redis, exc, inventory=services.inventory, now=services.now())
    if text is not None:
        outbox.post(services.redis, f"forged:{exc.record_id}:{services.now().isoformat()}", text,
                    now=services.now())
