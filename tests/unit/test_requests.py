"""Request records and their transitions in Redis: the two-person rule's bookkeeping."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from domain import audit, integrity, overlap_requests, requests
from domain.access import Refused
from domain.errors import RecordTampered
from domain.requests import AlreadyOpen, RequestClosed, RequestNotFound
from tests.conftest import APPROVER_A, APPROVER_B, ENGINEER, TEST_CHANNEL

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
TTL = timedelta(minutes=30)
APPROVERS = frozenset({APPROVER_A, APPROVER_B, "U0DAVE004"})


def open_roll(conn, *, needed=1, now=T0, token="CF_WAF_EDIT_RAXX_APP", action="roll", requester=APPROVER_A):
    return requests.open_request(
        conn, action=action, token=token, requester=requester, reason="quarterly", needed=needed, ttl=TTL,
        channel=TEST_CHANNEL, now=now,
    )


def events(conn, token="CF_WAF_EDIT_RAXX_APP"):
    return [(e.event, e.who) for e in reversed(audit.recent(conn, token))]


def test_opening_a_request_stores_it_pending_with_its_deadline(redis_conn):
    request = open_roll(redis_conn)

    stored = requests.load(redis_conn, request.id, now=T0)
    assert stored == request
    assert (stored.state, stored.requester, stored.expires_at) == ("pending", APPROVER_A, T0 + TTL)
    assert events(redis_conn) == [("requested", APPROVER_A)]


def test_a_second_roll_of_the_same_token_points_to_the_open_one(redis_conn):
    first = open_roll(redis_conn)

    with pytest.raises(AlreadyOpen) as refused:
        open_roll(redis_conn, requester=APPROVER_B, now=T0 + timedelta(minutes=5))

    assert refused.value.request.id == first.id


def test_a_revoke_may_be_opened_while_a_roll_waits(redis_conn):
    open_roll(redis_conn)

    revoke = open_roll(redis_conn, action="revoke")

    assert revoke.state == "pending"


def test_a_new_roll_may_be_opened_once_the_old_one_has_expired(redis_conn):
    open_roll(redis_conn)

    again = open_roll(redis_conn, now=T0 + TTL + timedelta(seconds=1))

    assert again.state == "pending"


def test_an_approval_from_another_approver_approves(redis_conn):
    request = open_roll(redis_conn)

    approved = requests.approve(
        redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0 + timedelta(minutes=1)
    )

    assert approved.state == "approved"
    assert approved.approvals == [requests.Approval(user=APPROVER_B, at=T0 + timedelta(minutes=1))]
    assert requests.load(redis_conn, request.id, now=T0) == approved
    assert events(redis_conn) == [("requested", APPROVER_A), ("approved", APPROVER_B)]


def test_the_approval_that_completes_a_request_queues_it_with_its_writes_in_one_transaction(redis_conn):
    request = open_roll(redis_conn)

    def queue_job(pipe, approved):
        pipe.rpush("test:jobs", approved.id)

    queued = requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0, queue=True,
                              also=queue_job)

    assert queued.state == "queued" and requests.load(redis_conn, request.id, now=T0) == queued
    assert redis_conn.lrange("test:jobs", 0, -1) == [request.id.encode()]
    assert requests.stranded(redis_conn, now=T0 + timedelta(hours=1)) == []  # never approved-but-not-queued
    assert events(redis_conn) == [("requested", APPROVER_A), ("approved", APPROVER_B), ("queued", "cftoken")]


def test_an_approval_refused_by_its_check_counts_nothing_and_writes_nothing_else(redis_conn):
    request = open_roll(redis_conn)

    def wrong_message(found):
        raise Refused("That button is not on this request's message.")

    with pytest.raises(Refused, match="not on this request's message"):
        requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0, queue=True,
                         check=wrong_message, also=lambda pipe, r: pipe.rpush("test:jobs", r.id))

    assert requests.load(redis_conn, request.id, now=T0).state == "pending"
    assert redis_conn.llen("test:jobs") == 0 and events(redis_conn) == [("requested", APPROVER_A)]


def test_a_denial_and_a_cancel_commit_with_their_writes_and_a_refused_cancel_writes_nothing(redis_conn):
    denied_one, kept = open_roll(redis_conn), open_roll(redis_conn, token="CF_PAGES_DEPLOY")

    def wrong_message(found):
        raise Refused("That button is not on this request's message.")

    requests.deny(redis_conn, denied_one.id, user=APPROVER_B, approvers=APPROVERS, now=T0,
                  also=lambda pipe, r: pipe.rpush("test:notes", r.state))
    with pytest.raises(Refused):
        requests.cancel(redis_conn, kept.id, user=APPROVER_A, now=T0, check=wrong_message,
                        also=lambda pipe, r: pipe.rpush("test:notes", r.state))

    assert redis_conn.lrange("test:notes", 0, -1) == [b"denied"]
    assert requests.load(redis_conn, kept.id, now=T0).state == "pending"


def test_an_approval_short_of_the_count_is_not_queued(redis_conn):
    request = open_roll(redis_conn, needed=2)

    counted = requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0, queue=True,
                               also=lambda pipe, r: pipe.rpush("test:seen", r.state))

    assert counted.state == "pending" and redis_conn.lrange("test:seen", 0, -1) == [b"pending"]


def test_with_two_needed_the_first_approval_leaves_it_pending(redis_conn):
    request = open_roll(redis_conn, needed=2)

    once = requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)
    twice = requests.approve(redis_conn, request.id, user="U0DAVE004", approvers=APPROVERS, now=T0)

    assert once.state == "pending"
    assert twice.state == "approved"
    assert twice.approved_by == [APPROVER_B, "U0DAVE004"]


def test_the_same_person_approving_twice_counts_once(redis_conn):
    request = open_roll(redis_conn, needed=2)
    requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)

    with pytest.raises(Refused, match="already approved"):
        requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)

    stored = requests.load(redis_conn, request.id, now=T0)
    assert (stored.state, stored.approved_by) == ("pending", [APPROVER_B])


@pytest.mark.parametrize(("user", "why"), [(APPROVER_A, "cannot approve it"), (ENGINEER, "only approvers")])
def test_refused_approvals_change_nothing(redis_conn, user, why):
    request = open_roll(redis_conn)

    with pytest.raises(Refused, match=why):
        requests.approve(redis_conn, request.id, user=user, approvers=APPROVERS, now=T0)

    assert requests.load(redis_conn, request.id, now=T0) == request
    assert events(redis_conn) == [("requested", APPROVER_A)]


def test_a_denial_ends_the_request_and_later_approvals_are_told_why(redis_conn):
    request = open_roll(redis_conn)
    denied = requests.deny(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)

    with pytest.raises(RequestClosed, match=f"<@{APPROVER_B}> denied it"):
        requests.approve(redis_conn, request.id, user="U0DAVE004", approvers=APPROVERS, now=T0)

    assert (denied.state, denied.denied_by) == ("denied", APPROVER_B)
    assert events(redis_conn)[-1] == ("denied", APPROVER_B)


def test_the_requester_cancels_and_others_cannot(redis_conn):
    request = open_roll(redis_conn)

    with pytest.raises(Refused, match="who asked, can cancel"):
        requests.cancel(redis_conn, request.id, user=APPROVER_B, now=T0)
    cancelled = requests.cancel(redis_conn, request.id, user=APPROVER_A, now=T0)

    assert cancelled.state == "cancelled"
    assert events(redis_conn)[-1] == ("cancelled", APPROVER_A)


def test_a_pending_request_reads_as_expired_after_its_deadline_without_any_click(redis_conn):
    request = open_roll(redis_conn)

    assert requests.load(redis_conn, request.id, now=T0 + TTL - timedelta(seconds=1)).state == "pending"
    assert requests.load(redis_conn, request.id, now=T0 + TTL).state == "expired"


def test_a_click_after_the_deadline_stores_the_expiry_and_is_refused(redis_conn):
    request = open_roll(redis_conn)

    with pytest.raises(RequestClosed, match=r"expired <!date\^\d+\^\{date_short_pretty\} \{time\}\|2026-03-01 12:30 UTC>") as refused:
        requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0 + TTL)

    assert refused.value.request.state == "expired"
    assert requests.load(redis_conn, request.id, now=T0).state == "expired"
    assert events(redis_conn) == [("requested", APPROVER_A), ("expired", "cftoken")]


def test_expire_overdue_expires_each_overdue_request_once(redis_conn):
    late = open_roll(redis_conn)
    fresh = open_roll(redis_conn, token="CF_PAGES_DEPLOY", now=T0 + timedelta(minutes=20))

    first = requests.expire_overdue(redis_conn, now=T0 + TTL)
    second = requests.expire_overdue(redis_conn, now=T0 + TTL)

    assert [r.id for r in first] == [late.id]
    assert second == []
    assert requests.load(redis_conn, fresh.id, now=T0 + TTL).state == "pending"


def test_the_worker_lifecycle_queued_running_steps_result(redis_conn):
    request = open_roll(redis_conn)
    requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)

    queued = requests.mark_queued(redis_conn, request.id, now=T0)
    running = requests.mark_running(redis_conn, request.id, now=T0)
    resumed = requests.mark_running(redis_conn, request.id, now=T0 + timedelta(minutes=1))
    stepped = requests.set_step(redis_conn, request.id, "rolled", now=T0)
    done = requests.finish(redis_conn, request.id, ok=True, result="new value stored and verified", now=T0)
    again = requests.finish(redis_conn, request.id, ok=False, result="late retry", now=T0)

    assert [queued.state, running.state, resumed.state, stepped.step] == ["queued", "running", "running", "rolled"]
    assert (done.state, done.result) == ("succeeded", "new value stored and verified")
    assert again == done
    assert [e for e, _ in events(redis_conn)] == ["requested", "approved", "queued", "ran", "succeeded"]


def test_a_fast_worker_may_start_before_the_web_marks_it_queued(redis_conn):
    request = open_roll(redis_conn)
    requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)

    requests.mark_running(redis_conn, request.id, now=T0)
    late = requests.mark_queued(redis_conn, request.id, now=T0)

    assert late.state == "running"


def test_a_finished_roll_frees_the_token_for_a_new_one(redis_conn):
    request = open_roll(redis_conn)
    requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)
    requests.mark_running(redis_conn, request.id, now=T0)
    with pytest.raises(AlreadyOpen):
        open_roll(redis_conn)
    requests.finish(redis_conn, request.id, ok=False, result="Cloudflare refused", now=T0)

    assert open_roll(redis_conn).state == "pending"


def test_a_failed_revoke_keeps_its_ticket_link(redis_conn):
    request = open_roll(redis_conn, action="revoke")
    requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)
    requests.mark_running(redis_conn, request.id, now=T0)

    done = requests.finish(
        redis_conn, request.id, ok=True, result="revoked", now=T0, ticket_url="https://support.example/c/7"
    )

    assert (done.state, done.ticket_url) == ("succeeded", "https://support.example/c/7")


@pytest.mark.parametrize("forged", ["roll-000000000000", "../etc", "", "roll-ZZZ"])
def test_an_unknown_or_forged_request_id_is_not_found(redis_conn, forged):
    assert requests.load(redis_conn, forged, now=T0) is None
    with pytest.raises(RequestNotFound):
        requests.approve(redis_conn, forged, user=APPROVER_B, approvers=APPROVERS, now=T0)


def test_steps_are_refused_for_a_request_that_is_not_running(redis_conn):
    request = open_roll(redis_conn)

    with pytest.raises(RequestClosed):
        requests.set_step(redis_conn, request.id, "rolled", now=T0)


def forge(conn, request, **changes):
    """Write the request back as someone with only Redis access would: valid JSON, no tag (or a copied one)."""
    data = json.loads(conn.get(requests.request_key(request.id)))
    data.update(changes)
    conn.set(requests.request_key(request.id), json.dumps(data))


def test_a_record_written_by_hand_is_refused_wherever_it_is_read(redis_conn):
    request = open_roll(redis_conn)
    forge(redis_conn, request, state="approved", approvals=[{"user": APPROVER_B, "at": T0.isoformat()}])

    with pytest.raises(RecordTampered, match=f"{request.id} has an integrity tag that does not verify"):
        requests.load(redis_conn, request.id, now=T0)
    with pytest.raises(RecordTampered):
        requests.mark_queued(redis_conn, request.id, now=T0)
    with pytest.raises(RecordTampered):
        requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)
    assert events(redis_conn) == [("requested", APPROVER_A)]


def test_a_record_without_a_tag_or_with_another_records_tag_is_refused(redis_conn):
    first = open_roll(redis_conn)
    second = open_roll(redis_conn, token="CF_DNS_EDIT_GETRAXX_COM")
    data = json.loads(redis_conn.get(requests.request_key(first.id)))
    del data["tag"]
    redis_conn.set(requests.request_key(first.id), json.dumps(data))
    with pytest.raises(RecordTampered, match="has no integrity tag"):
        requests.load(redis_conn, first.id, now=T0)

    redis_conn.set(requests.request_key(first.id), redis_conn.get(requests.request_key(second.id)))
    with pytest.raises(RecordTampered, match=f"holds request {second.id}"):
        requests.load(redis_conn, first.id, now=T0)
    redis_conn.set(requests.request_key(first.id), b"not json at all")
    with pytest.raises(RecordTampered):
        requests.load(redis_conn, first.id, now=T0)


def test_a_record_signed_with_another_key_is_refused(redis_conn):
    request = open_roll(redis_conn)
    integrity.use_key(SecretStr("another-secret-key-that-is-long-enough-0"))
    with pytest.raises(RecordTampered):
        requests.load(redis_conn, request.id, now=T0)


def test_a_forged_record_does_not_block_a_real_request_for_its_token(redis_conn):
    request = open_roll(redis_conn)
    forge(redis_conn, request, requester=ENGINEER)

    again = open_roll(redis_conn, requester=APPROVER_B)

    assert again.id != request.id and requests.load(redis_conn, again.id, now=T0).state == "pending"


def test_a_forged_pending_record_does_not_stop_the_others_from_expiring(redis_conn):
    forged = open_roll(redis_conn, token="CF_DNS_EDIT_GETRAXX_COM")
    genuine = open_roll(redis_conn)
    forge(redis_conn, forged, reason="forged")

    expired = requests.expire_overdue(redis_conn, now=T0 + TTL)

    assert [request.id for request in expired] == [genuine.id]
    assert requests.expire_overdue(redis_conn, now=T0 + TTL) == []  # the forgery is out of the index


def waiting_overlap(conn, *, retire_at=T0 + timedelta(hours=24)):
    """A running overlap roll whose worker told the thread the deadline."""
    request = open_roll(conn)
    requests.approve(conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)
    requests.mark_running(conn, request.id, now=T0)
    return overlap_requests.set_retire_at(conn, request.id, retire_at=retire_at, now=T0)


def test_an_approvers_overlap_choice_is_recorded_once_with_who_and_when(redis_conn):
    request = waiting_overlap(redis_conn)
    later = T0 + timedelta(hours=1)

    kept = overlap_requests.end_overlap(redis_conn, request.id, choice="keep_old", user=APPROVER_B, approvers=APPROVERS,
                                now=later)
    with pytest.raises(RequestClosed, match=r"already pressed \*Keep old\*"):
        overlap_requests.end_overlap(redis_conn, request.id, choice="retire_now", user=APPROVER_A, approvers=APPROVERS,
                             now=later)
    at_deadline = overlap_requests.overlap_due(redis_conn, request.id, deadline=T0 + timedelta(hours=24),
                                       now=T0 + timedelta(hours=25))

    assert (kept.overlap_end, kept.overlap_end_by, kept.overlap_end_at) == ("keep_old", APPROVER_B, later)
    assert at_deadline == requests.load(redis_conn, request.id, now=later) == kept
    assert events(redis_conn)[-1] == ("overlap ended", APPROVER_B)


def test_keep_old_needs_an_approver_other_than_the_requester(redis_conn):
    request = waiting_overlap(redis_conn)  # asked by APPROVER_A

    with pytest.raises(Refused, match="needs an approver other than"):
        overlap_requests.end_overlap(redis_conn, request.id, choice="keep_old", user=APPROVER_A, approvers=APPROVERS,
                                     now=T0)
    retired = overlap_requests.end_overlap(redis_conn, request.id, choice="retire_now", user=APPROVER_A,
                                           approvers=APPROVERS, now=T0)  # ending a credential's life needs no second

    assert (retired.overlap_end, retired.overlap_end_by) == ("retire_now", APPROVER_A)


def test_only_an_approver_may_end_an_overlap_early(redis_conn):
    request = waiting_overlap(redis_conn)

    with pytest.raises(Refused, match="only approvers can end an overlap early"):
        overlap_requests.end_overlap(redis_conn, request.id, choice="retire_now", user=ENGINEER, approvers=APPROVERS, now=T0)

    assert requests.load(redis_conn, request.id, now=T0).overlap_end is None


@pytest.mark.parametrize("state", ["pending", "running in place", "succeeded"])
def test_a_choice_is_refused_unless_an_overlap_waits_to_retire(redis_conn, state):
    request = open_roll(redis_conn)
    if state != "pending":
        requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)
        requests.mark_running(redis_conn, request.id, now=T0)
    if state == "succeeded":
        overlap_requests.set_retire_at(redis_conn, request.id, retire_at=T0 + timedelta(hours=1), now=T0)
        requests.finish(redis_conn, request.id, ok=True, result="rolled", now=T0)

    with pytest.raises(RequestClosed, match="is not an overlap roll waiting to retire its old token"):
        overlap_requests.end_overlap(redis_conn, request.id, choice="keep_old", user=APPROVER_B, approvers=APPROVERS, now=T0)


def test_the_deadline_ends_the_wait_and_a_later_click_is_told_so(redis_conn):
    deadline = T0 + timedelta(hours=24)
    request = waiting_overlap(redis_conn, retire_at=deadline)

    early = overlap_requests.overlap_due(redis_conn, request.id, deadline=deadline, now=deadline - timedelta(seconds=1))
    due = overlap_requests.overlap_due(redis_conn, request.id, deadline=deadline, now=deadline)
    with pytest.raises(RequestClosed, match="the overlap ended at its deadline"):
        overlap_requests.end_overlap(redis_conn, request.id, choice="keep_old", user=APPROVER_B, approvers=APPROVERS,
                             now=deadline)

    assert early.overlap_end is None
    assert (due.overlap_end, due.overlap_end_by) == ("deadline", "cftoken")


def test_a_record_signed_before_the_overlap_fields_existed_still_verifies(redis_conn):
    request = open_roll(redis_conn)
    older = request.model_dump_json(exclude={"retire_at", "overlap_end", "overlap_end_by", "overlap_end_at",
                                             "token_id", "owner"})  # nor the approval binding's
    tag = integrity.tag(integrity.process_key(), "request", request.id, older.encode())
    redis_conn.set(requests.request_key(request.id), json.dumps({**json.loads(older), "tag": tag}))

    assert requests.load(redis_conn, request.id, now=T0) == request


def test_a_forged_overlap_choice_is_refused(redis_conn):
    request = waiting_overlap(redis_conn)
    forge(redis_conn, request, overlap_end="retire_now", overlap_end_by=ENGINEER)

    with pytest.raises(RecordTampered):
        requests.load(redis_conn, request.id, now=T0)


def finished_revoke(conn, *, ok: bool):
    request = open_roll(conn, action="revoke")
    requests.approve(conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)
    requests.mark_queued(conn, request.id, now=T0)
    requests.mark_running(conn, request.id, now=T0)
    return requests.finish(conn, request.id, ok=ok, result="done" if ok else "Cloudflare refused", now=T0)


def test_a_click_on_a_succeeded_revoke_points_to_a_replacement_not_another_revoke(redis_conn):
    request = finished_revoke(redis_conn, ok=True)

    with pytest.raises(RequestClosed) as refused:
        requests.approve(redis_conn, request.id, user="U0DAVE004", approvers=APPROVERS, now=T0)

    text = str(refused.value)
    assert "`/cftoken provision CF_WAF_EDIT_RAXX_APP`" in text and "*Provision replacement*" in text
    assert "/cftoken revoke" not in text


def test_a_click_on_a_failed_or_denied_revoke_asks_again_with_a_reason(redis_conn):
    failed = finished_revoke(redis_conn, ok=False)

    with pytest.raises(RequestClosed, match=r"Ask again with `/cftoken revoke CF_WAF_EDIT_RAXX_APP REASON`\."):
        requests.deny(redis_conn, failed.id, user="U0DAVE004", approvers=APPROVERS, now=T0, reason="late")


def test_a_click_on_a_finished_roll_asks_again_with_the_roll_command(redis_conn):
    request = open_roll(redis_conn)
    requests.cancel(redis_conn, request.id, user=APPROVER_A, now=T0)

    with pytest.raises(RequestClosed, match=r"Ask again with `/cftoken roll CF_WAF_EDIT_RAXX_APP`\."):
        requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)


def test_the_tag_covers_the_bound_token_id_and_the_owner_kind(redis_conn):
    request = open_roll(redis_conn)
    requests.approve(redis_conn, request.id, user=APPROVER_B, approvers=APPROVERS, now=T0)
    requests.mark_running(redis_conn, request.id, now=T0)
    bound = requests.bind_token(redis_conn, request.id, token_id="a" * 32, now=T0)
    assert requests.bind_token(redis_conn, request.id, token_id="b" * 32, now=T0).token_id == "a" * 32 == bound.token_id

    for field, value in (("token_id", "b" * 32), ("owner", "account")):
        stored = json.loads(redis_conn.get(requests.request_key(request.id)))
        redis_conn.set(requests.request_key(request.id), json.dumps({**stored, field: value}))
        with pytest.raises(RecordTampered):
            requests.load(redis_conn, request.id, now=T0)
        redis_conn.set(requests.request_key(request.id), json.dumps(stored))
