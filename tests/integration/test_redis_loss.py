"""Redis losing its data mid-roll (a restart of a Redis that does not persist, as Heroku's mini plan does): the
vault ends holding a value Cloudflare accepts, or the channel says exactly what is lost and offers the fix, and
no orphan checkpoint is left. Real `rq worker` processes, a redis-server this test owns and restarts, stand-ins.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import redis

from domain.queueing import RECONCILE_JOB, enqueue_request, job_queue
from standins.redis_server import RedisServer
from standins.world import CHANNEL
from tests.integration.scenarios import approved_request
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
DNS = "CF_DNS_EDIT_GETRAXX_COM"
RQ = str(Path(sys.executable).with_name("rq"))
VAULT_WRITE = f"/api/v4/secrets/{DNS}"


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, so restarting it loses nobody else's data."""
    binary = shutil.which("redis-server")
    assert binary, "the Redis tests need redis-server (apt-get install redis-server; .ci/run installs it)"
    server = RedisServer(binary).start()
    yield server
    server.stop()


def connect(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url)


def start_worker(world, server: RedisServer, *, burst: bool) -> subprocess.Popen:
    env = {**os.environ, **world.settings_env(redis_url=server.url, cftoken_lock_seconds="2")}
    command = [RQ, "worker", "--config", "workers.rq_settings", "--worker-class", "workers.worker.CftokenWorker",
               *(["--burst"] if burst else []), "default"]
    return subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def channel(world) -> str:
    return world.slack.channel_transcript(CHANNEL)


def wait_for(world, text: str) -> None:
    try:
        wait_until(lambda: text in channel(world), what=f"the channel to say {text!r}")
    except AssertionError as missing:
        raise AssertionError(f"{missing}:\n{channel(world)}") from None


def orphans(conn: redis.Redis) -> list[bytes]:
    return list(conn.scan_iter("cftoken:op:*"))


def queued_roll(world, server: RedisServer) -> tuple[str, str]:
    conn = connect(server)
    request_id = approved_request(conn, world, "roll", DNS)
    assert enqueue_request(job_queue(conn), request_id)
    message_ts = next(m.ts for m in world.slack.messages(CHANNEL) if "requested" in m.text)
    return request_id, message_ts


def assert_vault_value_works_and_expiry_moved(world) -> None:
    assert world.vault_value(DNS) == world.live_value(DNS), "the vault holds a value Cloudflare does not accept"
    assert world.cloudflare.token(world.token_ids[DNS])["status"] == "active"
    assert world.vault_value(DNS + "__EXPIRES_AT") == world.expires_on(DNS).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize(
    ("call", "path", "method"),
    [
        ("the roll PUT", "/client/v4/user/tokens/{id}/value", "PUT"),
        ("the vault write", VAULT_WRITE, "PATCH"),
    ],
)
def test_redis_restarting_during_a_roll_call_still_ends_with_the_new_value_stored_and_said(
    world, own_redis, call, path, method
):
    service = world.cloudflare if path.startswith("/client") else world.infisical
    hold = service.faults.hold(path.format(id=world.token_ids[DNS]), method=method)
    request_id, message_ts = queued_roll(world, own_redis)
    worker = start_worker(world, own_redis, burst=True)

    hold.wait_until_arrived()
    own_redis.restart()
    hold.release(proceed=True)
    output, _ = worker.communicate(timeout=120)

    assert worker.returncode == 0, output
    assert_vault_value_works_and_expiry_moved(world)
    results = [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith(f"✅ Rolled {DNS}")]
    assert len(results) == 1, channel(world)
    assert f"Redis lost the bot's records of request `{request_id}` mid-way" in results[0]
    approval = world.slack.as_text(world.slack.message(CHANNEL, message_ts))
    assert f"*Rolled {DNS}*" in approval and "Running" not in approval
    assert orphans(connect(own_redis)) == []


def test_redis_restarting_while_a_roll_is_paused_is_told_plainly_with_the_fix(world, own_redis):
    world.infisical.faults.fail_next(VAULT_WRITE, 10_000, "503", method="PATCH", exact=True)
    request_id, message_ts = queued_roll(world, own_redis)
    worker = start_worker(world, own_redis, burst=False)
    try:
        wait_for(world, f"⚠️ Roll of {DNS} paused at storing the new value in the vault")
        own_redis.restart()
        world.infisical.faults.clear()
        job_queue(connect(own_redis)).enqueue(RECONCILE_JOB)  # the clock does this every minute

        wait_for(world, "can no longer finish")
        wait_until(lambda: f"*Roll of {DNS} failed*" in world.slack.as_text(world.slack.message(CHANNEL, message_ts)),
                   what="the approval message redrawn as failed (its own post, delivered in any order)")
    finally:
        worker.terminate()
        output, _ = worker.communicate(timeout=60)

    [told] = [m for m in world.slack.messages(CHANNEL) if "can no longer finish" in m.text]
    assert f"Roll of {DNS} (`{request_id}`) can no longer finish: Redis lost the bot's records" in told.text
    assert "paused at storing the new value in the vault. The new value it held encrypted went with them." in told.text
    assert f"Checked just now: the vault's value for {DNS} does not work at Cloudflare" in told.text
    assert [e["action_id"] for b in told.blocks if b["type"] == "actions" for e in b["elements"]] == [
        "request_reroll"
    ]
    approval = world.slack.as_text(world.slack.message(CHANNEL, message_ts))
    assert f"*Roll of {DNS} failed*" in approval and "lost its records" in approval, output
    assert orphans(connect(own_redis)) == []
