"""Where the consumers of one vault write stand: one signed Redis string per request, `cftoken:consumers:<request
id>` = {"record": …, "tag": HMAC} (domain/integrity.py), kept 30 days. The worker that follows the syncs writes it
(it is also that worker's checkpoint of what it already reported), the approval message counts from it.

Pure parts: what a sync's latest description means for the run the bot waits for (`judge`), and the counting line.
A record written by hand is never shown: it reads as absent.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

import redis
from pydantic import BaseModel, ValidationError

from domain import integrity

PREFIX = "cftoken:consumers:"
KEEP_SECONDS = 30 * 24 * 3600
State = Literal["waiting", "running", "succeeded", "failed", "lost"]
TERMINAL = ("succeeded", "failed", "lost")


class SyncEntry(BaseModel):
    """One secret sync of the vault folder, as followed for this write."""

    id: str
    name: str
    destination: str
    where: str  # "GitHub raxx/site (sync gh-deploy)"
    consumer: str | None = None  # the inventory consumer that names it; None: "also synced to"
    auto_sync: bool
    baseline_job: str | None = None  # Infisical's lastSyncJobId when following began
    baseline_busy: bool = False  # a run (of an earlier write) was pending or running when following began
    state: State = "waiting"
    started: bool = False  # a run after the write was seen (or triggered)
    triggered_at: str | None = None
    at: str | None = None  # when it ended (Infisical's lastSyncedAt on success, the bot's clock on failure)
    message: str | None = None  # Infisical's lastSyncMessage on failure
    attempt: int = 1  # 1, then one more for each Retry sync
    reported: int = 0  # the attempt whose outcome was reported in the thread


class HandEntry(BaseModel):
    """A consumer that copies the value by hand (`confirm = true`): its owner confirms with Done."""

    who: str
    owner: str  # a Slack mention
    confirmed_by: str | None = None


class ConsumerRecord(BaseModel):
    request_id: str
    token: str
    written_at: str  # the vault write these consumers follow (the bot's clock)
    deadline: str  # when following stops and what is still running is said to be unknown
    syncs: list[SyncEntry] = []
    hand: list[HandEntry] = []
    problem: str | None = None  # the syncs could not be listed: Infisical's words
    placeholder: bool = False  # the write was a revoke's REVOKED placeholder, not a new value

    @property
    def holds(self) -> str:
        return "hold the REVOKED placeholder" if self.placeholder else "on the new value"

    @property
    def total(self) -> int:
        return len(self.syncs) + len(self.hand)

    @property
    def on_new(self) -> int:
        return sum(s.state == "succeeded" for s in self.syncs) + sum(h.confirmed_by is not None for h in self.hand)

    @property
    def following(self) -> bool:
        return any(s.state not in TERMINAL for s in self.syncs)

    def line(self) -> str:
        """The approval message's consumers line."""
        if self.problem:
            return f"consumers: not checked ({self.problem})"
        if self.total and self.on_new == self.total:
            return f"consumers: all {self.total} {self.holds}"
        failed = sum(s.state == "failed" for s in self.syncs)
        extra = f", {failed} failed" if failed else ""
        return f"consumers: {self.on_new} of {self.total} {self.holds}{extra}"


def judge(entry: SyncEntry, status: str | None, job: str | None, synced_at: datetime | None,
          written_at: datetime) -> State:
    """What Infisical's description of a sync says about a run after the write (pure). A new job, one the bot saw
    start or triggered, or a success since the write counts; a status left from before the write says nothing yet
    (`waiting`: the follower triggers the sync when no run starts in time)."""
    fresh = entry.started or (job is not None and job != entry.baseline_job)
    if status == "succeeded":
        return "succeeded" if fresh or (synced_at is not None and synced_at >= written_at) else "waiting"
    if status == "failed":
        return "failed" if fresh else "waiting"
    if status in ("pending", "running"):
        return "running" if fresh or not entry.baseline_busy else "waiting"
    return "running" if entry.started else "waiting"


def save(conn: redis.Redis, record: ConsumerRecord) -> None:
    payload = record.model_dump_json()
    tag = integrity.tag(integrity.process_key(), "consumers", record.request_id, payload.encode())
    conn.set(PREFIX + record.request_id, json.dumps({"record": payload, "tag": tag}), ex=KEEP_SECONDS)


def load(conn: redis.Redis, request_id: str) -> ConsumerRecord | None:
    """The request's consumers with the by-hand confirmations, or None (none yet, or a record cftoken did not
    sign)."""
    raw = conn.get(PREFIX + request_id)
    if raw is None:
        return None
    try:
        stored = json.loads(raw)
        payload = stored["record"]
        if integrity.verifies_any("consumers", request_id, payload.encode(), stored.get("tag")):
            record = ConsumerRecord.model_validate_json(payload)
            for index, entry in enumerate(record.hand):
                entry.confirmed_by = confirmed_by(conn, request_id, index)
            return record
    except (ValueError, KeyError, TypeError, AttributeError, ValidationError):
        pass
    return None


def confirm(conn: redis.Redis, request_id: str, index: int, user: str) -> bool:
    """Record (signed, once) that `user` confirmed by-hand consumer `index`; False when it already was."""
    record_id = f"{request_id}:{index}"
    tag = integrity.tag(integrity.process_key(), "consumer-done", record_id, user.encode())
    return bool(conn.set(f"{PREFIX}done:{record_id}", json.dumps({"by": user, "tag": tag}), nx=True,
                         ex=KEEP_SECONDS))


def confirmed_by(conn: redis.Redis, request_id: str, index: int) -> str | None:
    record_id = f"{request_id}:{index}"
    raw = conn.get(f"{PREFIX}done:{record_id}")
    try:
        stored = json.loads(raw) if raw is not None else None
        if stored and integrity.verifies_any("consumer-done", record_id, str(stored["by"]).encode(), stored["tag"]):
            return str(stored["by"])
    except (ValueError, KeyError, TypeError):
        pass
    return None
