"""revoke NAME on the worker side, in-process, against the stand-ins and Redis."""

from datetime import datetime, timedelta

import pytest

from domain import requests
from domain.queueing import job_queue
from standins.world import APPROVERS, CHANNEL
from tests.integration.scenarios import approved_request, deliver, leaks, redis_dump, token_values
from workers.operations.checkpoints import unfinished
from workers.operations.reconcile import reconcile
from workers.operations.runner import run_operation

pytestmark = pytest.mark.integration
WAF = "CF_WAF_EDIT_RAXX_APP"


def posted(world, prefix: str) -> list[str]:
    return [m.text for m in world.slack.messages(CHANNEL) if m.text.startswith(prefix)]


def test_a_revoke_deletes_the_token_leaves_a_placeholder_and_opens_one_incident(world, services, redis_conn):
    token_id = world.token_ids[WAF]
    old_value = world.vault_value(WAF)
    request_id = approved_request(redis_conn, world, "revoke", WAF, reason="leaked in a CI log <!channel>")

    run_operation(services, request_id)

    deliver(services)

    assert world.cloudflare.token(token_id) is None
    assert world.cloudflare.value_of(token_id) is None
    assert world.vault_value(WAF).startswith("REVOKED ")
    assert world.vault_value(WAF + "__TOKEN_ID") == token_id
    [conversation] = world.freescout.conversations()
    assert WAF in conversation["subject"] and request_id in conversation["subject"]
    note = conversation["_embedded"]["threads"][0]["body"]
    for expected in (
        WAF,
        "Zone:WAF:Edit, Zone:Zone:Read",
        "raxx.app",
        APPROVERS[0],
        APPROVERS[1],
        "leaked in a CI log",
        "sre-agent (CI/scripted)",
        "cloudflare-rate-limiting.md",
    ):
        assert expected in note
    assert old_value not in note
    assert f"Alice Approver (Slack {APPROVERS[0]}); approved by Bob Approver (Slack {APPROVERS[1]})" in note
    assert "+00:00" not in note and " UTC\n" in note
    link = f"<{world.freescout.url}/conversation/{conversation['id']}|#{conversation['number']}>"
    [result] = posted(world, f"✅ Revoked {WAF}")
    assert result.count("/conversation/") == 1 and f"Incident ticket: {link}" in result
    request = requests.load(redis_conn, request_id, now=world.clock.now())
    assert request.state == "succeeded" and request.ticket_url.endswith(f"/conversation/{conversation['id']}")
    shown = world.slack.as_text(world.slack.message(request.channel, request.message_ts))
    assert shown.count("/conversation/") == 1 and f"Incident ticket: {link}" in shown
    assert unfinished(redis_conn) == []


def test_a_token_already_gone_at_cloudflare_counts_as_revoked(world, services, redis_conn):
    world.cloudflare.remove(world.token_ids[WAF])
    request_id = approved_request(redis_conn, world, "revoke", WAF, reason="gone")

    run_operation(services, request_id)

    deliver(services)

    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    assert world.vault_value(WAF).startswith("REVOKED ")
    assert len(world.freescout.conversations()) == 1


def test_a_freescout_outage_does_not_block_the_revocation_and_the_ticket_follows_exactly_once(
    world, services, redis_conn
):
    world.freescout.faults.fail_next("/api/conversations", 50, "503")
    request_id = approved_request(redis_conn, world, "revoke", WAF, reason="compromised")

    run_operation(services, request_id)

    deliver(services)

    assert world.cloudflare.token(world.token_ids[WAF]) is None
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    [result] = posted(world, f"✅ Revoked {WAF}")
    assert "ticket could not be opened yet" in result
    assert unfinished(redis_conn) == [request_id]

    world.freescout.faults.clear()
    reconcile(services)
    deliver(services)
    reconcile(services)
    deliver(services)

    [conversation] = world.freescout.conversations()
    assert posted(world, f"🎫 Incident for revoked {WAF}") == [
        f"🎫 Incident for revoked {WAF}: <{world.freescout.url}/conversation/{conversation['id']}"
        f"|#{conversation['number']}>"
    ]
    assert requests.load(redis_conn, request_id, now=world.clock.now()).ticket_url.endswith(
        f"/conversation/{conversation['id']}"
    )
    assert unfinished(redis_conn) == []


def test_a_ticket_created_but_unrecorded_is_found_not_duplicated(world, services, redis_conn):
    world.freescout.faults.fail_next("/api/conversations", 1, "drop", method="POST")
    request_id = approved_request(redis_conn, world, "revoke", WAF, reason="compromised")

    run_operation(services, request_id)

    deliver(services)
    reconcile(services)
    deliver(services)

    assert len(world.freescout.conversations()) == 1


def test_a_refused_management_token_ends_the_revoke_before_anything_changes(world, services, redis_conn):
    world.cloudflare.set_status(world.token_ids["CF_ACCESS_MGMT"], "disabled")
    old_value = world.vault_value(WAF)
    request_id = approved_request(redis_conn, world, "revoke", WAF, reason="compromised")

    run_operation(services, request_id)

    deliver(services)

    assert world.cloudflare.token(world.token_ids[WAF]) is not None
    assert world.vault_value(WAF) == old_value
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "failed"
    [result] = posted(world, f"❌ Revoke of {WAF} stopped at pre-flight before anything changed")
    assert "Failure mode D" in result
    assert world.freescout.conversations() == []


def test_a_cloudflare_outage_on_delete_pauses_and_the_reconciler_finishes(world, services, redis_conn):
    token_id = world.token_ids[WAF]
    world.cloudflare.faults.fail_next(f"/client/v4/user/tokens/{token_id}", 20, "502", method="DELETE")
    request_id = approved_request(redis_conn, world, "revoke", WAF, reason="compromised")

    run_operation(services, request_id)

    deliver(services)

    assert world.cloudflare.token(token_id) is not None
    assert unfinished(redis_conn) == [request_id]
    world.cloudflare.faults.clear()

    reconcile(services)

    deliver(services)

    assert world.cloudflare.token(token_id) is None
    assert requests.load(redis_conn, request_id, now=world.clock.now()).state == "succeeded"
    assert len(world.freescout.conversations()) == 1


def test_revocation_leaves_no_token_value_in_redis_tickets_or_the_channel(world, services, redis_conn, caplog):
    caplog.set_level("DEBUG")
    request_id = approved_request(redis_conn, world, "revoke", WAF, reason="compromised")

    run_operation(services, request_id)

    deliver(services)

    values = token_values(world)
    assert leaks(redis_dump(redis_conn), values) == []
    assert leaks(world.slack.channel_transcript(CHANNEL), values) == []
    assert leaks(str(world.freescout.conversations()), values) == []
    assert leaks(caplog.text, values) == []


def test_an_approved_request_the_web_never_queued_is_queued_by_the_reconciler(world, services, redis_conn):
    now = world.clock.now()
    request = requests.open_request(
        redis_conn, action="revoke", token=WAF, requester=APPROVERS[0], reason="web died", needed=1,
        ttl=timedelta(minutes=30), channel=CHANNEL, now=now,
    )
    requests.approve(redis_conn, request.id, user=APPROVERS[1], approvers=APPROVERS, now=now)  # then the web died
    world.clock.advance(timedelta(minutes=2))

    reconcile(services)

    deliver(services)

    assert [job.id for job in job_queue(redis_conn).jobs] == [request.id]
    assert requests.load(redis_conn, request.id, now=world.clock.now()).state == "queued"


def cloudflare_calls(world, since: int) -> list[tuple[str, str]]:
    return world.cloudflare.requests[since:]


def test_a_plain_revoke_reads_cloudflare_once_by_name_and_deletes_its_token(world, services, redis_conn):
    token_id = world.token_ids[WAF]
    request_id = approved_request(redis_conn, world, "revoke", WAF, reason="leaked in a CI log")
    before = len(world.cloudflare.requests)

    run_operation(services, request_id)

    assert cloudflare_calls(world, before) == [("GET", "/client/v4/user/tokens"),
                                               ("DELETE", f"/client/v4/user/tokens/{token_id}")]
    assert world.cloudflare.token(token_id) is None


def test_a_live_token_with_the_name_the_bot_did_not_make_is_left_live_and_the_result_says_so(
    world, services, redis_conn
):
    token_id = world.token_ids[WAF]
    stranger, value = world.cloudflare.add_token(WAF, policies=world.cloudflare.token(token_id)["policies"])
    issued = world.cloudflare.token(stranger)["issued_on"]
    request_id = approved_request(redis_conn, world, "revoke", WAF, reason="leaked in a CI log")

    run_operation(services, request_id)
    deliver(services)

    assert world.cloudflare.token(token_id) is None
    assert world.cloudflare.token(stranger)["status"] == "active"  # not the bot's to delete
    warning = (f"A second live token with this name, {stranger}, issued <!date^"
               f"{int(datetime.fromisoformat(issued.replace('Z', '+00:00')).timestamp())}^")
    leaves = "is not known to the bot: the revoke leaves it; delete it in the Cloudflare dashboard if it may share " \
             "the leak"
    top_level = [world.slack.as_text(m) for m in world.slack.messages(CHANNEL, include_threads=False)
                 if m.text.startswith(f"✅ Revoked {WAF}")]
    assert len(top_level) == 1 and warning in top_level[0] and leaves in top_level[0]  # broadcast, not only a reply
    request = requests.load(redis_conn, request_id, now=world.clock.now())
    assert request.state == "succeeded" and stranger in request.result and leaves in request.result
    [conversation] = world.freescout.conversations()
    assert f"LEFT LIVE: A second live token with this name, {stranger}" in conversation["_embedded"]["threads"][0][
        "body"]
    assert leaks(world.slack.channel_transcript(CHANNEL), {value}) == []
