"""The one read of what a revoke of a name deletes, shared by the real revoke, its dry run and its approval message:
Redis's records (the signed kept-token record, an open overlap roll's signed checkpoint) and, for the revoke and
the dry run, Cloudflare's list of tokens by the name (one request; the vault's token by id only when the list does
not show it). The decision itself is domain/revoke_targets.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import redis

from domain import kept_tokens, requests
from domain.cloudflare_tokens import CfToken
from domain.errors import RecordTampered, TokenNotFound
from domain.requests import OPEN_STATES, Request
from domain.revoke_targets import Kept, Known, Overlap, Targets, decide
from domain.timestamps import parse_timestamp
from workers.clients.cloudflare import CloudflareClient
from workers.operations import minting
from workers.operations.checkpoints import Checkpoint

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Read:
    """What Cloudflare said just now: the vault's token (None when gone) and the decision on the name's tokens."""

    token: CfToken | None
    targets: Targets


def known_to_bot(conn: redis.Redis, name: str, *, roll_id: str | None, now: datetime,
                 on_forged: Callable[[RecordTampered], None] | None = None, revoke_id: str | None = None) -> Known:
    """Redis's records of `name`'s tokens besides __TOKEN_ID: kept old tokens and the open roll `roll_id`'s overlap,
    or the one revoke `revoke_id` already cancelled (a resumed pre-flight); a kept-token record cftoken did not sign
    is ignored, and handed to `on_forged`."""
    try:
        entries = kept_tokens.kept_entries(conn, name)
        forged = False
    except RecordTampered as exc:
        entries, forged = {}, True
        if on_forged is not None:
            on_forged(exc)
    kept = tuple(Kept(token_id, entry.get("request", "?"), parse_timestamp(entry.get("at")), entry.get("by"))
                 for token_id, entry in entries.items())
    overlap = open_overlap(conn, roll_id, now=now, revoke_id=revoke_id)
    return Known(read_at=now, kept=kept, overlap=overlap, forged=forged)


def superseded_result(revoke_id: str) -> str:
    """How a roll's result begins once revoke `revoke_id` cancelled it (its signed record says so)."""
    return f"Cancelled: revoke `{revoke_id}` supersedes this roll."


def open_overlap(conn: redis.Redis, roll_id: str | None, *, now: datetime,
                 revoke_id: str | None = None) -> Overlap | None:
    """The overlap roll `roll_id` while it is open and past its pre-flight (or once revoke `revoke_id` cancelled it),
    from its signed records; else None."""
    if roll_id is None:
        return None
    try:
        roll = requests.load(conn, roll_id, now=now)
        cancelled = (roll is not None and revoke_id is not None
                     and (roll.result or "").startswith(superseded_result(revoke_id)))
        open_now = roll is not None and roll.state in OPEN_STATES
        held = Checkpoint.load(conn, roll_id) if open_now or cancelled else None
    except RecordTampered as exc:
        log.error("revoke targets: %s", exc)
        return None
    if held is None or held.lost or (held.finished and not cancelled) or held.get("strategy") != "overlap":
        return None
    return Overlap(roll_id, held.get("old_token_id"), held.get("token_id"), parse_timestamp(held.get("intent_at")))


def open_roll_id(conn: redis.Redis, name: str) -> str | None:
    """The id an open roll of `name` is recorded under (a revoke asked now would supersede it), or None."""
    raw = conn.get(requests.open_key("roll", name))
    return raw.decode() if raw is not None else None


def for_request(conn: redis.Redis, request: Request, *, now: datetime) -> Known | None:
    """What an open revoke request's message lists beside its token; None for anything else (nothing to read)."""
    if request.action != "revoke" or request.state not in OPEN_STATES:
        return None
    return known_to_bot(conn, request.token, roll_id=request.supersedes, now=now)


def read_at_cloudflare(cloudflare: CloudflareClient, name: str, token_id: str, known: Known) -> Read:
    """One GET of the tokens named `name` decides; the vault's token is fetched by id only when not listed there."""
    listed = minting.tokens_named(cloudflare, name)
    token = next((t for t in listed if t.id == token_id), None)
    if token is None:
        try:
            token = cloudflare.get_token(token_id)
        except TokenNotFound:
            token = None  # already gone at Cloudflare: the delete counts that as done
    return Read(token, decide(token_id, known, listed, skew=minting.CLOCK_SKEW))
