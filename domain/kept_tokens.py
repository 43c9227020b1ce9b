"""Old tokens an approver kept live at the end of an overlap roll (Keep old), so that a revoke of the name deletes
them too and a leaked old value cannot outlive the revoke.

One Redis string per inventory name, `cftoken:kept:<NAME>`: JSON {"tokens": {token id: {"request": id, "at": ISO,
"by": who pressed Keep old}},
"tag": HMAC} (domain/integrity.py). No expiry: a kept token lives until its own expiry or a revoke, which forgets the
ids it deleted. A revoke deletes a kept id only when Cloudflare still lists it under that name, and a record whose
tag does not verify is refused, so neither a forged entry nor a stale one can delete another token.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from datetime import datetime

import redis

from domain import integrity
from domain.errors import CftokenError, RecordTampered

KEPT_PREFIX = "cftoken:kept:"
Tokens = dict[str, dict[str, str]]  # token id -> {"request": id, "at": ISO, "by": Slack user (newer records)}
_MAX_ATTEMPTS = 50


def kept_key(name: str) -> str:
    return KEPT_PREFIX + name


def kept_ids(conn: redis.Redis, name: str) -> list[str]:
    """The ids of `name`'s kept old tokens, oldest first; RecordTampered when cftoken did not write the record."""
    return list(_read(conn, name))


def kept_entries(conn: redis.Redis, name: str) -> Tokens:
    """Each kept old token of `name` with the request that kept it, when and by whom; RecordTampered as kept_ids."""
    return {token_id: dict(entry) for token_id, entry in _read(conn, name).items()}


def remember(conn: redis.Redis, name: str, token_id: str, *, request_id: str, now: datetime,
             by: str | None = None) -> None:
    """Add a kept old token of `name` (idempotent); a forged record is replaced, its entries never trusted."""
    entry = {"request": request_id, "at": now.isoformat(), **({"by": by} if by else {})}
    _change(conn, name, lambda tokens: {**tokens, token_id: tokens.get(token_id) or entry})


def forget(conn: redis.Redis, name: str, token_ids: Collection[str]) -> None:
    """Drop ids a revoke deleted (a forged record is dropped whole)."""
    _change(conn, name, lambda tokens: {i: entry for i, entry in tokens.items() if i not in token_ids})


def _change(conn: redis.Redis, name: str, change: Callable[[Tokens], Tokens]) -> None:
    key = kept_key(name)
    for _ in range(_MAX_ATTEMPTS):
        with conn.pipeline() as pipe:
            try:
                pipe.watch(key)
                try:
                    tokens = _read(pipe, name)
                except RecordTampered:
                    tokens = {}
                after = change(tokens)
                pipe.multi()
                if after:
                    pipe.set(key, _signed(name, after))
                else:
                    pipe.delete(key)
                pipe.execute()
                return
            except redis.WatchError:
                continue
    raise CftokenError(f"Too many writers at once on the kept tokens of {name}; try again.")


def _read(conn: redis.Redis, name: str) -> Tokens:
    raw = conn.get(kept_key(name))
    if raw is None:
        return {}
    record_id = f"kept:{name}"
    try:
        data = json.loads(raw)
        tokens, claimed = data["tokens"], data.get("tag")
        valid = isinstance(tokens, dict) and all(isinstance(i, str) for i in tokens)
    except (ValueError, TypeError, KeyError):
        valid, tokens, claimed = False, {}, None
    if not valid:
        raise RecordTampered(f"The kept-token record of {name} is not one cftoken wrote", record_id=record_id,
                             token=name)
    try:
        integrity.check_signed("kept", name, _payload(tokens), claimed)
    except RecordTampered as exc:
        exc.record_id, exc.token = record_id, name
        raise
    return tokens


def _payload(tokens: Tokens) -> bytes:
    return json.dumps(tokens, sort_keys=True, separators=(",", ":")).encode()


def _signed(name: str, tokens: Tokens) -> str:
    tag = integrity.tag(integrity.process_key(), "kept", name, _payload(tokens))
    return json.dumps({"tokens": tokens, "tag": tag})
