"""Approvals bind to what was approved: a genuinely tagged old record replayed onto a new token changes nothing.

A revoke of CF_DNS_EDIT_GETRAXX_COM runs (paused once at the vault write, so its mid-way records exist), then a
*Provision replacement* makes a new token ten minutes later. Someone with Redis access puts back copies they took:
the approved request record before it ran (re-queued by hand), the running record with its mid-way checkpoint,
the mid-way checkpoint alone beside the finished record, or a roll of the token approved before the revoke (which
superseded it), re-queued. The Procfile's worker deletes nothing at Cloudflare, writes
nothing to the vault, the replacement stays live and in the vault, and the replay is reported once (log, audit, ⚠️).
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import pytest

from domain import audit, requests
from domain.queueing import enqueue_request, job_queue
from standins.world import APPROVERS, CHANNEL
from tests.integration.scenarios import _post_as_bot, approved_request
from tests.integration.test_processes import procfile_command, run_env
from workers.operations.checkpoints import UNFINISHED, Checkpoint

pytestmark = pytest.mark.integration
DNS = "CF_DNS_EDIT_GETRAXX_COM"
WRITES = ("PUT", "POST", "PATCH", "DELETE")


def run_worker(world, redis_url) -> str:
    """The Procfile's worker until the queue is empty (it reconciles first, as on every start); its log."""
    result = subprocess.run([*procfile_command("worker"), "--burst"], env=run_env(world, redis_url),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def writes(world) -> list[tuple[str, str]]:
    cloudflare = [(m, p) for m, p in world.cloudflare.requests if m in WRITES]
    vault = [(m, p) for m, p in world.infisical.requests if m in WRITES and "secrets" in p]
    return cloudflare + vault


def approved(conn, world, action: str = "revoke") -> tuple[str, bytes]:
    """An approved request with its message; its record as it stood approved, before it ever ran (a copy)."""
    now = world.clock.now()
    request = requests.open_request(conn, action=action, token=DNS, requester=APPROVERS[0], reason="leaked",
                                    needed=1, ttl=timedelta(minutes=30), channel=CHANNEL, now=now)
    requests.attach_message(conn, request.id, channel=CHANNEL, message_ts=_post_as_bot(world, "revoke"), now=now)
    requests.approve(conn, request.id, user=APPROVERS[1], approvers=APPROVERS, now=now)
    return request.id, conn.get(requests.request_key(request.id))


def revoked_then_replaced(world, conn, redis_url) -> dict[str, object]:
    """Run a revoke (paused once at the vault write) and its replacement; return the copies taken on the way."""
    roll_id, roll_approved = approved(conn, world, "roll")  # the revoke supersedes it before it runs
    revoke_id, approved_copy = approved(conn, world)
    requests.mark_queued(conn, revoke_id, now=world.clock.now())
    assert enqueue_request(job_queue(conn), revoke_id)
    world.infisical.faults.fail_next(f"/api/v4/secrets/{DNS}", 8, "503", method="PATCH", exact=True)
    run_worker(world, redis_url)
    checkpoint = Checkpoint.load(conn, revoke_id)
    assert checkpoint.step == "placeholder", checkpoint.fields
    copies = {"id": revoke_id, "approved": approved_copy, "running": conn.get(requests.request_key(revoke_id)),
              "roll id": roll_id, "roll approved": roll_approved,
              "checkpoint": conn.hgetall(f"cftoken:op:{revoke_id}")}
    world.infisical.faults.clear()
    run_worker(world, redis_url)  # reconcile resumes it: revoked, ticket opened
    assert requests.load(conn, revoke_id, now=world.clock.now()).state == "succeeded"

    world.clock.advance(timedelta(minutes=10))  # people clean up the consumers, then ask for the replacement
    provision_id = approved_request(conn, world, "provision", DNS, replaces=revoke_id)
    assert enqueue_request(job_queue(conn), provision_id)
    run_worker(world, redis_url)
    assert requests.load(conn, provision_id, now=world.clock.now()).state == "succeeded"
    assert world.cloudflare.value_of(world.vault_value(DNS + "__TOKEN_ID")) == world.vault_value(DNS)
    return copies


def put_back(conn, copies: dict[str, object], replay: str) -> None:
    """What a Redis writer does with the copies."""
    revoke_id = copies["id"]
    if replay == "an approved roll of the token, re-queued":
        conn.delete(f"cftoken:op:{copies['roll id']}", f"rq:job:{copies['roll id']}")
        conn.set(requests.request_key(copies["roll id"]), copies["roll approved"])
        assert enqueue_request(job_queue(conn), copies["roll id"])
        return
    if replay == "approved record, re-queued":
        conn.delete(f"cftoken:op:{revoke_id}", f"rq:job:{revoke_id}")
        conn.set(requests.request_key(revoke_id), copies["approved"])
        assert enqueue_request(job_queue(conn), revoke_id)
        return
    if replay == "running record and its checkpoint":
        conn.set(requests.request_key(revoke_id), copies["running"])
    conn.delete(f"cftoken:op:{revoke_id}")
    conn.hset(f"cftoken:op:{revoke_id}", mapping=copies["checkpoint"])
    conn.sadd(UNFINISHED, revoke_id)


@pytest.mark.parametrize("replay", ["approved record, re-queued", "running record and its checkpoint",
                                    "checkpoint alone", "an approved roll of the token, re-queued"])
def test_a_replayed_revoke_record_or_checkpoint_changes_nothing_after_a_provision_replacement(
        world, redis_conn, redis_url, replay):
    copies = revoked_then_replaced(world, redis_conn, redis_url)
    replacement_id, replacement_value = world.vault_value(DNS + "__TOKEN_ID"), world.vault_value(DNS)
    before = len(writes(world))
    put_back(redis_conn, copies, replay)

    log = run_worker(world, redis_url)

    assert writes(world)[before:] == [], log
    assert world.vault_value(DNS) == replacement_value == world.cloudflare.value_of(replacement_id)
    assert world.vault_value(DNS + "__TOKEN_ID") == replacement_id
    assert world.cloudflare.token(replacement_id)["status"] == "active"
    revoke_id = copies["roll id"] if "roll" in replay else copies["id"]
    assert f"The {'roll' if 'roll' in replay else 'revoke'} request {revoke_id} was replayed" in log, log
    refused = [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith(f"⚠️ Refused `{revoke_id}`")]
    assert len(refused) == 1 and "replayed" in refused[0], world.slack.channel_transcript(CHANNEL)
    assert ("refused", "cftoken") in [(e.event, e.who) for e in audit.recent(redis_conn, DNS)]
    assert Checkpoint.load(redis_conn, revoke_id).finished  # never resumed again

    run_worker(world, redis_url)  # the next start does not try again
    assert writes(world)[before:] == []
    assert len([m for m in world.slack.messages(CHANNEL) if m.text.startswith(f"⚠️ Refused `{revoke_id}`")]) == 1
    assert json.loads(redis_conn.get(requests.request_key(revoke_id)))["state"] != "running"
