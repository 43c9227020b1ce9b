"""Two-person requests: one Redis record per request and its atomic state transitions.

    pending → approved → queued → running → succeeded | failed
    pending → denied | cancelled | expired

Each transition is a pure function on a Request (below `# transitions`); `_apply` runs it under WATCH/MULTI
on the request key, so concurrent clicks serialise: exactly one of many simultaneous approvals moves a
request to `approved`, and the audit events commit in the same MULTI as the state they describe. A pending
request past its deadline reads as expired wherever it is loaded, and the first writer to touch it stores that.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from typing import Literal

import redis
from pydantic import BaseModel

from domain import access, audit, request_tags
from domain.errors import AlreadyOpen, CftokenError, RecordTampered, RequestClosed, RequestNotFound
from domain.timestamps import slack_date

Action = Literal["roll", "revoke", "provision"]
OverlapEnd = Literal["retire_now", "keep_old", "deadline"]  # who ended an overlap's wait: an approver, or the clock
State = Literal["pending", "approved", "queued", "running", "succeeded", "failed", "denied", "cancelled", "expired"]
OPEN_STATES = frozenset({"pending", "approved", "queued", "running"})
FINAL_STATES = frozenset({"succeeded", "failed", "denied", "cancelled", "expired"})
PENDING_INDEX = "cftoken:pending"  # sorted set: request id scored by its deadline (unix seconds)
APPROVED_INDEX = "cftoken:approved"  # sorted set: approved, not yet queued, scored by when (unix seconds)
RETAIN_FINISHED = timedelta(days=30)  # the audit streams keep the history after this
BOT = "cftoken"
log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"^(roll|revoke|provision)-[0-9a-f]{12}$")
_MAX_ATTEMPTS = 200


class Approval(BaseModel):
    user: str
    at: datetime


class Request(BaseModel):
    id: str
    action: Action
    token: str
    requester: str
    reason: str
    state: State
    needed: int
    approvals: list[Approval] = []
    denied_by: str | None = None
    deny_reason: str = ""
    created_at: datetime
    expires_at: datetime
    channel: str
    message_ts: str | None = None
    step: str | None = None
    result: str | None = None
    ticket_url: str | None = None
    ticket_number: int | None = None  # FreeScout's number, the link text (the URL holds its internal id)
    supersedes: str | None = None  # a revoke's: the open roll of the same token it cancels before it runs
    replaces: str | None = None  # a provision that replaces a revoked token: the revoke's request id
    replaced_by: str | None = None  # a revoke whose replacement was provisioned: that provision's request id
    updated_at: datetime
    retire_at: datetime | None = None  # an overlap roll waiting at `retire`: when the old token is deleted
    overlap_end: OverlapEnd | None = None  # how that wait ended (an approver's button, or the deadline)
    overlap_end_by: str | None = None
    overlap_end_at: datetime | None = None
    token_id: str | None = None  # the Cloudflare token it acts on, bound once by the worker's pre-flight (signed)
    owner: str = "user"  # the owner kind of the token approved: "user" or "account" (signed)

    @property
    def approved_by(self) -> list[str]:
        return [approval.user for approval in self.approvals]

    def overdue(self, now: datetime) -> bool:
        return self.state == "pending" and now >= self.expires_at


_Outcome = tuple[Request, audit.AuditEvent | list[audit.AuditEvent] | None]
Also = Callable[[redis.client.Pipeline, Request], None]  # more writes for a transition's MULTI, given its result
_FROM = {"queued": ("approved",), "running": ("approved", "queued")}  # a fast worker may start before "queued"
_PROGRESS = {"approved": "being queued", "queued": "queued", "running": "running", "succeeded": "done"}
_ALREADY = {"queued": ("queued", "running", *FINAL_STATES), "running": ("running",)}


def request_key(request_id: str) -> str:
    return f"cftoken:request:{request_id}"


def open_key(action: str, token: str) -> str:
    return f"cftoken:open:{action}:{token}"


def new_request_id(action: str) -> str:
    """An id usable as an RQ job id (letters, digits, '-') that names the action."""
    return f"{action}-{secrets.token_hex(6)}"


def load(conn: redis.Redis, request_id: str, *, now: datetime) -> Request | None:
    """The request as it stands at `now` (a pending one past its deadline reads as expired), or None."""
    if not _REQUEST_ID.match(request_id):
        return None
    raw = conn.get(request_key(request_id))
    if raw is None:
        return None
    return _as_of(request_tags.verified(raw, request_id, Request), now)[0]


def open_request(
    conn: redis.Redis, *, action: Action, token: str, requester: str, reason: str, needed: int, ttl: timedelta,
    channel: str, now: datetime, replaces: str | None = None, also: Also | None = None, owner: str = "user",
) -> Request:
    """Record a new pending request; one open operation per token, pauses included.

    AlreadyOpen when the token has an open request for `action`, or an open revoke (nothing runs beside a revoke).
    A revoke beside an open roll is accepted and `supersedes` it: the revoke's worker cancels the roll first.
    `also(pipe, request)` adds writes (the outbox's approval message and first reply) to the same MULTI.
    """
    key, rival_key = open_key(action, token), open_key("roll" if action == "revoke" else "revoke", token)
    for _ in range(_MAX_ATTEMPTS):
        with conn.pipeline() as pipe:
            try:
                pipe.watch(key, rival_key)
                existing_id, rival_id = pipe.mget(key, rival_key)
                existing = _open_at(pipe, existing_id, now)
                if existing is not None:
                    raise AlreadyOpen(existing)
                rival = _open_at(pipe, rival_id, now)
                if rival is not None and action == "roll":
                    raise AlreadyOpen(rival)
                request = Request(
                    id=new_request_id(action), action=action, token=token, requester=requester, reason=reason,
                    state="pending", needed=needed, created_at=now, expires_at=now + ttl, channel=channel,
                    updated_at=now, supersedes=rival.id if rival is not None else None, replaces=replaces,
                    owner=owner,
                )
                pipe.multi()
                _save(pipe, request)
                pipe.set(key, request.id)
                detail = f"{reason} (replaces {replaces})" if replaces and replaces not in reason else reason
                audit.append(pipe, _event(request, "requested", requester, now, detail))
                if also is not None:
                    also(pipe, request)
                pipe.execute()
                return request
            except redis.WatchError:
                continue
    raise CftokenError("Too many people opened requests at once; try again.")


def _open_at(pipe: redis.client.Pipeline, request_id: bytes | None, now: datetime) -> Request | None:
    """The open request `request_id` (read from a watched open-request pointer; its record is watched too), or None."""
    if request_id is None:
        return None
    pipe.watch(request_key(request_id.decode()))
    try:
        request = load(pipe, request_id.decode(), now=now)
    except RecordTampered:  # logged; a forged record does not block a real request
        return None
    return request if request is not None and request.state in OPEN_STATES else None


def supersede(conn: redis.Redis, request_id: str, *, result: str, now: datetime) -> Request:
    """A revoke ends an open roll of its token: pending → cancelled, approved/queued/running → failed."""
    return _apply(conn, request_id, now, lambda r: _superseded(r, result, now))


def attach_message(conn: redis.Redis, request_id: str, *, channel: str, message_ts: str, now: datetime) -> Request:
    """Remember which channel message shows the request, so every later transition can update it."""
    where = {"channel": channel, "message_ts": message_ts}
    return _apply(conn, request_id, now, lambda r: (r.model_copy(update=where), None))


def approve(
    conn: redis.Redis, request_id: str, *, user: str, approvers: Collection[str], now: datetime,
    check: Callable[[Request], None] | None = None, queue: bool = False, also: Also | None = None,
) -> Request:
    """Count `user`'s approval; the request becomes `approved` once it has as many as it needs.

    `check(request)` may refuse first (e.g. a click on another request's message). With `queue`, the approval that
    completes the request stores it `queued` at once, and `also(pipe, request)` writes the job (and anything else)
    in the same MULTI: exactly one click queues it, and it is never left approved but not queued.
    """
    def change(request: Request) -> _Outcome:
        if check is not None:
            check(request)
        approved, event = _approved(request, user, approvers, now)
        if not queue or approved.state != "approved":
            return approved, event
        queued, queued_event = _moved(approved, "queued", now)
        return queued, [event, queued_event]

    return _transact(conn, request_id, now, change, also)[0]


def deny(
    conn: redis.Redis, request_id: str, *, user: str, approvers: Collection[str], now: datetime, reason: str = "",
    also: Also | None = None,
) -> Request:
    """An approver's denial ends the request; the reason, if given, is shown on its message and in the audit.
    `also(pipe, request)` adds writes (the redraw, the thread's note) to the same MULTI."""
    return _transact(conn, request_id, now, lambda r: _denied(r, user, approvers, now, reason), also)[0]


def cancel(
    conn: redis.Redis, request_id: str, *, user: str, now: datetime, check: Callable[[Request], None] | None = None,
    also: Also | None = None,
) -> Request:
    """The requester withdraws the request. `check(request)` may refuse first (e.g. a click on another request's
    message); `also(pipe, request)` adds writes (the redraw, the thread's note) to the same MULTI."""
    def change(request: Request) -> _Outcome:
        if check is not None:
            check(request)
        return _cancelled(request, user, now)

    return _transact(conn, request_id, now, change, also)[0]


def mark_queued(conn: redis.Redis, request_id: str, *, now: datetime) -> Request:
    """approved → queued; a no-op when a fast worker has already moved it further."""
    return _apply(conn, request_id, now, lambda r: _moved(r, "queued", now))


def mark_running(conn: redis.Redis, request_id: str, *, now: datetime) -> Request:
    """queued (or approved) → running; idempotent so that a resumed job may call it again."""
    return _apply(conn, request_id, now, lambda r: _moved(r, "running", now))


def set_step(conn: redis.Redis, request_id: str, step: str, *, now: datetime) -> Request:
    """Record progress of a running request (e.g. "pre-flight", "rolled", "stored", "verified", "done")."""
    return _apply(conn, request_id, now, lambda r: _stepped(r, step, now))


def finish(
    conn: redis.Redis, request_id: str, *, ok: bool, result: str, now: datetime, ticket_url: str | None = None,
    ticket_number: int | None = None, also: Also | None = None,
) -> Request:
    """running → succeeded | failed with the result to show, `also`'s writes (the result's post, the checkpoint's
    end) in the same MULTI; a no-op, `also` left out, when it has already finished."""
    return finish_written(conn, request_id, ok=ok, result=result, now=now, ticket_url=ticket_url,
                          ticket_number=ticket_number, also=also)[0]


def finish_written(
    conn: redis.Redis, request_id: str, *, ok: bool, result: str, now: datetime, ticket_url: str | None = None,
    ticket_number: int | None = None, also: Also | None = None,
) -> tuple[Request, bool]:
    """`finish`, and whether this call wrote it with `also` (False: the request had already finished)."""
    def change(request: Request) -> _Outcome:
        return _finished(request, ok, result, (ticket_url, ticket_number), now)

    return _transact(conn, request_id, now, change, also)


def record_replacement(conn: redis.Redis, request_id: str, *, replacement: str, now: datetime) -> Request:
    """Mark a finished revoke as replaced (its message then names the provision instead of offering one)."""
    return _apply(
        conn, request_id, now,
        lambda r: (r.model_copy(update={"replaced_by": replacement, "updated_at": now}), None),
    )


def bind_token(conn: redis.Redis, request_id: str, *, token_id: str, now: datetime) -> Request:
    """The worker's pre-flight found the token the running request acts on: bind it, once (signed with the record)."""
    def bound(request: Request) -> _Outcome:
        if request.state != "running" or request.token_id is not None:
            return request, None
        return request.model_copy(update={"token_id": token_id, "updated_at": now}), None

    return _apply(conn, request_id, now, bound)


def attach_ticket(
    conn: redis.Redis, request_id: str, *, ticket_url: str, now: datetime, ticket_number: int | None = None
) -> Request:
    """Add the incident link to a revoke that finished while FreeScout was down."""
    update = {"ticket_url": ticket_url, "ticket_number": ticket_number, "updated_at": now}
    return _apply(conn, request_id, now, lambda r: (r.model_copy(update=update), None))


def expire_overdue(conn: redis.Redis, *, now: datetime) -> list[Request]:
    """Store `expired` on every pending request past its deadline and return them (to update their messages)."""
    expired = []
    for raw_id in conn.zrangebyscore(PENDING_INDEX, "-inf", now.timestamp()):
        request_id = raw_id.decode()
        try:
            request, wrote = _transact(conn, request_id, now, lambda r: (r, None))
        except RequestNotFound:
            conn.zrem(PENDING_INDEX, request_id)
            continue
        except RecordTampered:  # logged; never expired, approved or shown: the other requests still expire
            conn.zrem(PENDING_INDEX, request_id)
            continue
        if wrote and request.state == "expired":
            expired.append(request)
    return expired


def stranded(conn: redis.Redis, *, now: datetime, older_than: timedelta = timedelta(minutes=1)) -> list[str]:
    """Ids of requests approved more than `older_than` ago but never queued (the web died in between)."""
    cutoff = (now - older_than).timestamp()
    return [raw.decode() for raw in conn.zrangebyscore(APPROVED_INDEX, "-inf", cutoff)]


def open_requests(conn: redis.Redis, *, now: datetime) -> list[Request]:
    """Every pending request, oldest first (for a reconciler or an operator)."""
    ids = [raw.decode() for raw in conn.zrange(PENDING_INDEX, 0, -1)]
    return [request for request in (load(conn, i, now=now) for i in ids) if request is not None]


# transitions: pure functions Request -> (Request, audit event or None); they raise to refuse


def _approved(request: Request, user: str, approvers: Collection[str], now: datetime) -> _Outcome:
    _require_pending(request, "approve")
    access.check_approval(user, requester=request.requester, approved_by=request.approved_by, approvers=approvers)
    approvals = [*request.approvals, Approval(user=user, at=now)]
    state = "approved" if len(approvals) >= request.needed else "pending"
    changed = request.model_copy(update={"approvals": approvals, "state": state, "updated_at": now})
    return changed, _event(changed, "approved", user, now, f"{len(approvals)} of {request.needed}")


def _denied(request: Request, user: str, approvers: Collection[str], now: datetime, reason: str) -> _Outcome:
    _require_pending(request, "deny")
    access.check_denial(user, requester=request.requester, approvers=approvers)
    changed = request.model_copy(
        update={"state": "denied", "denied_by": user, "deny_reason": reason, "updated_at": now}
    )
    return changed, _event(changed, "denied", user, now, reason)


def _cancelled(request: Request, user: str, now: datetime) -> _Outcome:
    _require_pending(request, "cancel")
    access.check_cancel(user, requester=request.requester)
    changed = request.model_copy(update={"state": "cancelled", "updated_at": now})
    return changed, _event(changed, "cancelled", user, now)


def _superseded(request: Request, result: str, now: datetime) -> _Outcome:
    if request.state in FINAL_STATES:
        return request, None
    state = "cancelled" if request.state == "pending" else "failed"
    changed = request.model_copy(update={"state": state, "result": result, "updated_at": now})
    return changed, _event(changed, "superseded", BOT, now, result)


def _moved(request: Request, target: str, now: datetime) -> _Outcome:
    if request.state in _ALREADY[target]:
        return request, None
    if request.state not in _FROM[target]:
        raise RequestClosed(f"Request {request.id} is {request.state}; it cannot become {target}.", request)
    changed = request.model_copy(update={"state": target, "updated_at": now})
    return changed, _event(changed, "ran" if target == "running" else target, BOT, now)


def _stepped(request: Request, step: str, now: datetime) -> _Outcome:
    if request.state != "running":
        raise RequestClosed(f"Request {request.id} is {request.state}, not running.", request)
    return request.model_copy(update={"step": step, "updated_at": now}), None


def _finished(
    request: Request, ok: bool, result: str, ticket: tuple[str | None, int | None], now: datetime
) -> _Outcome:
    if request.state in ("succeeded", "failed"):
        return request, None
    if request.state != "running":
        raise RequestClosed(f"Request {request.id} is {request.state}, not running.", request)
    state = "succeeded" if ok else "failed"
    ticket_url, ticket_number = ticket
    changed = request.model_copy(update={"state": state, "result": result, "ticket_url": ticket_url,
                                         "ticket_number": ticket_number, "updated_at": now})
    return changed, _event(changed, state, BOT, now, result)


def _require_pending(request: Request, verb: str) -> None:
    if request.state == "pending":
        return
    by = ", ".join(f"<@{user}>" for user in request.approved_by)
    why = {
        "expired": f"it expired {slack_date(request.expires_at)} without enough approvals",
        "denied": f"<@{request.denied_by}> denied it",
        "cancelled": f"<@{request.requester}> cancelled it",
    }.get(request.state, f"it was already approved by {by} and is {_PROGRESS.get(request.state, request.state)}")
    again = f" {ask_again_hint(request)}" if request.state in FINAL_STATES else ""
    raise RequestClosed(f"Nothing to {verb}: {why}.{again}", request)


def ask_again_hint(request: Request) -> str:
    """The next step after a finished request: a revoke needs a reason, and once it succeeded, a replacement."""
    name = request.token
    if request.action == "revoke" and request.state == "succeeded":
        if request.replaced_by:
            return f"{name} is revoked; its replacement was already asked for (`{request.replaced_by}`)."
        return (f"{name} is revoked; for a replacement use `/cftoken provision {name}` or *Provision replacement* "
                "on the revoke's message.")
    if request.action == "revoke":
        return f"Ask again with `/cftoken revoke {name} REASON`."
    return f"Ask again with `/cftoken {request.action} {name}`."


def _as_of(request: Request, now: datetime) -> tuple[Request, list[audit.AuditEvent]]:
    """The request as it stands at `now`: an overdue pending one is expired (with the event to record)."""
    if not request.overdue(now):
        return request, []
    expired = request.model_copy(update={"state": "expired", "updated_at": now})
    return expired, [_event(expired, "expired", BOT, now)]


def _event(request: Request, event: str, who: str, now: datetime, detail: str = "") -> audit.AuditEvent:
    return audit.AuditEvent(
        at=now, who=who, event=event, token=request.token, action=request.action, request_id=request.id, detail=detail
    )


def _apply(conn: redis.Redis, request_id: str, now: datetime, change: Callable[[Request], _Outcome]) -> Request:
    return _transact(conn, request_id, now, change)[0]


def _transact(
    conn: redis.Redis, request_id: str, now: datetime, change: Callable[[Request], _Outcome], also: Also | None = None
) -> tuple[Request, bool]:
    """Run `change` on the stored request under WATCH; store the result, its audit events and `also`'s writes
    atomically.

    An overdue pending request is stored as expired even when `change` then refuses (it raises RequestClosed
    carrying the expired record, so the caller can update the message; `also` is then left out). Returns
    (request, whether it wrote).
    """
    if not _REQUEST_ID.match(request_id):
        raise RequestNotFound("That request does not exist.")
    key = request_key(request_id)
    for _ in range(_MAX_ATTEMPTS):
        with conn.pipeline() as pipe:
            try:
                pipe.watch(key)
                raw = pipe.get(key)
                if raw is None:
                    raise RequestNotFound("That request does not exist (or finished long ago).")
                stored = request_tags.verified(raw, request_id, Request)
                current, events = _as_of(stored, now)
                refusal: CftokenError | None = None
                try:
                    current, event = change(current)
                    events += event if isinstance(event, list) else [event] if event else []
                except CftokenError as exc:
                    refusal = exc
                wrote = current != stored
                if wrote:
                    pipe.multi()
                    _save(pipe, current)
                    for event in events:
                        audit.append(pipe, event)
                    if also is not None and refusal is None:
                        also(pipe, current)
                    pipe.execute()
                if refusal is not None:
                    raise refusal
                return current, wrote
            except redis.WatchError:
                continue
    raise CftokenError("Too many clicks at once on this request; try again.")


def _save(pipe: redis.client.Pipeline, request: Request) -> None:
    key = request_key(request.id)
    if request.state == "pending":
        pipe.set(key, request_tags.signed(request))
        pipe.zadd(PENDING_INDEX, {request.id: request.expires_at.timestamp()})
        return
    pipe.zrem(PENDING_INDEX, request.id)
    if request.state == "approved":
        pipe.zadd(APPROVED_INDEX, {request.id: request.updated_at.timestamp()})
    else:
        pipe.zrem(APPROVED_INDEX, request.id)
    retain = RETAIN_FINISHED if request.state in FINAL_STATES else None
    pipe.set(key, request_tags.signed(request), ex=retain)
