"""An overlap roll's wait, as its request record keeps it: the deadline the worker announced, an approver's Retire
old now or Keep old, and the deadline passing. Who ended the wait is settled here once, so a click and the deadline
never race. Storage and the other transitions are domain/requests.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime

import redis

from domain import access
from domain.errors import CftokenError, RequestClosed
from domain.requests import _PROGRESS, BOT, Also, OverlapEnd, Request, _apply, _event, _Outcome, _transact
from domain.timestamps import slack_date

CHOICES = {"retire_now": "Retire old now", "keep_old": "Keep old"}
_CHOSEN = {"retire_now": "the old token is deleted now", "keep_old": "both tokens stay live",
           "deadline": "the deadline passed: the old token is deleted"}


def set_retire_at(conn: redis.Redis, request_id: str, *, retire_at: datetime, now: datetime) -> Request:
    """An overlap roll told its thread the deadline: until then its message offers Retire old now and Keep old."""
    return _apply(conn, request_id, now, lambda r: _retiring(r, retire_at, now))


def end_overlap(
    conn: redis.Redis, request_id: str, *, choice: OverlapEnd, user: str, approvers: Collection[str], now: datetime,
    check: Callable[[Request], None] | None = None, also: Also | None = None,
) -> Request:
    """An approver's Retire old now or Keep old on a waiting overlap roll, recorded once; `check(request)` may refuse
    first, and `also(pipe, request)` writes the job that acts on it (and more) in the same MULTI."""
    def change(request: Request) -> _Outcome:
        if check is not None:
            check(request)
        return _overlap_chosen(request, choice, user, approvers, now)

    return _transact(conn, request_id, now, change, also)[0]


def overlap_due(conn: redis.Redis, request_id: str, *, deadline: datetime, now: datetime) -> Request:
    """The worker at `retire`: a passed deadline ends the wait, unless an approver's choice was recorded first."""
    return _apply(conn, request_id, now, lambda r: _overlap_due(r, deadline, now))


def _retiring(request: Request, retire_at: datetime, now: datetime) -> _Outcome:
    if request.state != "running":
        raise RequestClosed(f"Request {request.id} is {request.state}, not running.", request)
    if request.retire_at == retire_at:
        return request, None
    return request.model_copy(update={"retire_at": retire_at, "updated_at": now}), None


def _overlap_chosen(request: Request, choice: OverlapEnd, user: str, approvers: Collection[str],
                    now: datetime) -> _Outcome:
    access.check_overlap_choice(user, approvers)
    if choice == "keep_old":
        access.check_keep_old(user, requester=request.requester)
    if choice not in CHOICES:
        raise CftokenError(f"`{choice}` is not a choice an approver makes; nothing changed.")
    if request.overlap_end is not None:
        raise RequestClosed(f"Nothing changed: {overlap_end_text(request)}", request)
    if request.action != "roll" or request.state != "running" or request.retire_at is None:
        raise RequestClosed(f"Nothing changed: request `{request.id}` is not an overlap roll waiting to retire its "
                            f"old token (it is {_PROGRESS.get(request.state, request.state)}).", request)
    changed = request.model_copy(update={"overlap_end": choice, "overlap_end_by": user, "overlap_end_at": now,
                                         "updated_at": now})
    return changed, _event(changed, "overlap ended", user, now, f"{CHOICES[choice]}: {_CHOSEN[choice]}")


def _overlap_due(request: Request, deadline: datetime, now: datetime) -> _Outcome:
    if request.overlap_end is not None or now < deadline:
        return request, None
    if request.state != "running":
        raise RequestClosed(f"Request {request.id} is {request.state}, not running.", request)
    changed = request.model_copy(update={"overlap_end": "deadline", "overlap_end_by": BOT, "overlap_end_at": now,
                                         "updated_at": now})
    return changed, _event(changed, "overlap ended", BOT, now, _CHOSEN["deadline"])


def overlap_end_text(request: Request) -> str:
    """How an overlap's wait ended, in one sentence (who pressed which button, when), for messages and refusals."""
    at = slack_date(request.overlap_end_at) if request.overlap_end_at else "just now"
    if request.overlap_end == "deadline":
        return f"the overlap ended at its deadline {at}; the bot deletes the old token."
    if request.overlap_end in CHOICES:
        return f"<@{request.overlap_end_by}> already pressed *{CHOICES[request.overlap_end]}* {at}."
    return "the overlap is still waiting for its deadline."
