"""The Slack outbox under real `rq worker` processes, real Redis and the Slack stand-in: every message that must be
delivered is delivered once, and Slack's slowness delays messages, never the operation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job

from domain import outbox, requests
from domain.queueing import SCAN_JOB, enqueue_request, job_queue
from standins.base import WAIT_CEILING
from standins.world import CHANNEL, DEFAULT_EXPIRY_DAYS, World
from tests.integration.scenarios import approved_request
from tests.integration.test_crash_resume import kill_worker, start_worker
from tests.waiting import wait_until
from workers.delivery import for_services

pytestmark = pytest.mark.integration
DNS = "CF_DNS_EDIT_GETRAXX_COM"
POST = "/api/chat.postMessage"
PAGES = "CF_PAGES_DEPLOY"


@pytest.fixture
def near_expiry_world():
    """The runbook's world with CF_PAGES_DEPLOY two days from expiry: the next scan owes the channel a digest."""
    started = World.start(expiry_days={**DEFAULT_EXPIRY_DAYS, PAGES: 2})
    yield started
    started.stop()


def digests(world) -> list[str]:
    return [world.slack.as_text(m) for m in world.slack.messages(CHANNEL) if m.text.startswith("Cloudflare token check")]


def replies(world, ts: str) -> list[str]:
    return [message.text for message in world.slack.thread(CHANNEL, ts)[1:]]


def results(world, prefix: str) -> list[str]:
    return [message.text for message in world.slack.messages(CHANNEL) if message.text.startswith(prefix)]


def test_slack_failing_the_result_post_once_still_leaves_exactly_one_result(world, redis_conn, redis_url):
    request_id = approved_request(redis_conn, world, "roll", DNS)
    world.slack.faults.fail_next(POST, 1, "503", containing=f"{request_id}:result")
    assert enqueue_request(job_queue(redis_conn), request_id)
    ts = requests.load(redis_conn, request_id, now=world.clock.now()).message_ts

    worker = start_worker(world, redis_url)
    output, _ = worker.communicate(timeout=120)

    assert worker.returncode == 0, output
    assert len(results(world, f"✅ Rolled {DNS}")) == 1
    assert replies(world, ts)[-1].startswith(f"✅ Rolled {DNS}")
    assert world.slack.count("POST", "/api/conversations.replies") >= 1  # it looked before posting again


def test_a_worker_killed_while_posting_the_result_leaves_exactly_one_result(world, redis_conn, redis_url):
    request_id = approved_request(redis_conn, world, "roll", DNS)
    hold = world.slack.faults.hold(POST, method="POST", containing=f"{request_id}:result")
    assert enqueue_request(job_queue(redis_conn), request_id)
    first = start_worker(world, redis_url)

    hold.wait_until_arrived()
    kill_worker(first)
    hold.release(proceed=True)  # Slack posted it; the answer died with the worker
    second = start_worker(world, redis_url)
    output, _ = second.communicate(timeout=120)

    assert second.returncode == 0, output
    assert len(results(world, f"✅ Rolled {DNS}")) == 1
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    assert world.vault_value(DNS) == world.live_value(DNS)


def test_a_429_storm_on_chat_update_delays_the_message_not_the_roll(world, redis_conn, redis_url):
    world.slack.faults.fail_next("/api/chat.update", 10**6, "429", retry_after=1)
    request_id = approved_request(redis_conn, world, "roll", DNS)
    assert enqueue_request(job_queue(redis_conn), request_id)
    ts = requests.load(redis_conn, request_id, now=world.clock.now()).message_ts
    worker = start_worker(world, redis_url)

    request = wait_for_state(redis_conn, world, request_id, "succeeded")
    roll_seconds = (finished_at(redis_conn, request_id) - started_at(redis_conn, request_id)).total_seconds()
    storm_calls = world.slack.count("POST", "/api/chat.update")
    world.slack.faults.clear()
    output, _ = worker.communicate(timeout=120)

    assert worker.returncode == 0, output
    assert request.state == "succeeded" and roll_seconds < 2.0, f"the roll took {roll_seconds:.1f}s"
    assert storm_calls <= 8  # one try per Retry-After, not a tight loop
    message = world.slack.as_text(world.slack.message(CHANNEL, ts))
    assert f"*Rolled {DNS}*" in message and "[Approve]" not in message
    assert len(results(world, f"✅ Rolled {DNS}")) == 1


def test_a_queued_job_no_worker_picks_up_is_said_in_its_thread_once(world, services, redis_conn):
    request_id = approved_request(redis_conn, world, "roll", DNS)
    assert enqueue_request(job_queue(redis_conn), request_id)
    ts = requests.load(redis_conn, request_id, now=world.clock.now()).message_ts
    a_while_ago = (datetime.now(UTC) - timedelta(seconds=90)).isoformat()
    redis_conn.hset(Job.key_for(request_id), "enqueued_at", a_while_ago)  # queued 90 s ago, no worker running

    for _ in range(2):
        outbox = for_services(services)
        outbox.watch_unclaimed()
        assert outbox.drain(timeout=WAIT_CEILING)

    notes = [text for text in replies(world, ts) if "No worker has started this roll in 1 minute" in text]
    assert len(notes) == 1


def test_slack_503_on_the_expiry_digest_delays_it_and_it_is_posted_once(near_expiry_world, redis_conn, redis_url):
    world = near_expiry_world
    world.slack.faults.fail_next(POST, 1, "503", containing="Cloudflare token check")
    job_queue(redis_conn).enqueue(SCAN_JOB)

    worker = start_worker(world, redis_url)
    output, _ = worker.communicate(timeout=120)

    assert worker.returncode == 0, output
    (digest,) = digests(world)
    assert f"*{PAGES}* expires in" in digest and "(3-day warning)" in digest and "[Request roll]" in digest
    assert world.slack.count("POST", "/api/conversations.history") >= 1  # it looked before posting again
    assert outbox.pending(redis_conn) == 0


def test_a_worker_killed_after_the_scan_recorded_its_warning_still_gets_the_digest_posted_once(
    near_expiry_world, redis_conn, redis_url
):
    world = near_expiry_world
    hold = world.slack.faults.hold(POST, method="POST", containing="Cloudflare token check")
    job_queue(redis_conn).enqueue(SCAN_JOB)
    first = start_worker(world, redis_url)

    hold.wait_until_arrived()
    kill_worker(first)  # the warning is recorded as posted; the worker dies before Slack has the digest
    hold.release(proceed=False)
    second = start_worker(world, redis_url)
    output, _ = second.communicate(timeout=120)

    assert second.returncode == 0, output
    (digest,) = digests(world)
    assert f"*{PAGES}* expires in" in digest and "(3-day warning)" in digest
    assert outbox.pending(redis_conn) == 0


def wait_for_state(conn, world, request_id: str, state: str):
    def reached():
        request = requests.load(conn, request_id, now=world.clock.now())
        return request if request is not None and request.state == state else None

    return wait_until(reached, what=f"{request_id} to become {state}")


def _event_at(conn, request_id: str, event: str) -> datetime:
    from domain import audit

    request = requests.load(conn, request_id, now=datetime.now().astimezone())
    found = [e for e in audit.recent(conn, request.token, 50) if e.request_id == request_id and e.event == event]
    assert found, f"no {event} event for {request_id}"
    return found[0].at


def started_at(conn, request_id: str) -> datetime:
    return _event_at(conn, request_id, "ran")


def finished_at(conn, request_id: str) -> datetime:
    return _event_at(conn, request_id, "succeeded")

