"""The Slack stand-in can be put into the states Slack reaches by itself: `ok: false` answers for a while (its own
incidents: internal_error, fatal_error, …; a revoked bot token), as HTTP 200 with the error code, acting on nothing."""

from __future__ import annotations

import httpx
import pytest

from standins.slack import SlackStandIn, seed
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
CHANNEL = "C0SRE0001"


@pytest.fixture
def slack():
    standin = seed(SlackStandIn()).start()
    yield standin
    standin.stop()


def post(slack: SlackStandIn, text: str) -> httpx.Response:
    return httpx.post(slack.url + "/api/chat.postMessage", json={"channel": CHANNEL, "text": text},
                      headers={"Authorization": f"Bearer {slack.bot_token}"})


def test_answer_errors_answers_ok_false_with_the_code_and_posts_nothing_until_answer_normally(slack):
    slack.answer_errors("internal_error")

    during = post(slack, "during")
    slack.answer_normally()
    after = post(slack, "after")

    assert (during.status_code, during.json()) == (200, {"ok": False, "error": "internal_error"})
    assert after.json()["ok"] is True
    assert [m.text for m in slack.messages(CHANNEL)] == ["after"]
    assert slack.errors_answered == 1


def test_answer_errors_for_a_period_lapses_by_itself(slack):
    slack.answer_errors("service_unavailable", seconds=0.3)

    assert post(slack, "during").json()["error"] == "service_unavailable"
    wait_until(lambda: post(slack, "after").json()["ok"], what="the error period to end")

    assert slack.messages(CHANNEL)[-1].text == "after"


def test_answer_errors_can_be_limited_to_some_methods_and_ratelimited_carries_retry_after(slack):
    slack.answer_errors("ratelimited", methods={"chat.postMessage"})

    refused = post(slack, "x")
    auth = httpx.post(slack.url + "/api/auth.test", headers={"Authorization": f"Bearer {slack.bot_token}"})

    assert refused.json() == {"ok": False, "error": "ratelimited"} and refused.headers["retry-after"] == "1"
    assert auth.json()["ok"] is True
