"""Every dry-run look-alike of the table, typed as a signed slash command into the Bolt app by an approver: not one
opens a request or queues a job; the flag however typed queues only the dry run."""

from __future__ import annotations

import pytest

from domain import requests
from standins.slack import SlackStandIn, seed
from tests.conftest import APPROVER_A
from tests.integration.test_slack_app import T0, Workspace
from tests.unit.test_dry_run_look_alikes import REFUSED, THE_DRY_RUN, TOKEN

pytestmark = pytest.mark.integration


@pytest.fixture
def ws(redis_conn):
    slack = seed(SlackStandIn()).start()
    yield Workspace(slack, redis_conn)
    slack.stop()


def test_no_look_alike_typed_in_the_channel_opens_a_request(ws):
    for typed in REFUSED:
        ws.type(f"roll {TOKEN} {typed}", user=APPROVER_A)

        told = ws.told(APPROVER_A)
        assert "is not `--dry-run`" in told and f"/cftoken roll {TOKEN} --dry-run" in told, typed
        assert requests.open_requests(ws.redis, now=T0) == [], typed
        assert ws.queue.count == 0 and ws.public() == [], typed


def test_the_flag_however_typed_queues_the_dry_run_and_opens_nothing(ws):
    for count, typed in enumerate(THE_DRY_RUN, start=1):
        ws.type(f"roll {TOKEN} {typed}", user=APPROVER_A)

        assert f"Dry run of roll {TOKEN} queued" in ws.told(APPROVER_A), typed
        assert requests.open_requests(ws.redis, now=T0) == [], typed
        assert [job.func_name for job in ws.queue.jobs][-1:] == ["workers.jobs.dry_run"] and ws.queue.count == count
    assert ws.public() == []


def test_the_issues_example_in_capitals_opens_nothing(ws):
    ws.type(f"ROLL {TOKEN} dry-run", user=APPROVER_A)

    assert f"`/cftoken roll {TOKEN} --dry-run`" in ws.told(APPROVER_A)
    assert requests.open_requests(ws.redis, now=T0) == [] and ws.queue.count == 0
