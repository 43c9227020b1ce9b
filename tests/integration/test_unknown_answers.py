"""An answer the bot does not understand is never an outage and never an endless retry: a provision and an overlap
rotation of a WAF token whose job probe Cloudflare answers with an unknown 4xx end succeeded with the probe
inconclusive; with a 5xx that never ends they stop after the bounded tries as needing an operator, told once. Real
rq worker processes, the clock's reconcile, real Redis, the stand-ins."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from domain import requests
from domain.inventory import load_inventory
from domain.queueing import RECONCILE_JOB, enqueue_request, job_queue
from domain.settings import DEFAULT_INVENTORY
from standins.world import CHANNEL, World
from tests.integration.provisioning_scenarios import run_worker
from tests.integration.scenarios import approved_request
from workers.operations.checkpoints import unfinished
from workers.operations.machine import MAX_TRIES

pytestmark = pytest.mark.integration
WAF = "CF_WAF_EDIT_RAXX_APP"  # rolled by overlap here
NEW = "CF_WAF_EDIT_RAXX_IO"  # declared, to be provisioned
RAXX_APP, RAXX_IO = "f12dbb5cac57d5591a5058874498a6d1", "f3d1b89d86d1aa63a003f2826a8f841c"
OFFSET_KEY = "cftoken:test:clock-offset"
DECLARATION = f'''
[[tokens]]
name = "{NEW}"
scope = "Zone:WAF:Edit, Zone:Zone:Read"
zones = ["raxx.io"]
permissions = ["Zone WAF Write", "Zone Read"]
cadence_days = 90
unblocks = "raxx.io rate limiting"
consumers = [{{ who = "sre-agent", how = "rate-limit rules on raxx.io" }}]
'''


@pytest.fixture
def seeded(tmp_path) -> Path:
    """The shipped inventory with WAF on a two-minute overlap: what the world holds."""
    text, replaced = re.subn(rf'name = "{WAF}"\n', f'name = "{WAF}"\nrotation = "overlap"\noverlap_minutes = 2\n',
                             Path(DEFAULT_INVENTORY).read_text(encoding="utf-8"))
    assert replaced == 1
    path = tmp_path / "seeded.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def inventory(seeded) -> Path:
    """What the bot reads: the seeded tokens plus a WAF token for raxx.io, declared and not provisioned yet."""
    path = seeded.with_name("inventory.toml")
    path.write_text(seeded.read_text(encoding="utf-8") + DECLARATION, encoding="utf-8")
    return path


@pytest.fixture
def world(seeded):
    started = World.start(inventory=load_inventory(seeded))
    yield started
    started.stop()


def run(world, redis_conn, redis_url, inventory, action: str, token: str) -> str:
    request_id = approved_request(redis_conn, world, action, token)
    assert enqueue_request(job_queue(redis_conn), request_id)
    run_worker(world, redis_url, inventory, cftoken_clock_offset_key=OFFSET_KEY)
    return request_id


def later(world, redis_conn, redis_url, inventory, minutes: int) -> None:
    """`minutes` later for the bot and Cloudflare alike; the clock's reconcile runs once."""
    redis_conn.incrby(OFFSET_KEY, minutes * 60)
    world.clock.advance(timedelta(minutes=minutes))
    job_queue(redis_conn).enqueue_call(RECONCILE_JOB)
    run_worker(world, redis_url, inventory, cftoken_clock_offset_key=OFFSET_KEY)


def said(world, start: str) -> list[str]:
    return [world.slack.as_text(m) for m in world.slack.messages(CHANNEL) if m.text.startswith(start)]


def state(redis_conn, world, request_id: str) -> str:
    return requests.load(redis_conn, request_id, now=world.clock.now()).state


def probe_path(zone_id: str) -> str:
    return f"/client/v4/zones/{zone_id}/rulesets/phases/http_ratelimit/entrypoint"


INCONCLUSIVE = ("Probe inconclusive: GET /zones/{zone_id}/rulesets/phases/http_ratelimit/entrypoint on %s: "
                "Cloudflare answered HTTP 409 code 1099: stand-in fault: an answer the bot has never met (HTTP 409)")


def test_an_unknown_4xx_to_the_probe_ends_a_provision_succeeded_with_the_probe_inconclusive(
    world, redis_conn, redis_url, inventory
):
    world.cloudflare.faults.fail_next(probe_path(RAXX_IO), 100, "409")

    request_id = run(world, redis_conn, redis_url, inventory, "provision", NEW)

    assert state(redis_conn, world, request_id) == "succeeded"
    (result,) = said(world, f"✅ Provisioned {NEW}")
    assert INCONCLUSIVE % "raxx.io" in result
    assert said(world, "⚠️") == [] and unfinished(redis_conn) == []


def test_an_unknown_4xx_to_the_probe_ends_an_overlap_succeeded_with_the_probe_inconclusive(
    world, redis_conn, redis_url, inventory
):
    world.cloudflare.faults.fail_next(probe_path(RAXX_APP), 100, "409")

    request_id = run(world, redis_conn, redis_url, inventory, "roll", WAF)
    later(world, redis_conn, redis_url, inventory, 3)  # the overlap's two minutes are over

    assert state(redis_conn, world, request_id) == "succeeded"
    (result,) = said(world, f"✅ Rolled {WAF} by overlap")
    assert INCONCLUSIVE % "raxx.app" in result
    assert said(world, "⚠️") == [] and unfinished(redis_conn) == []


@pytest.mark.parametrize(("action", "token", "zone_id", "verb"), [
    ("provision", NEW, RAXX_IO, "Provision"), ("roll", WAF, RAXX_APP, "Roll")], ids=["provision", "overlap"])
def test_a_5xx_that_never_ends_stops_the_operation_after_the_bounded_tries_with_one_message(
    world, redis_conn, redis_url, inventory, action, token, zone_id, verb
):
    world.cloudflare.faults.fail_next(probe_path(zone_id), 10_000, "503")

    request_id = run(world, redis_conn, redis_url, inventory, action, token)
    (paused,) = said(world, f"⚠️ {verb} of {token} paused at verifying the new")
    assert "cloudflare answered HTTP 503" in paused and f"{MAX_TRIES - 1} more at most" in paused
    for _ in range(MAX_TRIES - 1):
        assert state(redis_conn, world, request_id) == "running"
        later(world, redis_conn, redis_url, inventory, 10)  # past each backoff

    assert state(redis_conn, world, request_id) == "failed"
    (result,) = said(world, f"❌ {verb} of {token} needs an operator: verifying the new")
    assert f"failed {MAX_TRIES} times: cloudflare answered HTTP 503" in result
    assert len(said(world, f"⚠️ {verb} of {token} paused")) == 1 and unfinished(redis_conn) == []
    later(world, redis_conn, redis_url, inventory, 60)
    assert world.cloudflare.count("GET", probe_path(zone_id)) == 4 * MAX_TRIES  # each try: 4 calls; none after
