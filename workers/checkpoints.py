"""Checkpoints of destructive operations in Redis, so a worker that dies mid-way can be resumed by another.

One Redis hash per request, `cftoken:op:<request id>`:
    action      roll | revoke
    token       inventory name
    step        the last step completed (see rotation.py / revocation.py for each action's steps)
    token_id    Cloudflare token id, once pre-flight resolved it
    sealed      the new token value, Fernet-encrypted; present only between "rolled" and "stored"
    rolls       how many times Cloudflare was asked to roll (bounded)
    expires_on  the planned new expiry (ISO-8601), fixed before it is written anywhere
    ticket_url  the FreeScout conversation, once it exists
    posted      set when the result message was posted (at most once)
    note        why the operation is waiting (shown to operators; never a secret)
    updated_at  ISO-8601
Unfinished operations are members of the set `cftoken:ops:unfinished` until they end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis

UNFINISHED = "cftoken:ops:unfinished"
FINISHED_TTL_SECONDS = 30 * 24 * 3600  # finished checkpoints are kept a month for the record


_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'action', ARGV[1], 'token', ARGV[2], 'step', 'queued', 'rolls', '0',
             'updated_at', ARGV[3])
  redis.call('SADD', KEYS[2], ARGV[4])
end
return 1
"""


def _key(request_id: str) -> str:
    return f"cftoken:op:{request_id}"


@dataclass
class Checkpoint:
    """A live view of one operation's checkpoint; every `save` writes through to Redis at once."""

    redis: redis.Redis
    request_id: str
    fields: dict[str, str]

    @classmethod
    def open(cls, conn: redis.Redis, request_id: str, *, action: str, token: str, now: datetime) -> Checkpoint:
        """Load the checkpoint, or create it at step "queued" and mark the operation unfinished (atomically)."""
        conn.eval(_CREATE, 2, _key(request_id), UNFINISHED, action, token, now.isoformat(), request_id)
        return cls.load(conn, request_id)

    @classmethod
    def load(cls, conn: redis.Redis, request_id: str) -> Checkpoint:
        raw = conn.hgetall(_key(request_id))
        return cls(conn, request_id, {k.decode(): v.decode() for k, v in raw.items() if k != b"sealed"})

    @property
    def step(self) -> str:
        return self.fields["step"]

    @property
    def action(self) -> str:
        return self.fields["action"]

    @property
    def token(self) -> str:
        return self.fields["token"]

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def save(self, *, now: datetime, sealed: bytes | None = None, drop: tuple[str, ...] = (), **values: str) -> None:
        """Write `values` (and the sealed value, if given) and remove `drop` fields, atomically."""
        mapping: dict[str, str | bytes] = {**values, "updated_at": now.isoformat()}
        if sealed is not None:
            mapping["sealed"] = sealed
        with self.redis.pipeline() as pipe:
            pipe.hset(_key(self.request_id), mapping=mapping)
            if drop:
                pipe.hdel(_key(self.request_id), *drop)
            pipe.execute()
        self.fields.update(values)
        for name in drop:
            self.fields.pop(name, None)

    def sealed(self) -> bytes | None:
        value = self.redis.hget(_key(self.request_id), "sealed")
        return bytes(value) if value is not None else None

    def claim_post(self, flag: str = "posted") -> bool:
        """True once per flag: the caller may post that message (at most once, even across resumptions)."""
        return bool(self.redis.hsetnx(_key(self.request_id), flag, "1"))

    def finish(self, *, now: datetime) -> None:
        """The operation ended: keep the record for a while, drop it from the unfinished set."""
        with self.redis.pipeline() as pipe:
            pipe.hset(_key(self.request_id), mapping={"updated_at": now.isoformat(), "finished": "1"})
            pipe.hdel(_key(self.request_id), "sealed")
            pipe.expire(_key(self.request_id), FINISHED_TTL_SECONDS)
            pipe.srem(UNFINISHED, self.request_id)
            pipe.execute()


def unfinished(conn: redis.Redis) -> list[str]:
    """Request ids of operations that started and have not ended, oldest id first."""
    return sorted(member.decode() for member in conn.smembers(UNFINISHED))
