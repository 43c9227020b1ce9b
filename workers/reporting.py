"""Keep the channel in step with an operation: the approval message updated in place, one result message."""

from __future__ import annotations

import logging

from domain import approvals, forgeries
from domain.approvals import Request
from domain.errors import CftokenError, RecordTampered
from domain.messages import render_request, ticket_link
from domain.status import read_status
from workers.checkpoints import Checkpoint
from workers.services import Services

log = logging.getLogger(__name__)


def refresh_message(services: Services, request: Request) -> None:
    """Redraw the request's approval message; a Slack outage is logged, never allowed to stop the work."""
    if not request.message_ts:
        return
    text, blocks = render_request(request, services.inventory, read_status(services.redis, request.token),
                                  services.now())
    try:
        services.slack.update(request.message_ts, text, blocks)
    except CftokenError as exc:
        log.warning("request %s: could not update the approval message: %s", request.id, exc)


def show_step(services: Services, request_id: str, step: str) -> Request:
    """Record the step in progress on the request and show it on the approval message."""
    request = approvals.set_step(services.redis, request_id, step, now=services.now())
    refresh_message(services, request)
    return request


def conclude(
    services: Services,
    checkpoint: Checkpoint,
    *,
    ok: bool,
    result: str,
    ticket_url: str | None = None,
    ticket_number: int | None = None,
) -> Request:
    """End the request (succeeded/failed), redraw its message, and post the result (with ✅ or ❌) once."""
    request = approvals.finish(
        services.redis, checkpoint.request_id, ok=ok, result=result, now=services.now(), ticket_url=ticket_url,
        ticket_number=ticket_number,
    )
    refresh_message(services, request)
    if checkpoint.claim_post():
        ticket = f"\nIncident ticket: {ticket_link(ticket_url, ticket_number)}" if ticket_url else ""
        post(services, f"{'✅' if ok else '❌'} {result}{ticket}", thread_ts=None)
    return request


def post(services: Services, text: str, *, thread_ts: str | None, blocks: list | None = None) -> None:
    """Post a message to the channel, logging (not raising) a Slack failure."""
    try:
        services.slack.post(text, blocks, thread_ts=thread_ts)
    except CftokenError as exc:
        log.warning("could not post to the channel: %s", exc)


def refuse_forged(services: Services, exc: RecordTampered) -> None:
    """A record Redis alone wrote was refused: an error in the log every time; audit and ⚠️ once per record."""
    log.error("refused %s: %s", exc.record_id, exc)
    text = forgeries.claim_report(services.redis, exc, inventory=services.inventory, now=services.now())
    if text is not None:
        post(services, text, thread_ts=None)
