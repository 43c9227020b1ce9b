"""SlackClient against the Slack stand-in: messages land in the channel, failures become typed errors."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from domain.errors import RateLimited, ServiceUnavailable, UnexpectedResponse
from standins.slack import SlackStandIn
from workers.clients.slack import SlackClient

pytestmark = pytest.mark.integration

TOKEN = "xoxb-standin-token"
CHANNEL = "C0SRE0001"
ALICE, CAROL = "U0ALICE01", "U0CAROL03"
BLOCKS = [{"type": "section", "text": {"type": "mrkdwn", "text": "*CF_DNS_EDIT* verified"}}]


@pytest.fixture
def slack():
    standin = SlackStandIn()
    standin.add_user(ALICE, "alice", "Alice Approver")
    standin.add_user(CAROL, "carol", "Carol Engineer")
    standin.add_channel(CHANNEL, "sre", [ALICE, CAROL])
    with standin:
        yield standin


def _client(slack: SlackStandIn, *, token: str = TOKEN, channel: str = CHANNEL, timeout: float = 5.0) -> SlackClient:
    return SlackClient(base_url=slack.url + "/api/", token=SecretStr(token), channel=channel, timeout=timeout)


def test_post_returns_the_ts_of_the_recorded_message(slack: SlackStandIn):
    ts = _client(slack).post("CF_DNS_EDIT verified", BLOCKS)

    message = slack.message(CHANNEL, ts)
    assert message.text == "CF_DNS_EDIT verified" and message.blocks == BLOCKS


def test_post_in_a_thread(slack: SlackStandIn):
    client = _client(slack)
    parent = client.post("rolling CF_DNS_EDIT")

    reply = client.post("step 1 done", thread_ts=parent)

    assert [m.ts for m in slack.thread(CHANNEL, parent)] == [parent, reply]


def test_update_edits_the_message_in_place(slack: SlackStandIn):
    client = _client(slack)
    ts = client.post("pending", BLOCKS)

    client.update(ts, "approved", [{"type": "section", "text": {"type": "mrkdwn", "text": "approved"}}])

    message = slack.message(CHANNEL, ts)
    assert message.text == "approved" and slack.as_text(message) == "approved"
    assert [v.text for v in message.edits] == ["pending"]


def test_rate_limited_post_is_retried_until_it_lands(slack: SlackStandIn):
    slack.faults.fail_next("/api/chat.postMessage", 2, "429", retry_after=0)

    ts = _client(slack).post("after the rate limit")

    assert slack.count("POST", "/api/chat.postMessage") == 3
    assert slack.message(CHANNEL, ts).text == "after the rate limit"


def test_rate_limit_that_outlasts_three_retries_is_rate_limited(slack: SlackStandIn):
    slack.faults.fail_next("/api/chat.postMessage", 4, "429", retry_after=0)

    with pytest.raises(RateLimited) as caught:
        _client(slack).post("never lands")

    assert slack.count("POST", "/api/chat.postMessage") == 4
    assert caught.value.retry_after == 0 and caught.value.service == "slack"
    assert slack.messages(CHANNEL) == []


def test_server_error_is_service_unavailable_and_not_reposted(slack: SlackStandIn):
    slack.faults.fail_next("/api/chat.postMessage", 1, "503")

    with pytest.raises(ServiceUnavailable, match="503"):
        _client(slack).post("x")

    assert slack.count("POST", "/api/chat.postMessage") == 1


def test_one_dropped_connection_is_retried(slack: SlackStandIn):
    slack.faults.fail_next("/api/chat.update", 1, "drop")
    client = _client(slack)
    ts = client.post("pending")

    client.update(ts, "done")

    assert slack.count("POST", "/api/chat.update") == 2
    assert slack.message(CHANNEL, ts).text == "done"


def test_connections_that_keep_dropping_are_service_unavailable(slack: SlackStandIn):
    slack.faults.fail_next("/api/chat.postMessage", 5, "drop")

    with pytest.raises(ServiceUnavailable):
        _client(slack).post("x")


def test_timeout_is_service_unavailable(slack: SlackStandIn):
    slack.faults.latency = 0.5

    with pytest.raises(ServiceUnavailable):
        _client(slack, timeout=0.1).post("x")


def test_refused_connection_is_service_unavailable(slack: SlackStandIn):
    client = _client(slack)
    slack.stop()

    with pytest.raises(ServiceUnavailable):
        client.post("x")


def test_slack_error_codes_become_unexpected_response(slack: SlackStandIn):
    with pytest.raises(UnexpectedResponse, match="channel_not_found"):
        _client(slack, channel="C0NOWHERE").post("x")
    with pytest.raises(UnexpectedResponse, match="message_not_found"):
        _client(slack).update("1.000001", "x")


def test_token_never_shows_in_repr_errors_or_logs(slack: SlackStandIn, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    secret = "xoxb-123-do-not-print"
    client = _client(slack, token=secret)

    with pytest.raises(UnexpectedResponse) as caught:
        client.post("x")

    assert "invalid_auth" in str(caught.value)
    assert secret not in repr(client) and secret not in str(client)
    assert secret not in str(caught.value)
    assert caplog.records and secret not in caplog.text
