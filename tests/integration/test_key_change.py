"""A change of CFTOKEN_SECRET_KEY never strands an operation (the Procfile's worker, restarted with another key).

A roll paused at "rolled" (Cloudflare holds the new value, the vault refused it, the checkpoint holds it sealed)
is resumed by a worker started with the new key and CFTOKEN_SECRET_KEY_PREVIOUS set to the old one: the held value
reaches the vault and the roll reports once. Started with only the new key, the worker refuses the records loudly,
naming CFTOKEN_SECRET_KEY_PREVIOUS, and changes nothing; with the previous key set it then converges. A sealed value
no key at hand opens (a key changed twice) is rolled again, as before tags existed.
"""

from __future__ import annotations

import subprocess

import pytest
from pydantic import SecretStr

from domain import integrity, requests
from domain.queueing import enqueue_request, job_queue
from standins.world import CHANNEL, SECRET_KEY
from tests.integration.scenarios import approved_request
from tests.integration.test_processes import procfile_command, run_env
from workers.operations.checkpoints import Checkpoint, unfinished
from workers.operations.sealing import seal

pytestmark = pytest.mark.integration
DNS = "CF_DNS_EDIT_GETRAXX_COM"
NEW_KEY = "the-new-cftoken-secret-key-after-the-change-0123456789"
LOST_KEY = "a-key-from-two-changes-ago-that-no-process-has-any-more"


def run_worker(world, redis_url, **env: str) -> str:
    """The Procfile's worker until the queue is empty (it reconciles first, as on every start); its log."""
    result = subprocess.run([*procfile_command("worker"), "--burst"], env={**run_env(world, redis_url), **env},
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def rolled(world) -> list[str]:
    return [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith(f"✅ Rolled {DNS}")]


def refused(world, request_id: str) -> list[str]:
    return [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith(f"⚠️ Refused `{request_id}`")]


def paused_at_rolled(world, redis_conn, redis_url) -> str:
    """A roll whose vault write kept failing: Cloudflare has the new value, the checkpoint holds it sealed."""
    world.infisical.faults.fail_next(f"/api/v4/secrets/{DNS}", 8, "503", method="PATCH", exact=True)
    request_id = approved_request(redis_conn, world, "roll", DNS)
    assert enqueue_request(job_queue(redis_conn), request_id)
    run_worker(world, redis_url)
    checkpoint = Checkpoint.load(redis_conn, request_id)
    assert checkpoint.step == "store" and checkpoint.sealed(), checkpoint.fields
    assert world.vault_value(DNS) != world.live_value(DNS)  # the vault's value is dead
    world.infisical.faults.clear()
    return request_id


def test_a_paused_roll_resumes_under_the_new_key_while_the_previous_one_is_accepted_for_reading(
        world, redis_conn, redis_url):
    request_id = paused_at_rolled(world, redis_conn, redis_url)

    log = run_worker(world, redis_url, CFTOKEN_SECRET_KEY=NEW_KEY)  # the old key forgotten: refused, loudly

    assert world.vault_value(DNS) != world.live_value(DNS) and rolled(world) == []
    assert "CFTOKEN_SECRET_KEY_PREVIOUS" in "".join(refused(world, request_id)), log
    assert len(refused(world, request_id)) == 1

    log = run_worker(world, redis_url, CFTOKEN_SECRET_KEY=NEW_KEY, CFTOKEN_SECRET_KEY_PREVIOUS=SECRET_KEY)

    assert world.vault_value(DNS) == world.live_value(DNS), log
    assert len(rolled(world)) == 1
    assert unfinished(redis_conn) == []
    integrity.use_key(SecretStr(NEW_KEY))  # what it wrote since is under the new key alone
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    assert Checkpoint.load(redis_conn, request_id).finished


def test_a_paused_roll_whose_sealed_value_no_key_opens_rolls_again(world, redis_conn, redis_url):
    request_id = approved_request(redis_conn, world, "roll", DNS)
    checkpoint = Checkpoint.open(redis_conn, request_id, action="roll", token=DNS, first="preflight",
                                 now=world.clock.now())
    checkpoint.save(now=world.clock.now(), step="store", token_id=world.token_ids[DNS], rolls="1",
                    sealed=seal(SecretStr("cfut_sealed_under_a_lost_key"), SecretStr(LOST_KEY)))
    requests.mark_running(redis_conn, request_id, now=world.clock.now())

    log = run_worker(world, redis_url)

    assert "sealed value unusable; rolling again" in log
    assert world.vault_value(DNS) == world.live_value(DNS) != "cfut_sealed_under_a_lost_key"
    assert len(rolled(world)) == 1
    assert unfinished(redis_conn) == []
