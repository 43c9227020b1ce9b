"""An approval binds to the token it was approved for: pure decisions on a request, its checkpoint and the vault.

A request record's tag covers the Cloudflare token id it acts on (`token_id`, bound by the worker's pre-flight, the
first time it reads the vault) and the token's owner kind (`owner`); a checkpoint's tag covers the same id. So a
genuinely tagged record copied earlier and put back into Redis (a replay) cannot act on another token:

    a token issued after the request was approved   is not the one approved (a replacement provisioned since)
    a vault __TOKEN_ID other than the bound one     the vault moved on (revoked and replaced): nothing is written
    a checkpoint of a request that has ended        never resumed, except the steps after the result (a revoke's
                                                    ticket), which change nothing at Cloudflare or in the vault

Each refusal is a RecordReplayed: refused loudly like a forged record (log, audit, one ⚠️), nothing changed.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

from domain.errors import RecordReplayed
from domain.requests import Request

RUNNABLE = frozenset({"approved", "queued", "running"})
SKEW = timedelta(minutes=5)  # how far Cloudflare's issued_on may run ahead of our clock


def approved_at(request: Request) -> datetime:
    """When the request got the approval that completed it (its last approval), else when it was asked."""
    return max((approval.at for approval in request.approvals), default=request.created_at)


def check_runnable(request: Request, step: str, *, settled: Collection[str]) -> None:
    """Only a request in a state that allows it runs; a finished request's checkpoint resumes only a settled step."""
    if request.state in RUNNABLE or step in settled:
        return
    raise _replayed(request, f"its checkpoint (at step `{step}`) was put back after the request had ended "
                             f"({request.state}): a finished request's checkpoint is never resumed")


def check_owner(request: Request, owner: str) -> None:
    """The inventory's owner kind of the token must still be the one approved (a user token is not an account's)."""
    if request.owner != owner:
        raise _replayed(request, f"it was approved for a {request.owner}-owned token, and it would now act on "
                                 f"a {owner}-owned one")


def check_issued(request: Request, token_id: str, issued_on: datetime | None, *, skew: timedelta) -> None:
    """The token the vault names now must be older than the approval: a newer one is not the token approved."""
    if request.token_id is not None and request.token_id != token_id:
        raise _replayed(request, f"it was approved for token {request.token_id}, and the vault now names "
                                 f"{token_id}")
    if issued_on is not None and issued_on > approved_at(request) + skew:
        raise _replayed(request, f"the vault's token {token_id} was issued at Cloudflare {issued_on:%Y-%m-%d %H:%M} "
                                 f"UTC, after the request was approved ({approved_at(request):%Y-%m-%d %H:%M} UTC): "
                                 "it is not the token that was approved")


def check_bound(request: Request, in_play: Collection[str], vault_id: str | None) -> None:
    """A step past pre-flight acts only while the request's bound id is one of the operation's and the vault still
    names one of them (`in_play`: the checkpoint's ids; an overlap's old token and twin)."""
    if not in_play:
        return
    if request.token_id is not None and request.token_id not in in_play:
        raise _replayed(request, f"it was approved for token {request.token_id}, and its checkpoint names "
                                 f"{', '.join(sorted(in_play))}")
    if vault_id is not None and vault_id not in in_play:
        raise _replayed(request, f"its checkpoint acts on token {', '.join(sorted(in_play))}, and the vault now "
                                 f"names {vault_id} (the token was replaced since)")


def _replayed(request: Request, why: str) -> RecordReplayed:
    return RecordReplayed(f"The {request.action} request {request.id} was replayed: {why}. Nothing was done",
                          record_id=request.id, token=request.token)
