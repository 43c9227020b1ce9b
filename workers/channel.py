"""Keep the channel in step with an operation, through the Slack outbox: nothing here waits for Slack.

The request's message is redrawn to its current state; progress notes, the result (mentioning the requester)
and pause notices go in its thread, each once (by its key), a failure or pause also broadcast to the channel.
When Redis lost the request's record, what the worker holds in memory is posted at the top level instead and the
message is redrawn from that memory.
"""

from __future__ import annotations

import logging

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


def conclude(
    services: Services,
    checkpoint: Checkpoint,
    *,
    ok: bool,
    result: str,
    ticket_url: str | None = None,
    ticket_number: int | None = None,
    broadcast: bool = False,
) -> Request:
    """End the request (succeeded/failed), redraw its message, and reply with the result once (❌, or `broadcast`,
    also in the channel)."""
    request = requests.finish(
        services.redis, checkpoint.request_id, ok=ok, result=result, now=services.now(), ticket_url=ticket_url,
        ticket_number=ticket_number,
    )
    outbox.redraw(services.redis, request.id)
    ticket = f"\nIncident ticket: {ticket_link(ticket_url, ticket_number)}" if ticket_url else ""
    text = thread_notes.result(request, ok=ok, text=result + ticket)
    post(services, text, request_id=request.id, key="result", broadcast=broadcast or not ok)
    return request


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
