"""The Slack outbox: what the channel must be told, recorded in Redis, delivered later by `workers/delivery.py`.

Web and workers never call Slack on an operation's path: they record here (a few Redis writes) and go on.

    redraw(conn, request_id)   the request's message should show the request's current state. Redraws coalesce
                               (one per burst) and the latest state wins: the deliverer renders at delivery time.
                               A request without a message yet gets it posted (the approval message).
    post(conn, key, text, …)   one message, posted once per `key` ever: asking again with the same key is a no-op.
                               With `request_id` it is a reply in that request's thread (after its message exists),
                               `broadcast` also shows it in the channel.
    post_in(pipe, key, …)      the same for a top-level post, queued inside the caller's MULTI transaction (the
                               scan's digest is recorded with the claims it tells, or not at all).
    redraw_in / reply_in(pipe, …)  a redraw, or a reply in a request's thread, queued inside the caller's MULTI (a
                               click's transition commits with its redraw and its note, or not at all).

Keys (a "conversation" is a request id, or `post:<key>` for a top-level message of its own):
    cftoken:outbox:due              sorted set: conversation → when it is next due (unix seconds; 0 is now)
    cftoken:outbox:want / :drawn    hashes: request id → redraw generation asked for / last drawn
    cftoken:outbox:queue:<conv>     list: post keys waiting, in the order asked
    cftoken:outbox:post:<key>       hash: text, blocks, request_id, broadcast, created, update_ts and `tag`, then
                                    `tried` and `ts` (the deliverer's own marks)
    cftoken:outbox:wake             list: a nudge for an idle deliverer
Delivery is at least once per attempt and exactly once in effect: a post that may have reached Slack (`tried`) is
looked for by its key (carried in the message's metadata) before it is posted again.

A post's `tag` is the HMAC of everything it shows and where (SIGNED below) under the key that is not in Redis
(domain/integrity.py): `read_post` returns only a post cftoken wrote, so a Redis writer cannot put words, buttons
or a redraw of another message into the channel. A redraw asked with `redraw` carries no text at all: the
deliverer renders it from the request's signed record.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import redis

from domain import integrity
from domain.errors import RecordTampered

DUE = "cftoken:outbox:due"
WANT = "cftoken:outbox:want"
DRAWN = "cftoken:outbox:drawn"
WAKE = "cftoken:outbox:wake"
QUIET_UNTIL = "cftoken:outbox:quiet_until"  # Slack asked everyone to wait (429 Retry-After) until this instant
POST_TTL_SECONDS = 30 * 24 * 3600  # a key is remembered a month after it was posted
METADATA_EVENT = "cftoken_outbox"
SIGNED = ("key", "conversation", "text", "blocks", "request_id", "broadcast", "created", "update_ts")

_POST = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'key', ARGV[1], 'conversation', ARGV[2], 'text', ARGV[3], 'blocks', ARGV[4],
           'request_id', ARGV[5], 'broadcast', ARGV[6], 'created', ARGV[7], 'update_ts', ARGV[8], 'tag', ARGV[9])
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], 'LT', 0, ARGV[2])
redis.call('LPUSH', KEYS[4], '1')
redis.call('LTRIM', KEYS[4], 0, 0)
return 1
"""


def post_key(key: str) -> str:
    return f"cftoken:outbox:post:{key}"


def queue_key(conversation: str) -> str:
    return f"cftoken:outbox:queue:{conversation}"


def lock_key(conversation: str) -> str:
    return f"cftoken:outbox:lock:{conversation}"


def redraw(conn: redis.Redis, request_id: str) -> None:
    """Ask for the request's message to be redrawn (or first posted) with whatever state it has when delivered."""
    with conn.pipeline(transaction=True) as pipe:
        redraw_in(pipe, request_id)
        pipe.execute()


def redraw_in(pipe: redis.client.Pipeline, request_id: str) -> None:
    """`redraw` queued on the caller's MULTI pipeline, so it commits with the transition it shows."""
    pipe.hincrby(WANT, request_id, 1)
    pipe.zadd(DUE, {request_id: 0}, lt=True)  # due now, whatever the clocks say
    pipe.lpush(WAKE, "1")
    pipe.ltrim(WAKE, 0, 0)


def post(
    conn: redis.Redis,
    key: str,
    text: str,
    blocks: list[dict[str, Any]] | None = None,
    *,
    request_id: str | None = None,
    broadcast: bool = False,
    update_ts: str | None = None,
    now: datetime,
) -> bool:
    """Queue one message under `key` (a reply in `request_id`'s thread if given; with `update_ts`, a chat.update
    of that message instead); False if `key` was used before."""
    conversation = request_id or f"post:{key}"
    created = conn.eval(_POST, 4, *_post_args(key, conversation, text, blocks, request_id=request_id,
                                              broadcast=broadcast, update_ts=update_ts, now=now))
    return bool(created)


def post_in(
    pipe: redis.client.Pipeline, key: str, text: str, blocks: list[dict[str, Any]] | None, *, group: str,
    now: datetime,
) -> None:
    """Queue a top-level post on a MULTI pipeline, so it is recorded with what it tells or not at all; the posts
    of one `group` are delivered in the order queued."""
    pipe.eval(_POST, 4, *_post_args(key, f"post:{group}", text, blocks, now=now))


def reply_in(
    pipe: redis.client.Pipeline, key: str, text: str, *, request_id: str, now: datetime,
    blocks: list[dict[str, Any]] | None = None, broadcast: bool = False,
) -> None:
    """A reply in `request_id`'s thread (as `post` with `request_id`), queued on the caller's MULTI pipeline, so
    it is recorded with the transition it tells or not at all."""
    pipe.eval(_POST, 4, *_post_args(key, request_id, text, blocks, request_id=request_id, broadcast=broadcast,
                                    now=now))


def _post_args(
    key: str, conversation: str, text: str, blocks: list[dict[str, Any]] | None, *, request_id: str | None = None,
    broadcast: bool = False, update_ts: str | None = None, now: datetime,
) -> list[Any]:
    """_POST's keys and arguments, the post signed (its tag covers every field in SIGNED)."""
    values = [key, conversation, text, json.dumps(blocks or []), request_id or "", "1" if broadcast else "",
              repr(now.timestamp()), update_ts or ""]
    return [post_key(key), queue_key(conversation), DUE, WAKE, *values, _tag(dict(zip(SIGNED, values, strict=True)))]


def _tag(fields: dict[str, str]) -> str:
    return integrity.tag(integrity.process_key(), "outbox", fields["key"], integrity.fields_payload(fields))


def read_post(conn: redis.Redis, key: str) -> dict[str, str] | None:
    """The post queued under `key` (None when there is none), only if cftoken wrote it: RecordTampered when its tag
    is missing or does not cover what it holds (a Redis writer wrote or changed it)."""
    record = {k.decode(): v.decode(errors="replace") for k, v in conn.hgetall(post_key(key)).items()}
    if not record:
        return None
    signed = {name: record.get(name, "") for name in SIGNED}
    if not integrity.verifies_any("outbox", signed["key"], integrity.fields_payload(signed), record.get("tag")) \
            or signed["key"] != key:
        raise RecordTampered(f"The outbox entry {key} is not one cftoken wrote", record_id=key)
    return record


def pending(conn: redis.Redis) -> int:
    """How many conversations have something undelivered (for operators and tests)."""
    return int(conn.zcard(DUE))
