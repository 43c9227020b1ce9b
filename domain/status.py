"""The last known health of each token, written by verify, scan, roll and revoke jobs and read by `/cftoken list`.

`list` must answer inside Slack's 3 seconds without calling Cloudflare or Infisical, so it reads only these
snapshots (`cftoken:status:<NAME>`), each saying when and by which job it was taken. Each carries an integrity tag
(domain/integrity.py) over its JSON and name: one Redis alone wrote or changed (or one an older, untagged version
left) reads as never checked, so `list` and an approval message's *Health* line never show a state the bot did not
record.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import redis

from domain import integrity
from domain.health import Health

STATUS_PREFIX = "cftoken:status:"
ROTATED_PREFIX = "cftoken:rotated:"
OVERLAP_PREFIX = "cftoken:overlap:"  # name -> when an overlap rotation's old value dies
BOT_USE_KEY = "cftoken:bot-used"  # hash NAME → epoch of the bot's own last use of the value (verify, checks)


TokenStatus = Health  # a snapshot is a Health: state, problems with their ages, and when each fact was read
log = logging.getLogger(__name__)


def status_key(name: str) -> str:
    return STATUS_PREFIX + name


# Newer wins, atomically: a slow verify must not overwrite a scan that finished after it.
_RECORD_IF_NEWER = """
local at = redis.call('HGET', KEYS[1], 'at')
if at and tonumber(at) > tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'json', ARGV[1], 'at', ARGV[2], 'tag', ARGV[3])
return 1
"""


def record_statuses(conn: redis.Redis, snapshots: Mapping[str, TokenStatus]) -> None:
    """Store each snapshot as its token's last known state unless a newer one is stored (one round trip)."""
    script = conn.register_script(_RECORD_IF_NEWER)
    pipe = conn.pipeline(transaction=False)
    for name, snapshot in snapshots.items():
        body = snapshot.model_dump_json()
        tag = integrity.tag(integrity.process_key(), "status", name, body.encode())
        script(keys=[status_key(name)], args=[body, snapshot.checked_at.timestamp(), tag], client=pipe)
    pipe.execute()


def record_status(conn: redis.Redis, name: str, snapshot: TokenStatus) -> None:
    """Store `snapshot` as the token's last known state, unless a newer one is already stored."""
    record_statuses(conn, {name: snapshot})


def record_bot_use(conn: redis.Redis, names: Sequence[str], *, at: datetime) -> dict[str, datetime]:
    """Remember that the bot itself just used these tokens' values; return each one's previous own use."""
    key = BOT_USE_KEY
    pipe = conn.pipeline(transaction=False)
    pipe.hmget(key, list(names))
    pipe.hset(key, mapping={name: str(at.timestamp()) for name in names})
    previous = pipe.execute()[0] if names else []
    return {name: datetime.fromtimestamp(float(raw), tz=at.tzinfo) for name, raw in zip(names, previous, strict=True)
            if raw is not None}


def read_bot_uses(conn: redis.Redis) -> dict[str, datetime]:
    """When the bot itself last used each token's value (verify, value checks, a roll's verify)."""
    return {_text(name): datetime.fromtimestamp(float(at), tz=UTC) for name, at in conn.hgetall(BOT_USE_KEY).items()}


def read_status(conn: redis.Redis, name: str) -> TokenStatus | None:
    """The token's last known state as the bot recorded it; None when none is, or the stored one is not the bot's."""
    raw, tag = conn.hmget(status_key(name), ["json", "tag"])
    return _verified(name, raw, tag)


def read_statuses(conn: redis.Redis) -> dict[str, TokenStatus]:
    """Every stored snapshot the bot recorded, by token name."""
    keys = sorted(conn.scan_iter(match=STATUS_PREFIX + "*", count=1000))
    pipe = conn.pipeline(transaction=False)
    for key in keys:
        pipe.hmget(key, ["json", "tag"])
    values = pipe.execute() if keys else []
    found = {_text(key).removeprefix(STATUS_PREFIX): _verified(_text(key).removeprefix(STATUS_PREFIX), raw, tag)
             for key, (raw, tag) in zip(keys, values, strict=True)}
    return {name: status for name, status in found.items() if status is not None}


def _verified(name: str, raw: bytes | None, tag: bytes | None) -> TokenStatus | None:
    if raw is None:
        return None
    if not integrity.verifies_any("status", name, raw, _text(tag) if tag is not None else None):
        log.warning("status of %r: its integrity tag is missing or wrong (not recorded by cftoken); read as never "
                    "checked", name)
        return None
    return TokenStatus.model_validate_json(raw)


def record_rotation(conn: redis.Redis, name: str, *, at: datetime) -> None:
    """Remember when the bot last rolled `name` (for `list` and the no-expiry cadence reminder)."""
    conn.set(ROTATED_PREFIX + name, at.isoformat())


def record_overlap(conn: redis.Redis, name: str, *, retire_at: datetime | None) -> None:
    """Remember when an overlap rotation's old value of `name` dies (None: it is gone), for `list`."""
    if retire_at is None:
        conn.delete(OVERLAP_PREFIX + name)
    else:
        conn.set(OVERLAP_PREFIX + name, retire_at.isoformat())


def overlap_deadlines(conn: redis.Redis, names: Sequence[str]) -> dict[str, datetime]:
    """When the old value of each of `names` that is in an overlap dies, in one round trip."""
    values = conn.mget([OVERLAP_PREFIX + name for name in names]) if names else []
    return {name: datetime.fromisoformat(_text(raw)) for name, raw in zip(names, values, strict=True) if raw}


def last_rotations(conn: redis.Redis, names: Sequence[str]) -> dict[str, datetime]:
    """When the bot last rolled each of `names` (those it ever rolled), in one round trip."""
    values = conn.mget([ROTATED_PREFIX + name for name in names]) if names else []
    return {name: datetime.fromisoformat(_text(raw)) for name, raw in zip(names, values, strict=True) if raw}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
