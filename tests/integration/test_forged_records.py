"""Redis write access is not approval forgery: records Redis alone wrote are refused by the Procfile's worker.

A hand-written `approved` request (valid JSON, no tag or another record's tag), put where reconcile or a
queued run_request finds it, is not carried out: Cloudflare and the vault see no write, the log and the audit
show the refusal, and the channel gets one ⚠️ naming the request. A genuine checkpoint whose token id was changed
by hand is refused the same way, where the untouched one is carried out.
"""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta

import pytest

from domain import audit, requests
from domain.queueing import enqueue_request, job_queue
from standins.world import APPROVERS, CHANNEL
from tests.integration.scenarios import approved_request
from tests.integration.test_processes import procfile_command, run_env
from workers.operations.checkpoints import Checkpoint

pytestmark = pytest.mark.integration
DNS = "CF_DNS_EDIT_GETRAXX_COM"
WRITES = ("PUT", "POST", "PATCH", "DELETE")


def run_worker(world, redis_url) -> str:
    """The Procfile's worker until the queue is empty (it reconciles first, as on every start); its log."""
    result = subprocess.run([*procfile_command("worker"), "--burst"], env=run_env(world, redis_url),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def cloudflare_writes(world) -> list[tuple[str, str]]:
    return [(method, path) for method, path in world.cloudflare.requests if method in WRITES]


def vault_writes(world) -> list[tuple[str, str]]:
    return [(method, path) for method, path in world.infisical.requests if method in WRITES and "secrets" in path]


def refusals(world, request_id: str) -> list[str]:
    return [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith(f"⚠️ Refused `{request_id}`")]


def hand_written_approved_revoke(conn, world, *, tag: str | None) -> str:
    """What someone with only Redis access would write: a revoke approved by two approvers, in valid JSON."""
    now = world.clock.now()
    request_id = "revoke-0123456789ab"
    record = {
        "id": request_id, "action": "revoke", "token": DNS, "requester": APPROVERS[0], "reason": "forged",
        "state": "approved", "needed": 1, "approvals": [{"user": APPROVERS[1], "at": now.isoformat()}],
        "created_at": now.isoformat(), "expires_at": (now + timedelta(minutes=30)).isoformat(),
        "channel": CHANNEL, "updated_at": now.isoformat(),
    }
    if tag is not None:
        record["tag"] = tag
    conn.set(requests.request_key(request_id), json.dumps(record))
    conn.set(requests.open_key("revoke", DNS), request_id)
    return request_id


@pytest.mark.parametrize("path", ["reconcile", "run_request"])
@pytest.mark.parametrize("tag", ["none", "copied"])
def test_a_hand_written_approved_request_is_refused_loudly_and_changes_nothing(world, redis_conn, redis_url, path,
                                                                               tag):
    copied = None
    if tag == "copied":  # a genuine record's tag, moved onto the forgery
        genuine = approved_request(redis_conn, world, "roll", "CF_WAF_EDIT_RAXX_APP")
        copied = json.loads(redis_conn.get(requests.request_key(genuine))).get("tag")
        redis_conn.delete(requests.request_key(genuine))
    request_id = hand_written_approved_revoke(redis_conn, world, tag=copied)
    if path == "reconcile":  # the web "died" between the last click and the enqueue: reconcile queues it
        redis_conn.zadd(requests.APPROVED_INDEX, {request_id: world.clock.now().timestamp() - 600})
    else:
        assert enqueue_request(job_queue(redis_conn), request_id)
    before = world.cloudflare.count()

    log = run_worker(world, redis_url)

    assert cloudflare_writes(world) == [] and world.cloudflare.count() >= before
    assert vault_writes(world) == []
    assert world.freescout.count("POST") == 0
    assert f"refused {request_id}: The request record {request_id} " in log
    assert len(refusals(world, request_id)) == 1, world.slack.channel_transcript(CHANNEL)
    assert "Nothing was done with it" in refusals(world, request_id)[0]
    assert ("refused", "cftoken") in [(e.event, e.who) for e in audit.recent(redis_conn, DNS)]
    assert json.loads(redis_conn.get(requests.request_key(request_id)))["state"] == "approved"  # never acted on
    assert job_queue(redis_conn).count == 0


@pytest.mark.parametrize("tampered", [False, True])
def test_a_checkpoint_whose_token_id_was_changed_by_hand_is_refused(world, redis_conn, redis_url, tampered):
    request_id = approved_request(redis_conn, world, "revoke", DNS, reason="leaked")
    checkpoint = Checkpoint.open(redis_conn, request_id, action="revoke", token=DNS, first="preflight",
                                 now=world.clock.now())
    checkpoint.save(now=world.clock.now(), step="delete", token_id=world.token_ids[DNS], last_used_on="unknown")
    if tampered:  # aim the delete at the management token
        redis_conn.hset(f"cftoken:op:{request_id}", "token_id", world.token_ids["CF_ACCESS_MGMT"])

    log = run_worker(world, redis_url)

    deletes = [path for method, path in cloudflare_writes(world) if method == "DELETE"]
    if not tampered:
        assert deletes == [f"/client/v4/user/tokens/{world.token_ids[DNS]}"], log
        return
    assert deletes == [] and cloudflare_writes(world) == [] and vault_writes(world) == []
    assert f"The checkpoint of {request_id} has an integrity tag that does not verify" in log
    assert len(refusals(world, request_id)) == 1, world.slack.channel_transcript(CHANNEL)
    assert ("refused", "cftoken") in [(e.event, e.who) for e in audit.recent(redis_conn, DNS)]
