"""Checkpoints of destructive operations in Redis, so a worker that dies mid-way can be resumed by another.

One Redis hash per request, `cftoken:op:<request id>`:
    action      roll | revoke
    token       inventory name
    step        the next step to run, by its name in the operation's step table (rotation.py / revocation.py);
                "done" once the operation ended
    rev         bumped by every write: a worker writes only over the revision it read, so two workers never
                both advance one operation
    token_id    Cloudflare token id, once pre-flight resolved it (and bound it into the request's record)
    owner       the owner kind of that token ("user" or "account"), written with the binding
    sealed      the new token value, Fernet-encrypted; present only while the vault has not taken it
    rolls       how many times Cloudflare was asked to roll (bounded)
    expires_on  the planned new expiry (ISO-8601), fixed before it is written anywhere
    ticket_url  the FreeScout conversation, once it exists
    also_delete a revoke's other ids to delete (an overlap's tokens, kept old tokens Cloudflare still lists)
    left_live   a revoke's `id@issued_on` of each live token with the name no record of the bot names (left, said)
    note        why the operation is waiting (shown to operators; never a secret)
    pauses      how many times it paused (bounded: operations/machine.MAX_TRIES); retry_at: when it is tried again
    updated_at  ISO-8601
    tag         HMAC of the SIGNED fields (domain/integrity.py): a checkpoint Redis alone wrote is refused
Unfinished operations are members of the set `cftoken:ops:unfinished` until they end.

A write never creates the hash (only `open` does): when Redis has lost it (a restart without persistence, a
FLUSHALL), the checkpoint turns `lost` and carries on in the worker's memory, so no orphan hash is left behind.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

import redis

from domain import integrity
from domain.errors import OperationLost, RecordTampered

UNFINISHED = "cftoken:ops:unfinished"
FINISHED_TTL_SECONDS = 30 * 24 * 3600  # finished checkpoints are kept a month for the record
# What decides a Cloudflare or vault change (which token, which step, the value, the expiry, whether it ended):
# tagged. Notes, timestamps and the at-most-once message flags are not: forging them changes only what is said.
SIGNED = ("action", "token", "step", "rev", "token_id", "sealed", "rolls", "expires_on", "ticket_url", "finished",
          "creates", "intent_at", "tokens_before", "cloudflare_expires_on", "strategy", "old_token_id", "retire_at",
          "also_delete", "left_live", "owner", "pauses", "retry_at")

_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'action', ARGV[1], 'token', ARGV[2], 'step', ARGV[3], 'rolls', '0', 'rev', '0',
             'updated_at', ARGV[4], 'tag', ARGV[6])
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

# ARGV[4] the revision read, ARGV[5] the tag of the finished state: written only over that revision.
_FINISH = """
if redis.call('HEXISTS', KEYS[1], 'action') == 1 then
  local current = redis.call('HGET', KEYS[1], 'rev')
  redis.call('HSET', KEYS[1], 'step', 'done', 'finished', '1', 'updated_at', ARGV[1])
  redis.call('HDEL', KEYS[1], 'sealed')
  redis.call('HINCRBY', KEYS[1], 'rev', 1)
  if current == ARGV[4] then redis.call('HSET', KEYS[1], 'tag', ARGV[5]) end
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
redis.call('SREM', KEYS[2], ARGV[3])
return 1
"""

def _key(request_id: str) -> str:
    return f"cftoken:op:{request_id}"


def _digest(sealed: bytes | None) -> str | None:
    return hashlib.sha256(sealed).hexdigest() if sealed is not None else None


def _signed_payload(fields: dict[str, str], sealed_digest: str | None) -> bytes:
    """The bytes a checkpoint's tag covers: its SIGNED fields (the sealed value by its digest)."""
    signed = {name: fields[name] for name in SIGNED if name in fields and name != "sealed"}
    if sealed_digest is not None:
        signed["sealed"] = sealed_digest
    return integrity.fields_payload(signed)


def _tag(request_id: str, fields: dict[str, str], sealed_digest: str | None) -> str:
    """The tag of a checkpoint whose fields are `fields`, under the current key."""
    return integrity.tag(integrity.process_key(), "checkpoint", request_id, _signed_payload(fields, sealed_digest))


@dataclass
class Checkpoint:
    """A live view of one operation's checkpoint; every `save` writes through to Redis at once (while it can)."""

    redis: redis.Redis
    request_id: str
    fields: dict[str, str]
    lost: bool = False  # Redis no longer has it: the worker holding this view is the only record left
    sealed_digest: str | None = field(default=None, repr=False)  # of the sealed value the tag covers

    @classmethod
    def open(
        cls, conn: redis.Redis, request_id: str, *, action: str, token: str, first: str, now: datetime
    ) -> Checkpoint:
        """Load the checkpoint, or create it at step `first` and mark the operation unfinished (atomically)."""
        created = _tag(request_id, {"action": action, "token": token, "step": first, "rolls": "0", "rev": "0"}, None)
        conn.eval(_CREATE, 2, _key(request_id), UNFINISHED, action, token, first, now.isoformat(), request_id,
                  created)
        return cls.load(conn, request_id)

    @classmethod
    def load(cls, conn: redis.Redis, request_id: str) -> Checkpoint:
        """The checkpoint as stored; RecordTampered when its tag does not verify (Redis was written by hand)."""
        raw = conn.hgetall(_key(request_id))
        fields = {k.decode(): v.decode() for k, v in raw.items() if k != b"sealed"}
        digest = _digest(raw.get(b"sealed"))
        checkpoint = cls(conn, request_id, fields, lost="action" not in fields, sealed_digest=digest)
        if not checkpoint.lost:
            checkpoint._verify(fields.get("tag"))
        return checkpoint

    def _verify(self, claimed: str | None) -> None:
        payload = _signed_payload(self.fields, self.sealed_digest)
        if not integrity.verifies_any("checkpoint", self.request_id, payload, claimed):
            why = "has no integrity tag" if claimed is None else "has an integrity tag that does not verify"
            raise RecordTampered(f"The checkpoint of {self.request_id} {why}: it was not written by cftoken",
                                 record_id=self.request_id, token=self.fields.get("token", ""))

    @classmethod
    def exists(cls, conn: redis.Redis, request_id: str) -> bool:
        return bool(conn.hexists(_key(request_id), "action"))

    @classmethod
    def ended(cls, conn: redis.Redis, request_id: str) -> bool:
        """True when the operation finished (its record is kept a month)."""
        return bool(conn.hexists(_key(request_id), "finished"))

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
        digest = _digest(sealed) if sealed is not None else None if "sealed" in drop else self.sealed_digest
        if sealed is not None:
            mapping["sealed"] = sealed
        if not self.lost:
            after = {**{k: v for k, v in self.fields.items() if k not in drop}, **values}
            after["rev"] = str(int(self.fields.get("rev", "0")) + 1)
            mapping["tag"] = _tag(self.request_id, after, digest)
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
        self.sealed_digest = digest

    def save_in(self, pipe: redis.client.Pipeline, *, now: datetime, drop: tuple[str, ...] = (),
                **values: str) -> None:
        """`save` of `values` (dropping `drop`) queued on the caller's MULTI, written only over the revision this
        view read; call `saved_here` with the same arguments once it executed."""
        mapping = {**values, "updated_at": now.isoformat()}
        after = {**{k: v for k, v in self.fields.items() if k not in drop}, **values}
        after["rev"] = str(int(self.fields.get("rev", "0")) + 1)
        mapping["tag"] = _tag(self.request_id, after, self.sealed_digest)
        pairs = [item for pair in mapping.items() for item in pair]
        pipe.eval(_SAVE, 1, _key(self.request_id), self.fields.get("rev", "0"), len(mapping), *pairs, *drop)

    def saved_here(self, *, now: datetime, drop: tuple[str, ...] = (), **values: str) -> None:
        """This view learns that `save_in`'s write was executed."""
        self.fields.update(values, rev=str(int(self.fields.get("rev", "0")) + 1), updated_at=now.isoformat())
        for name in drop:
            self.fields.pop(name, None)

    def sealed(self) -> bytes | None:
        """The sealed value, if it is the one the verified tag covers; RecordTampered if it was swapped since."""
        value = self.redis.hget(_key(self.request_id), "sealed")
        sealed = bytes(value) if value is not None else None
        if sealed is not None and _digest(sealed) != self.sealed_digest:
            raise RecordTampered(f"The sealed value of {self.request_id} is not the one cftoken stored",
                                 record_id=self.request_id, token=self.fields.get("token", ""))
        return sealed

    def finish(self, *, now: datetime) -> None:
        """The operation ended: keep the record for a while, drop it from the unfinished set (never recreate it)."""
        with self.redis.pipeline(transaction=True) as pipe:
            self.finish_in(pipe, now=now)
            pipe.execute()
        self.finished_here()

    def finish_in(self, pipe: redis.client.Pipeline, *, now: datetime) -> None:
        """`finish` queued on the caller's MULTI pipeline (the request's end commits with it); call `finished_here`
        once it executed."""
        rev = self.fields.get("rev", "0")
        ended = {**self.fields, "step": "done", "finished": "1", "rev": str(int(rev) + 1)}
        pipe.eval(_FINISH, 2, _key(self.request_id), UNFINISHED, now.isoformat(), FINISHED_TTL_SECONDS,
                  self.request_id, rev, _tag(self.request_id, ended, None))

    def finished_here(self) -> None:
        """This view learns that its checkpoint's end was written."""
        rev = self.fields.get("rev", "0")
        self.fields.update(step="done", finished="1", rev=str(int(rev) + 1))
        self.sealed_digest = None


def unfinished(conn: redis.Redis) -> list[str]:
    """Request ids of operations that started and have not ended, oldest id first."""
    return sorted(member.decode() for member in conn.smembers(UNFINISHED))


def minting_tokens(conn: redis.Redis) -> frozenset[str]:
    """Tokens whose unfinished operation may leave two tokens with one name for a while: an overlap roll (the old
    token and its twin) or a provision (an orphan it deletes). Only checkpoints whose tag verifies count."""
    found: set[str] = set()
    for request_id in unfinished(conn):
        try:
            checkpoint = Checkpoint.load(conn, request_id)
        except RecordTampered:  # reconcile reports it; a forged record does not silence an alert
            continue
        if checkpoint.lost or checkpoint.finished:
            continue
        if checkpoint.action == "provision" or checkpoint.get("strategy") == "overlap":
            found.add(checkpoint.token)
    return frozenset(found)
