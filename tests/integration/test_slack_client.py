"""SlackClient against the Slack stand-in: messages land in the channel, failures become typed errors."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from domain.errors import RateLimited, ServiceUnavailable, SlackTokenRefused, UnexpectedResponse
from standins.slack import SlackStandIn
from workers.clients.http import RetryPolicy
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


_opened: list[SlackClient] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _opened:
        _opened.pop().close()


def _client(
    slack: SlackStandIn,
    *,
    token: str = TOKEN,
    channel: str = CHANNEL,
    timeout: float = 5.0,
    retry: RetryPolicy = RetryPolicy(attempts=1),  # noqa: B008 - frozen
) -> SlackClient:
    client = SlackClient(
        base_url=slack.url + "/api/", token=SecretStr(token), channel=channel, timeout=timeout, retry=retry
    )
    _opened.append(client)
    return client


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


def test_post_ephemeral_is_seen_only_by_the_user(slack: SlackStandIn):
    _client(slack).post_ephemeral(CAROL, "you may not approve your own request")

    assert [m.text for m in slack.messages(CHANNEL, visible_to=CAROL)] == ["you may not approve your own request"]
    assert slack.messages(CHANNEL, visible_to=ALICE) == []


def test_a_broadcast_reply_shows_in_the_thread_and_the_channel(slack: SlackStandIn):
    client = _client(slack)
    parent = client.post("rolling CF_DNS_EDIT")

    client.post("paused: the vault answered 503", thread_ts=parent, broadcast=True)
    client.post("a quiet note", thread_ts=parent)

    assert [m.text for m in slack.messages(CHANNEL, include_threads=False)] == [
        "rolling CF_DNS_EDIT", "paused: the vault answered 503",
    ]
    assert len(slack.thread(CHANNEL, parent)) == 3


def test_a_post_is_found_again_by_its_key_in_the_channel_or_its_thread(slack: SlackStandIn):
    client = _client(slack)
    parent = client.post("the approval message", key="roll-1:message")
    reply = client.post("the result", thread_ts=parent, key="roll-1:result")

    assert client.find("roll-1:message") == parent
    assert client.find("roll-1:result", thread_ts=parent) == reply
    assert client.find("roll-2:message") is None and client.find("roll-1:paused", thread_ts=parent) is None


def test_every_call_shares_one_keep_alive_connection(slack: SlackStandIn):
    client = _client(slack)

    ts = client.post("pending")
    for n in range(5):
        client.update(ts, f"step {n}")

    assert slack.connections == 1


def test_a_rate_limit_is_raised_at_once_with_slacks_retry_after(slack: SlackStandIn):
    slack.faults.fail_next("/api/chat.update", 1, "429", retry_after=7)
    client = _client(slack)
    ts = client.post("pending")

    with pytest.raises(RateLimited) as caught:
        client.update(ts, "done")

    assert caught.value.retry_after == 7 and caught.value.service == "slack"
    assert slack.count("POST", "/api/chat.update") == 1


def test_server_error_is_service_unavailable_and_not_reposted(slack: SlackStandIn):
    slack.faults.fail_next("/api/chat.postMessage", 1, "503")

    with pytest.raises(ServiceUnavailable, match="503"):
        _client(slack).post("x")

    assert slack.count("POST", "/api/chat.postMessage") == 1


def test_one_dropped_connection_is_retried_by_a_client_with_a_retry_policy(slack: SlackStandIn):
    slack.faults.fail_next("/api/chat.update", 1, "drop")
    client = _client(slack, retry=RetryPolicy.instant(2))
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
    with pytest.raises(UnexpectedResponse, match="user_not_in_channel"):
        _client(slack).post_ephemeral("U0DAVE004", "x")


def test_token_never_shows_in_repr_errors_or_logs(slack: SlackStandIn, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    secret = "xoxb-123-do-not-print"
    client = _client(slack, token=secret)

    with pytest.raises(SlackTokenRefused) as caught:
        client.post("x")

    assert "invalid_auth" in str(caught.value)
    assert secret not in repr(client) and secret not in str(client)
    assert secret not in str(caught.value)
    assert caplog.records and secret not in caplog.text
