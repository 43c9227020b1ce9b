"""Deliver the Slack outbox (domain/outbox.py): approval messages, their redraws and their threads' replies.

Runs as a thread in every worker process and in the clock process, so a long job (a scan, a roll waiting out a
rate limit) never holds a message back, and the channel still hears from the bot when no worker is up.

One conversation (a request's message and its thread, or a top-level post) is delivered by one deliverer at a
time, under a lease renewed before each Slack call; a deliverer that dies leaves it to the next after the lease.
Each delivery: post the request's message if it has none yet, redraw it if its state changed since the last
redraw (rendered now, so the latest state wins), then post the queued replies in order. A post whose answer
was lost (`tried` without `ts`) is looked for by its key before it is posted again: exactly one copy.
A 429 (or `ok: false, error: ratelimited`) makes every deliverer wait out Retry-After (nothing else waits);
5xx, timeouts and Slack's transient `ok: false` answers (internal_error, fatal_error, service_unavailable,
request_timeout) back off and retry for as long as it takes; a refused bot token (invalid_auth, token_revoked,
account_inactive, not_authed) stops this process's delivery until auth.test answers ok again, dropping nothing
(workers/slack_token_gate.py); only a refusal of the call itself (invalid_blocks, msg_too_long,
channel_not_found, …) is logged and dropped. A refused approval message withdraws its request, and its requester
is told as soon as Slack takes the notice (`cftoken:outbox:withdrawn`, retried like any post).
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import redis
from rq import Queue
from rq.job import Job

from domain import blast_records, consumer_records, forgeries, integrity, outbox, requests, thread_notes
from domain.clock import make_clock
from domain.errors import (
    CftokenError,
    RateLimited,
    RecordTampered,
    SlackRefused,
    SlackTokenRefused,
    UnexpectedResponse,
)
from domain.inventory import Inventory, load_inventory
from domain.queueing import AUDIT_QUEUE, enqueue_blast_radius, job_queue
from domain.redis_conn import connect
from domain.requests import Request
from domain.settings import ClockSettings
from domain.status import read_status
from workers.approval_message import render_request
from workers.clients.slack import SlackClient
from workers.operations import revoke_lookup as revoke_targets
from workers.services import Services
from workers.slack_token_gate import TokenGate

log = logging.getLogger(__name__)
MAX_BACKOFF_SECONDS = 60
BATCH = 50
UNCLAIMED_AFTER_SECONDS = 60
WATCH_EVERY_SECONDS = 10
ATTEMPTS = "cftoken:outbox:attempts"
WITHDRAWN = "cftoken:outbox:withdrawn"  # hash: request id → Slack's refusal code; its requester is still to be told
_CODE = re.compile(r"[a-z_]{1,64}")  # what a Slack error code looks like (anything else is shown as 'refused')

_FINISH = """
local want = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
local drawn = tonumber(redis.call('HGET', KEYS[3], ARGV[1]) or '0')
if want <= drawn and redis.call('LLEN', KEYS[4]) == 0 then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
  return 1
end
redis.call('ZADD', KEYS[1], 0, ARGV[1])
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class LeaseLost(Exception):
    """Another deliverer took this conversation over (our lease lapsed); it finishes the delivery."""


class Delivery:
    """Delivers the outbox through one Slack client; `run` loops, `drain` delivers everything due and returns."""

    def __init__(
        self,
        conn: redis.Redis,
        slack: SlackClient,
        inventory: Inventory,
        *,
        clock: Callable[[], datetime],
        queue_name: str = "default",
        lease_seconds: int = 20,
        gate: TokenGate | None = None,
    ) -> None:
        self.redis, self.slack, self.inventory, self.clock = conn, slack, inventory, clock
        self.lease_seconds = lease_seconds  # longer than one Slack call may take; renewed before each
        self.queue_name = queue_name
        self._last_watch = 0.0
        self.gate = gate or TokenGate(conn, slack)  # closed while Slack refuses the bot token

    def run(self, stop: threading.Event) -> None:
        """Deliver until `stop` is set, sleeping on the outbox's wake list in between."""
        while not stop.is_set():
            try:
                self.deliver_due()
                self.watch_unclaimed()
                self.redis.blpop([outbox.WAKE], timeout=max(0.05, min(1.0, self._quiet_for() or 1.0)))
            except redis.RedisError as exc:
                if stop.is_set():  # the process is stopping and has closed its connections: nothing to retry
                    return
                log.warning("outbox: Redis is not answering (%s); retrying", type(exc).__name__)
                stop.wait(1.0)

    def drain(self, timeout: float = 15.0) -> bool:
        """Deliver until nothing is due (True) or `timeout` passes (False); for burst workers and tests."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.deliver_due()
            horizon = time.time() + max(0.0, deadline - time.monotonic())  # a retry backing off, a lapsing claim
            if not self.redis.zrangebyscore(outbox.DUE, "-inf", horizon, start=0, num=1):
                return True
            time.sleep(min(0.05 + self._quiet_for(), max(0.0, deadline - time.monotonic())))
        return False

    def deliver_due(self) -> int:
        """Deliver every conversation that is due now; return how many were delivered in full."""
        if self._quiet_for() > 0 or not self.gate.is_open():
            return 0
        self.tell_withdrawn()
        delivered = 0
        for raw in self.redis.zrangebyscore(outbox.DUE, "-inf", time.time(), start=0, num=BATCH):
            conversation = raw.decode()
            if self._deliver(conversation):
                delivered += 1
            if self._quiet_for() > 0 or self.gate.refused is not None:
                break
        return delivered

    def _deliver(self, conversation: str) -> bool:
        token = secrets.token_hex(8)
        lock = outbox.lock_key(conversation)
        if not self.redis.set(lock, token, nx=True, ex=self.lease_seconds):
            return False
        self.redis.zadd(outbox.DUE, {conversation: time.time() + self.lease_seconds})  # if this process dies
        try:
            lease = _Lease(self.redis, lock, token, self.lease_seconds)
            request = self._request(conversation)
            if request is not None:
                request = self._draw(request, lease)
            while (head := self.redis.lindex(outbox.queue_key(conversation), 0)) is not None:
                self._post(head.decode(), request, lease)
                self.redis.lpop(outbox.queue_key(conversation))
            self.redis.hdel(ATTEMPTS, conversation)
            return bool(self.redis.eval(
                _FINISH, 4, outbox.DUE, outbox.WANT, outbox.DRAWN, outbox.queue_key(conversation), conversation
            ))
        except RateLimited as exc:
            self._quiet(exc.retry_after)
            self.redis.zadd(outbox.DUE, {conversation: time.time() + exc.retry_after})
        except LeaseLost:
            log.warning("outbox %s: lease lapsed mid-delivery; another deliverer finishes it", conversation)
        except SlackTokenRefused as exc:  # every call would fail alike: hold everything, drop nothing
            self.gate.close(exc)
            self.redis.zadd(outbox.DUE, {conversation: time.time()})
        except CftokenError as exc:
            attempt = int(self.redis.hincrby(ATTEMPTS, conversation, 1))
            delay = min(MAX_BACKOFF_SECONDS, 2 ** min(attempt, 6))
            log.warning("outbox %s: %s; retrying in %ss (attempt %s)", conversation, exc, delay, attempt)
            self.redis.zadd(outbox.DUE, {conversation: time.time() + delay})
        finally:
            self.redis.eval(_RELEASE, 1, lock, token)
        return False

    def _request(self, conversation: str) -> Request | None:
        if conversation.startswith("post:"):
            return None
        request = requests.load(self.redis, conversation, now=self.clock())
        if request is None:
            log.warning("outbox %s: no such request any more; its messages are dropped", conversation)
            self.redis.hdel(outbox.WANT, conversation)
            self.redis.delete(outbox.queue_key(conversation))
        return request

    def _draw(self, request: Request, lease: _Lease) -> Request:
        """Post the request's message if it has none, else redraw it if its state changed since the last redraw;
        return the request as it stands after."""
        want = int(self.redis.hget(outbox.WANT, request.id) or 0)
        if want <= int(self.redis.hget(outbox.DRAWN, request.id) or 0) and request.message_ts is not None:
            return request
        request = requests.load(self.redis, request.id, now=self.clock()) or request  # the state as of now
        now = self.clock()
        text, blocks = render_request(request, self.inventory, read_status(self.redis, request.token), now,
                                      revoke_targets.for_request(self.redis, request, now=now),
                                      blast_records.for_request(self.redis, request, now=now),
                                      consumer_records.load(self.redis, request.id))
        lease.renew()
        if request.message_ts is None:
            request = self._post_message(request, text, blocks, lease)
        else:
            try:
                self.slack.update(request.message_ts, text, blocks)
            except UnexpectedResponse as exc:  # e.g. someone deleted the message: nothing left to redraw
                log.error("outbox %s: Slack refused the redraw (%s); it is dropped", request.id, exc)
        self.redis.hset(outbox.DRAWN, request.id, want)
        return request

    def _post_message(self, request: Request, text: str, blocks: list[dict], lease: _Lease) -> Request:
        """The approval message, exactly once (the web queued the approvers' mention as its first reply)."""
        try:
            ts = self._once(f"{request.id}:message", text, blocks, None, False, lease)
        except UnexpectedResponse as exc:
            self._withdraw(request, exc)
            return request
        if request.action == "revoke":  # the worker reads what the token did and redraws this message
            enqueue_blast_radius(job_queue(self.redis, AUDIT_QUEUE), request.id)
        return requests.attach_message(
            self.redis, request.id, channel=request.channel, message_ts=ts, now=self.clock()
        )

    def _withdraw(self, request: Request, exc: UnexpectedResponse) -> None:
        """Slack refused the approval message: nobody could approve it, so it must not block the token. Its
        requester is told as soon as Slack takes the notice (tell_withdrawn)."""
        log.error("outbox %s: Slack refused the approval message (%s); the request is withdrawn", request.id, exc)
        self.redis.delete(outbox.queue_key(request.id))
        try:
            requests.cancel(self.redis, request.id, user=request.requester, now=self.clock())
        except requests.RequestClosed:
            return
        code = exc.code if isinstance(exc, SlackRefused) else "refused"
        self.redis.hset(WITHDRAWN, request.id, code)
        self.tell_withdrawn()

    def tell_withdrawn(self) -> None:
        """Tell each withdrawn request's requester why (from its signed record); kept until Slack takes it."""
        for raw_id, raw_code in self.redis.hgetall(WITHDRAWN).items():
            request_id, code = raw_id.decode(), raw_code.decode()
            try:
                request = requests.load(self.redis, request_id, now=self.clock())
                if request is not None:
                    self.slack.post_ephemeral(request.requester, withdrawn_text(request, code))
            except SlackTokenRefused as exc:
                self.gate.close(exc)
                return
            except (UnexpectedResponse, RecordTampered) as exc:  # never to be told: say so here
                log.warning("outbox %s: could not tell the requester of its withdrawal: %s", request_id, exc)
            except CftokenError as exc:  # Slack is not answering: told on a later round
                log.warning("outbox %s: the requester is told of its withdrawal later (%s)", request_id, exc)
                return
            self.redis.hdel(WITHDRAWN, request_id)

    def _post(self, key: str, request: Request | None, lease: _Lease) -> None:
        try:
            record = outbox.read_post(self.redis, key)
        except RecordTampered:
            self._refuse(key)
            return
        if not record or record.get("ts") or record.get("refused"):
            return
        blocks = json.loads(record["blocks"]) or None
        if record.get("update_ts"):  # a redraw from a worker's memory (the request's record is gone)
            lease.renew()
            try:
                self.slack.update(record["update_ts"], record["text"], blocks)
            except UnexpectedResponse as exc:
                log.error("outbox %s: Slack refused the redraw (%s); it is dropped", key, exc)
            self._posted(outbox.post_key(key), record["update_ts"])
            return
        thread_ts = None
        if record.get("request_id"):
            if request is None or request.message_ts is None:
                log.warning("outbox %s: its request has no message; the reply is dropped", key)
                return
            thread_ts = request.message_ts
        try:
            self._once(key, record["text"], blocks, thread_ts, bool(record.get("broadcast")), lease)
        except UnexpectedResponse as exc:
            log.error("outbox %s: Slack refused the message (%s); it is dropped", key, exc)
            self.redis.hset(outbox.post_key(key), "refused", str(exc))

    def _refuse(self, key: str) -> None:
        """An entry cftoken did not write (or that was changed): never posted; logged, audited, and one ⚠️."""
        log.error("outbox: refused the entry %r: its integrity tag is missing or wrong (Redis was written by hand); "
                  "it is not posted", key)
        self.redis.hset(outbox.post_key(key), "refused", "integrity tag")
        now = self.clock()
        text = forgeries.claim_outbox_report(self.redis, key, now=now)
        if text is not None:
            outbox.post(self.redis, f"forged-outbox:{now.isoformat()}", text, now=now)

    def _once(
        self, key: str, text: str, blocks: list[dict] | None, thread_ts: str | None, broadcast: bool, lease: _Lease
    ) -> str:
        """Post under `key` exactly once: a post that may have reached Slack is looked for before posting again."""
        record = outbox.post_key(key)
        ts = self.redis.hget(record, "ts")
        if ts is not None:
            return ts.decode()
        if self.redis.hget(record, "tried") is not None:
            lease.renew()
            found = self.slack.find(key, thread_ts=thread_ts)
            if found is not None:
                self._posted(record, found)
                return found
        self.redis.hset(record, "tried", "1")
        lease.renew()
        posted = self.slack.post(text, blocks, thread_ts=thread_ts, broadcast=broadcast, key=key)
        self._posted(record, posted)
        return posted

    def _posted(self, record: str, ts: str) -> None:
        with self.redis.pipeline() as pipe:
            pipe.hset(record, "ts", ts)
            pipe.expire(record, outbox.POST_TTL_SECONDS)
            pipe.execute()

    def watch_unclaimed(self) -> None:
        """Say once, in the request's thread, when its queued job has waited over a minute for a worker."""
        if time.monotonic() - self._last_watch < WATCH_EVERY_SECONDS:
            return
        self._last_watch = time.monotonic()
        now = self.clock()
        for job_id in Queue(self.queue_name, connection=self.redis).get_job_ids():
            request = requests.load(self.redis, job_id, now=now)
            if request is None or request.state != "queued":
                continue
            enqueued = self.redis.hget(Job.key_for(job_id), "enqueued_at")
            if enqueued is None:
                continue
            waited = time.time() - _unix(enqueued.decode())
            if waited >= UNCLAIMED_AFTER_SECONDS:
                minutes = int(waited // 60)
                outbox.post(self.redis, f"{request.id}:unclaimed", thread_notes.unclaimed(request, minutes),
                            request_id=request.id, now=now)

    def _quiet(self, seconds: float) -> None:
        until = time.time() + max(seconds, 1.0)
        log.warning("outbox: Slack is rate limiting; every deliverer waits %.0fs", seconds)
        self.redis.set(outbox.QUIET_UNTIL, str(until), ex=max(1, int(seconds) + 1))

    def _quiet_for(self) -> float:
        raw = self.redis.get(outbox.QUIET_UNTIL)
        return max(0.0, float(raw) - time.time()) if raw else 0.0


class _Lease:
    """This deliverer's claim on one conversation."""

    def __init__(self, conn: redis.Redis, key: str, token: str, seconds: int) -> None:
        self.redis, self.key, self.token, self.seconds = conn, key, token, seconds

    def renew(self) -> None:
        """Extend the lease before a Slack call; LeaseLost if another deliverer holds it now."""
        with self.redis.pipeline() as pipe:
            pipe.watch(self.key)
            if pipe.get(self.key) != self.token.encode():
                raise LeaseLost(self.key)
            pipe.multi()
            pipe.expire(self.key, self.seconds)
            pipe.execute()


def withdrawn_text(request: Request, code: str) -> str:
    """What the requester of a withdrawn request reads: the action and token from its signed record, Slack's code."""
    shown = code if _CODE.fullmatch(code) else "refused"
    return (f"Slack refused the approval message for your {request.action} of {request.token} (`{shown}`), so the "
            "request was withdrawn. Tell whoever runs the bot; asking again will fail the same way.")


def _unix(stamp: str) -> float:
    """RQ's enqueued_at (ISO-8601, UTC, maybe without an offset) as unix seconds."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def for_services(services: Services) -> Delivery:
    """A worker process's deliverer, on its Redis and Slack client."""
    return Delivery(services.redis, services.slack, services.inventory, clock=services.clock,
                    lease_seconds=services.settings.cftoken_outbox_lease_seconds)


def for_clock(settings: ClockSettings) -> Delivery | None:
    """The clock's deliverer; None without SLACK_BOT_TOKEN (then only the workers deliver)."""
    if settings.slack_bot_token is None:
        return None
    # records are signed with the current key, and checked with it or the previous one during a key change
    integrity.use_key(settings.cftoken_secret_key, settings.cftoken_secret_key_previous)
    conn = connect(settings.redis_url)
    slack = SlackClient(base_url=settings.slack_api_url, token=settings.slack_bot_token,
                        channel=settings.cftoken_channel_id, timeout=settings.slack_call_timeout)
    return Delivery(conn, slack, load_inventory(settings.cftoken_inventory),
                    clock=make_clock(conn, settings.cftoken_clock_offset_key),
                    lease_seconds=settings.cftoken_outbox_lease_seconds)


class Running:
    """A deliverer running in a thread of this process: `stop` asks it to stop between two deliveries."""

    def __init__(self, delivery: Delivery) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=delivery.run, args=(self.stop,), name="cftoken-outbox", daemon=True)
        self.thread.start()

    def stop_and_wait(self, timeout: float = 2.0) -> bool:
        """Stop after the delivery in hand (its lease released, so the next deliverer takes over at once);
        False if it was still mid-call after `timeout` (its lease then lapses for the next one)."""
        self.stop.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()


def start(delivery: Delivery) -> Running:
    """Deliver in a background thread of this process until `stop_and_wait()` (or `.stop.set()`)."""
    return Running(delivery)
