"""A worker killed as its operation concludes: the result is posted exactly once, and reconcile never loops.

The conclusion (the request's end, its audit event, the message's redraw, the result's post, the checkpoint's end)
is one MULTI, so a kill leaves none of it or all of it. A request an earlier version ended in a separate write,
killed before the rest, is settled by reconcile: the result its record holds is posted once and the checkpoint
ended, with nothing done at Cloudflare or the vault (a finished request's operation never does work again).

The kill is an injected seam, not a patch: the dying worker's Services get a Redis client that lets every command
through until a chosen moment holds right after one, then raises `Killed` (a BaseException, as uncatchable by the
bot's `except Exception` as SIGKILL) for that command and every later one, so the dead worker writes nothing more
and its token lock is left to lapse.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable

import pytest
import redis
from redis.client import Pipeline

from domain import requests
from standins.world import CHANNEL
from tests.conftest import make_settings
from tests.integration.scenarios import approved_request, deliver
from tests.waiting import wait_until
from workers.clients.http import RetryPolicy
from workers.operations.checkpoints import Checkpoint, unfinished
from workers.operations.reconcile import reconcile
from workers.operations.runner import run_operation
from workers.services import Services, build_services

pytestmark = pytest.mark.integration
DNS = "CF_DNS_EDIT_GETRAXX_COM"
Moment = Callable[[redis.Redis], bool]


class Killed(BaseException):
    """The worker's process ended here."""


class DyingRedis(redis.Redis):
    """A worker's Redis that dies right after the first command after which `moment` holds (read on a connection
    of its own); that command's caller and every later one get Killed."""

    def __init__(self, url: str, moment: Moment) -> None:
        super().__init__(connection_pool=redis.ConnectionPool.from_url(url))
        self.watcher = redis.Redis.from_url(url)
        self.moment, self.dead = moment, False

    def die_if_due(self) -> None:
        if self.dead or self.moment(self.watcher):
            self.dead = True
            raise Killed

    def execute_command(self, *args, **options):
        if self.dead:
            raise Killed
        answer = super().execute_command(*args, **options)
        self.die_if_due()
        return answer

    def pipeline(self, transaction: bool = True, shard_hint=None) -> Pipeline:
        return DyingPipeline(self, transaction, shard_hint)


class DyingPipeline(Pipeline):
    def __init__(self, owner: DyingRedis, transaction: bool, shard_hint) -> None:
        super().__init__(owner.connection_pool, owner.response_callbacks, transaction, shard_hint)
        self.owner = owner

    def execute(self, raise_on_error: bool = True):
        if self.owner.dead:
            raise Killed
        answer = super().execute(raise_on_error)
        self.owner.die_if_due()
        return answer


def request_ended(request_id: str) -> Moment:
    def ended(conn: redis.Redis) -> bool:
        raw = conn.get(requests.request_key(request_id))
        return raw is not None and json.loads(raw)["state"] in requests.FINAL_STATES

    return ended


def checkpoint_at(request_id: str, step: str) -> Moment:
    return lambda conn: conn.hget(f"cftoken:op:{request_id}", "step") == step.encode()


def run_and_kill(world, conn: redis.Redis, redis_url: str, request_id: str, moment: Moment) -> None:
    """Run the operation in a worker that dies at `moment`; wait for its token lock to lapse, as after SIGKILL."""
    settings = make_settings(**world.settings_values(redis_url=redis_url), cftoken_lock_seconds=1)
    built = build_services(settings, clock=world.clock.now, retry=RetryPolicy.instant())
    dying = DyingRedis(redis_url, moment)
    try:
        with pytest.raises(Killed):
            run_operation(dataclasses.replace(built, redis=dying), request_id)
    finally:
        built.close()
        dying.watcher.close()
        dying.close()
    wait_until(lambda: not conn.exists(f"cftoken:lock:{DNS}"), what="the dead worker's token lock to lapse")


def reconcile_for_three_minutes(services: Services) -> None:
    """What the clock does every minute, three times; then the channel catches up."""
    for _ in range(3):
        reconcile(services)
    deliver(services)


def posted(world, prefix: str) -> list[str]:
    return [world.slack.as_text(m) for m in world.slack.messages(CHANNEL) if m.text.startswith(prefix)]


def test_a_worker_killed_as_its_roll_concludes_leaves_the_result_posted_once_and_nothing_to_resume(
    world, services, redis_conn, redis_url
):
    request_id = approved_request(redis_conn, world, "roll", DNS)

    run_and_kill(world, redis_conn, redis_url, request_id, request_ended(request_id))
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    reconcile_for_three_minutes(services)

    assert len(posted(world, f"✅ Rolled {DNS}")) == 1
    assert posted(world, "⚠️") == [], "reconcile said it could not resume a finished roll"
    assert unfinished(redis_conn) == [] and Checkpoint.ended(redis_conn, request_id)
    assert world.live_value(DNS) == world.vault_value(DNS)


def test_a_roll_an_earlier_version_ended_without_its_result_is_settled_once_without_rolling_again(
    world, services, redis_conn, redis_url
):
    request_id = approved_request(redis_conn, world, "roll", DNS)
    run_and_kill(world, redis_conn, redis_url, request_id, checkpoint_at(request_id, "report"))
    rolled = world.vault_value(DNS)
    # the earlier version's first write of three; its redraw, result post and checkpoint end died with it
    requests.finish(redis_conn, request_id, ok=True, result=f"Rolled {DNS}: stored and verified (as recorded).",
                    now=world.clock.now())

    reconcile_for_three_minutes(services)

    assert len(posted(world, f"✅ Rolled {DNS}: stored and verified (as recorded).")) == 1
    assert posted(world, "⚠️") == [], "reconcile said it could not resume a finished roll"
    assert unfinished(redis_conn) == [] and Checkpoint.ended(redis_conn, request_id)
    assert world.vault_value(DNS) == rolled == world.live_value(DNS), "the finished roll was rolled again"


def test_a_revoke_that_ended_before_its_delete_is_settled_without_deleting_anything(
    world, services, redis_conn, redis_url
):
    request_id = approved_request(redis_conn, world, "revoke", DNS, reason="suspected leak")
    value = world.vault_value(DNS)
    run_and_kill(world, redis_conn, redis_url, request_id, checkpoint_at(request_id, "delete"))
    requests.finish(redis_conn, request_id, ok=False, result=f"Revoke of {DNS} stopped (as recorded).",
                    now=world.clock.now())

    reconcile_for_three_minutes(services)

    assert len(posted(world, f"❌ Revoke of {DNS} stopped (as recorded).")) == 1
    assert posted(world, "⚠️") == [], "reconcile said it could not resume a finished revoke"
    assert unfinished(redis_conn) == [] and Checkpoint.ended(redis_conn, request_id)
    assert world.live_value(DNS) == world.vault_value(DNS) == value, "a finished revoke's checkpoint did work"
