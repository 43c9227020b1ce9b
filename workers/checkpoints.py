"""Checkpoints of destructive operations in Redis, so a worker that dies mid-way can be resumed by another.

One Redis hash per request, `cftoken:op:<request id>`:
    action      roll | revoke
    token       inventory name
    step        the next step to run, by its name in the operation's step table (rotation.py / revocation.py);
                "done" once the operation ended
    rev         bumped by every write: a worker writes only over the revision it read, so two workers never
                both advance one operation
    token_id    Cloudflare token id, once pre-flight resolved it
    sealed      the new token value, Fernet-encrypted; present only while the vault has not taken it
    rolls       how many times Cloudflare was asked to roll (bounded)
    expires_on  the planned new expiry (ISO-8601), fixed before it is written anywhere
    ticket_url  the FreeScout conversation, once it exists
    posted      set when the result message was posted
    note        why the operation is waiting (shown to operators; never a secret)
    updated_at  ISO-8601
Unfinished operations are members of the set `cftoken:ops:unfinished` until they end.

A write never creates the hash (only `open` does): when Redis has lost it (a restart without persistence, a
FLUSHALL), the checkpoint turns `lost` and carries on in the worker's memory, so no orphan hash is left behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import redis

from domain.errors import OperationLost

UNFINISHED = "cftoken:ops:unfinished"
FINISHED_TTL_SECONDS = 30 * 24 * 3600  # finished checkpoints are kept a month for the record

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'action', ARGV[1], 'token', ARGV[2], 'step', ARGV[3], 'rolls', '0', 'rev', '0',
             'updated_at', ARGV[4])
  redis.call('SADD', KEYS[2], ARGV[5])
end
return 1
"""

# KEYS[1] the hash; ARGV[1] the revision read, ARGV[2] how many field/value pairs follow, then the pairs,
# then the fields to drop. Returns the new revision, 0 when the hash is gone, -1 when another writer moved it.
_SAVE = """
if redis.call('HEXISTS', KEYS[1], 'action') == 0 then return 0 end
if redis.call('HGET', KEYS[1], 'rev') ~= ARGV[1] then return -1 end
local pairs = tonumber(ARGV[2])
for i = 3, 2 + 2 * pairs, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
for i = 3 + 2 * pairs, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
return redis.call('HINCRBY', KEYS[1], 'rev', 1)
"""

_FINISH = """
if redis.call('HEXISTS', KEYS[1], 'action') == 1 then
  redis.call('HSET', KEYS[1], 'step', 'done', 'finished', '1', 'updated_at', ARGV[1])
  redis.call('HDEL', KEYS[1], 'sealed')
  redis.call('HINCRBY', KEYS[1], 'rev', 1)
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
redis.call('SREM', KEYS[2], ARGV[3])
return 1
"""

_CLAIM = """
if redis.call('HEXISTS', KEYS[1], 'action') == 0 then return 2 end
return redis.call('HSETNX', KEYS[1], ARGV[1], '1')
"""


def _key(request_id: str) -> str:
    return f"cftoken:op:{request_id}"


@dataclass
class Checkpoint:
    """A live view of one operation's checkpoint; every `save` writes through to Redis at once (while it can)."""

    redis: redis.Redis
    request_id: str
    fields: dict[str, str]
    lost: bool = False  # Redis no longer has it: the worker holding this view is the only record left

    @classmethod
    def open(
        cls, conn: redis.Redis, request_id: str, *, action: str, token: str, first: str, now: datetime
    ) -> Checkpoint:
        """Load the checkpoint, or create it at step `first` and mark the operation unfinished (atomically)."""
        conn.eval(_CREATE, 2, _key(request_id), UNFINISHED, action, token, first, now.isoformat(), request_id)
        return cls.load(conn, request_id)

    @classmethod
    def load(cls, conn: redis.Redis, request_id: str) -> Checkpoint:
        raw = conn.hgetall(_key(request_id))
        fields = {k.decode(): v.decode() for k, v in raw.items() if k != b"sealed"}
        return cls(conn, request_id, fields, lost="action" not in fields)

    @classmethod
    def exists(cls, conn: redis.Redis, request_id: str) -> bool:
        return bool(conn.hexists(_key(request_id), "action"))

    @property
    def step(self) -> str:
        return self.fields["step"]

    @property
    def action(self) -> str:
        return self.fields["action"]

    @property
    def token(self) -> str:
        return self.fields["token"]

    @property
    def finished(self) -> bool:
        return self.fields.get("finished") == "1" or self.fields.get("step") == "done"

    def get(self, name: str) -> str | None:
        return self.fields.get(name)

    def save(self, *, now: datetime, sealed: bytes | None = None, drop: tuple[str, ...] = (), **values: str) -> None:
        """Write `values` (and the sealed value, if given) and remove `drop` fields, atomically.

        OperationLost when another worker moved the checkpoint since this one read it; when Redis lost it, the
        checkpoint turns `lost` and keeps the values in memory only.
        """
        mapping: dict[str, str | bytes] = {**values, "updated_at": now.isoformat()}
        if sealed is not None:
            mapping["sealed"] = sealed
        if not self.lost:
            pairs = [item for pair in mapping.items() for item in pair]
            rev = int(self.redis.eval(_SAVE, 1, _key(self.request_id), self.fields.get("rev", "0"),
                                      len(mapping), *pairs, *drop))
            if rev < 0:
                raise OperationLost("another worker moved this operation on")
            if rev == 0:
                self.lost = True
            else:
                values = {**values, "rev": str(rev)}
        self.fields.update(values)
        self.fields["updated_at"] = now.isoformat()
        for name in drop:
            self.fields.pop(name, None)

    def sealed(self) -> bytes | None:
        value = self.redis.hget(_key(self.request_id), "sealed")
        return bytes(value) if value is not None else None

    def claim_post(self, flag: str = "posted") -> bool:
        """True once per flag: the caller may post that message (a lost checkpoint has only its one worker)."""
        return bool(self.redis.eval(_CLAIM, 1, _key(self.request_id), flag))

    def finish(self, *, now: datetime) -> None:
        """The operation ended: keep the record for a while, drop it from the unfinished set (never recreate it)."""
        self.redis.eval(_FINISH, 2, _key(self.request_id), UNFINISHED, now.isoformat(), FINISHED_TTL_SECONDS,
                        self.request_id)
        self.fields.update(step="done", finished="1")


def unfinished(conn: redis.Redis) -> list[str]:
    """Request ids of operations that started and have not ended, oldest id first."""
    return sorted(member.decode() for member in conn.smembers(UNFINISHED))
