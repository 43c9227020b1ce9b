"""Simultaneous clicks against a real Redis: the two-person rule holds and the job is queued exactly once."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from domain import requests
from domain.queueing import enqueue_request, job_queue
from standins.slack import SlackStandIn, seed
from tests.conftest import APPROVER_A, APPROVER_B, TEST_CHANNEL
from tests.integration.test_slack_app import T0, Workspace

pytestmark = pytest.mark.integration

CLICKERS = [f"U0APPR{i:03d}" for i in range(24)]


@pytest.fixture
def slack():
    standin = seed(SlackStandIn()).start()
    yield standin
    standin.stop()


def answers_to(slack: SlackStandIn, user: str) -> str:
    return "\n".join(slack.as_text(m) for m in slack.messages(TEST_CHANNEL, visible_to=user) if m.ephemeral_for)


def click_together(ws: Workspace, message, users: list[str]) -> None:
    """Every user clicks Approve at the same instant (one thread each, released by a barrier)."""
    barrier = threading.Barrier(len(users))

    def click(user: str) -> None:
        barrier.wait()
        ws.click("approve", message, user=user)

    with ThreadPoolExecutor(max_workers=len(users)) as pool:
        list(pool.map(click, users))


def test_many_approvers_clicking_at_once_queue_exactly_one_job(slack, real_redis):
    ws = Workspace(slack, real_redis, cftoken_approvers=",".join([APPROVER_A, *CLICKERS]))
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()

    click_together(ws, message, CLICKERS)

    (job,) = ws.queue.jobs
    request = requests.load(real_redis, job.id, now=T0)
    assert request.state == "queued" and len(request.approvals) == 1
    told_late = [u for u in CLICKERS if "already approved by <@" in answers_to(slack, u)]
    assert len(told_late) == len(CLICKERS) - 1
    assert request.approved_by[0] not in told_late
    assert ws.buttons(message) == []


def test_a_double_click_counts_once(slack, real_redis):
    ws = Workspace(
        slack, real_redis, cftoken_approvers=f"{APPROVER_A},{APPROVER_B},U0DAVE004", cftoken_roll_approvals=2
    )
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()

    click_together(ws, message, [APPROVER_B, APPROVER_B])

    (pending,) = requests.open_requests(real_redis, now=T0)
    assert pending.approved_by == [APPROVER_B]
    assert "your approval counts once" in ws.told(APPROVER_B)
    assert "1 of 2 needed" in ws.read(message)
    assert ws.queue.count == 0


def test_the_request_id_job_cannot_be_enqueued_twice(real_redis):
    queue = job_queue(real_redis)

    first = enqueue_request(queue, "roll-0123456789ab")
    second = enqueue_request(queue, "roll-0123456789ab")

    assert (first, second) == (True, False)
    assert [job.id for job in queue.jobs] == ["roll-0123456789ab"]


@pytest.mark.parametrize("token", ["CF_PAGES_DEPLOY", "CF_WAF_EDIT_RAXX_APP", "CF_DNS_EDIT_GETRAXX_COM"])
def test_an_approve_and_a_cancel_at_once_queue_a_job_only_for_a_request_that_stays_queued(slack, real_redis, token):
    ws = Workspace(slack, real_redis)
    ws.type(f"roll {token}", user=APPROVER_A)
    message = ws.request_message()
    barrier = threading.Barrier(2)

    def click(action: str, user: str) -> None:
        barrier.wait()
        ws.click(action, message, user=user)

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(click, ["approve", "cancel"], [APPROVER_B, APPROVER_A]))

    request = requests.load(real_redis, message_request_id(ws, message), now=T0)
    assert (request.state, ws.queue.count) in {("queued", 1), ("cancelled", 0)}
    assert [job.id for job in ws.queue.jobs] == ([request.id] if request.state == "queued" else [])


def message_request_id(ws: Workspace, message) -> str:
    return next(e["value"] for b in message.blocks for e in b.get("elements", []) if e.get("action_id") == "approve")
