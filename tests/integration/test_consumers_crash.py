"""A worker SIGKILLed while following a roll's secret syncs is resumed by the next worker, which reports each
destination once: what the dead worker reported is not said again (real `rq worker` processes, the stand-ins)."""

from __future__ import annotations

import pytest

from domain import consumer_records, requests
from domain.queueing import enqueue_request, job_queue
from standins.world import CHANNEL
from tests.integration.scenarios import approved_request
from tests.integration.test_crash_resume import DNS, kill_worker, start_worker, wait_for_lock_to_lapse
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def notes(world, redis_conn, request_id: str, start: str) -> int:
    ts = requests.load(redis_conn, request_id, now=world.clock.now()).message_ts
    return sum(m.text.startswith(start) for m in world.slack.thread(CHANNEL, ts))


def test_a_worker_killed_while_following_a_sync_is_resumed_and_each_destination_is_reported_once(
        world, redis_conn, redis_url):
    syncs = world.add_syncs()
    world.infisical.syncs.auto_sync_delay, world.infisical.syncs.run_seconds = 0.5, 0.2
    edge = syncs["cf-worker-edge"]["id"]
    world.infisical.syncs.stall(edge)  # triggered by the bot, then hangs while the worker is killed
    request_id = approved_request(redis_conn, world, "roll", DNS)
    assert enqueue_request(job_queue(redis_conn), request_id)
    first = start_worker(world, redis_url)

    wait_until(lambda: notes(world, redis_conn, request_id, "📦 GitHub raxx/site") == 1,
               what="the auto-synced GitHub destination reported by the first worker")
    wait_until(lambda: (r := consumer_records.load(redis_conn, request_id)) and
               next(s for s in r.syncs if s.id == edge).state == "running", what="the Worker sync to be running")
    kill_worker(first)
    world.infisical.syncs.recover(edge)
    wait_for_lock_to_lapse(redis_conn, DNS)
    second = start_worker(world, redis_url)
    output, _ = second.communicate(timeout=120)

    assert second.returncode == 0, output
    record = consumer_records.load(redis_conn, request_id)
    assert record is not None and not record.following and record.on_new == 2
    assert notes(world, redis_conn, request_id, "📦 Cloudflare Workers edge") == 1
    assert notes(world, redis_conn, request_id, "📦 GitHub raxx/site") == 1  # not said again
    assert world.infisical.syncs.delivered(edge)[DNS] == world.vault_value(DNS)
