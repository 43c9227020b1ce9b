"""After a vault write, follow every secret sync of the vault folder to its outcome and say each in the request's
thread: where, when, and Infisical's own message when it failed (that one broadcast once, with Retry sync).

A sync with auto-sync on is waited for (Infisical starts it 3–13 s after the write); one without, or one that has
not started within START_GRACE, is triggered; "already in progress" is waited out and asked again. What was
reported is checkpointed in the request's signed consumer record before the next look, so a worker killed mid-way
resumes from it and every outcome is posted once (the outbox also posts each key once). Following stops at
FOLLOW_MINUTES: what is still running is said once, as not known.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from domain import consumer_records, outbox
from domain.consumer_records import TERMINAL, ConsumerRecord, HandEntry, SyncEntry, judge
from domain.consumer_words import failure_broadcast, hand_note, sync_note
from domain.errors import TRANSIENT, CftokenError
from domain.inventory import Token
from domain.timestamps import parse_timestamp, utc_stamp
from workers.clients.infisical_syncs import SecretSync, SyncsClient
from workers.services import Services

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
START_GRACE = timedelta(seconds=20)  # Infisical's 3 s debounce plus up to 10 s of jitter, and some room
FOLLOW_MINUTES = 15


def follow(services: Services, request_id: str, token: Token, written_at: datetime, *,
           renew: Callable[[], None] = lambda: None, again: str | None = None,
           placeholder: bool = False) -> ConsumerRecord:
    """Follow the consumers of the vault write at `written_at` until every sync ended (or the cap); return them.
    `again`: a failed sync's id to run once more first (Retry sync)."""
    seconds = services.settings.cftoken_lock_seconds  # a killed follower's lock lapses as its token lock does
    with services.redis.lock(f"cftoken:consumers:lock:{request_id}", timeout=seconds,
                             blocking_timeout=FOLLOW_MINUTES * 60, thread_local=False) as lock:
        record = consumer_records.load(services.redis, request_id)
        if record is None:
            record = begin(services, request_id, token, written_at, placeholder=placeholder)
            _save(services, record)
            ask_hands(services, record)
        client = SyncsClient(services.infisical)
        if again is not None:
            _again(services, client, record, again)
        while True:
            renew()
            lock.reacquire()
            changed = look(client, record, services.now()) if record.following else False
            changed = report(services, record) or changed
            if changed:
                _save(services, record)
            if not record.following:
                return record
            time.sleep(POLL_SECONDS)


def retry(services: Services, request_id: str, sync_id: str) -> None:
    """Retry sync: a failed sync of the request's write runs again (triggered now) and its outcome is reported as
    a new attempt; anything else (gone, not failed) does nothing. Frees the web's one-retry-at-a-time mark."""
    try:
        record = consumer_records.load(services.redis, request_id)
        token = services.inventory.find(record.token) if record else None
        if record is None or token is None:
            log.info("retry sync %s of %s: nothing on record", sync_id, request_id)
            return
        written = parse_timestamp(record.written_at) or services.now()
        follow(services, request_id, token, written, again=sync_id)
    finally:
        services.redis.delete(f"cftoken:consumers:retry:{request_id}:{sync_id}")


def _again(services: Services, client: SyncsClient, record: ConsumerRecord, sync_id: str) -> None:
    """Set a failed sync to be run again as a new attempt (triggered at once); nothing for any other."""
    entry = next((s for s in record.syncs if s.id == sync_id), None)
    if entry is None or entry.state != "failed":
        return
    current = client.get(entry)
    entry.attempt += 1
    entry.state, entry.started, entry.triggered_at, entry.message, entry.at = "waiting", False, None, None, None
    entry.auto_sync = False  # triggered at once, as asked
    entry.baseline_job, entry.baseline_busy = current.job_id, current.status in ("pending", "running")
    record.deadline = utc_stamp(services.now() + timedelta(minutes=FOLLOW_MINUTES))
    _save(services, record)


def begin(services: Services, request_id: str, token: Token, written_at: datetime, *,
          placeholder: bool = False) -> ConsumerRecord:
    """The record of this write: the folder's syncs (with who each feeds) and the consumers confirmed by hand."""
    deadline = written_at + timedelta(minutes=FOLLOW_MINUTES)
    record = ConsumerRecord(request_id=request_id, token=token.name, written_at=utc_stamp(written_at),
                            deadline=utc_stamp(deadline), placeholder=placeholder,
                            hand=[HandEntry(who=c.who, owner=c.mention) for c in token.consumers
                                  if c.confirm and not placeholder])
    try:
        syncs = SyncsClient(services.infisical).folder_syncs()
    except CftokenError as exc:
        record.problem = f"Infisical did not list the secret syncs: {exc}"
        return record
    record.syncs = [_entry(sync, token) for sync in syncs]
    return record


def _entry(sync: SecretSync, token: Token) -> SyncEntry:
    consumer = next((c.who for c in token.consumers if c.sync and sync.named(c.sync)), None)
    return SyncEntry(id=sync.id, name=sync.name, destination=sync.destination, where=sync.where, consumer=consumer,
                     auto_sync=sync.auto_sync, baseline_job=sync.job_id, baseline_busy=sync.status in
                     ("pending", "running"))


def look(client: SyncsClient, record: ConsumerRecord, now: datetime) -> bool:
    """Read each sync still followed, trigger what needs it; True when anything changed."""
    written = parse_timestamp(record.written_at)
    deadline = parse_timestamp(record.deadline)
    assert written is not None and deadline is not None
    changed = False
    for entry in record.syncs:
        if entry.state in TERMINAL:
            continue
        before = entry.model_copy()
        try:
            _look_one(client, entry, written, now)
        except CftokenError as exc:
            if not isinstance(exc, TRANSIENT):
                entry.state, entry.message, entry.at = "lost", str(exc), utc_stamp(now)
        if entry.state not in TERMINAL and now >= deadline:
            entry.state = "lost"
        changed = changed or entry != before
    return changed


def _look_one(client: SyncsClient, entry: SyncEntry, written: datetime, now: datetime) -> None:
    sync = client.get(entry)
    state = judge(entry, sync.status, sync.job_id, sync.synced_at, written)
    entry.message = sync.message if state == "failed" else sync.status
    if state == "running":
        entry.started = True
    if state == "succeeded":
        entry.at = utc_stamp(sync.synced_at or now)
    if state == "failed":
        entry.at = utc_stamp(now)
    entry.state = state
    due = not entry.auto_sync or now - written >= START_GRACE
    if state == "waiting" and due and client.trigger(entry):  # False: a run is in progress; asked again next look
        entry.started, entry.triggered_at, entry.state = True, utc_stamp(now), "running"


def report(services: Services, record: ConsumerRecord) -> bool:
    """Post each outcome not yet reported (a failure broadcast with Retry sync); True when any was."""
    posted = False
    for entry in record.syncs:
        if entry.state not in TERMINAL or entry.reported >= entry.attempt:
            continue
        key = f"{record.request_id}:consumer:{entry.id}:{entry.attempt}"
        if entry.state == "failed":
            text, blocks = failure_broadcast(record, entry)
            outbox.post(services.redis, key, text, blocks, request_id=record.request_id, broadcast=True,
                        now=services.now())
        else:
            outbox.post(services.redis, key, sync_note(record, entry), request_id=record.request_id,
                        now=services.now())
        entry.reported, posted = entry.attempt, True
    return posted


def ask_hands(services: Services, record: ConsumerRecord) -> None:
    """Mention the owner of each consumer confirmed by hand, with a Done button (once each)."""
    for index, entry in enumerate(record.hand):
        text, blocks = hand_note(record, index, entry)
        outbox.post(services.redis, f"{record.request_id}:consumer-hand:{index}", text, blocks,
                    request_id=record.request_id, now=services.now())


def _save(services: Services, record: ConsumerRecord) -> None:
    consumer_records.save(services.redis, record)
    outbox.redraw(services.redis, record.request_id)
