"""Slack's `ok: false` answers, read as Slack documents them (issue 23, finding 2): a transient one delays a
message and it arrives once; a refused bot token holds everything, loudly, until it works again; only a refusal
of the message itself drops it (an approval message's request is withdrawn and its requester told once Slack
takes the notice); and the web's first auth.test failing for Slack's own reasons turns nobody away."""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr

from bot.slack_auth import WORKSPACE_KEY
from domain import requests
from domain.errors import RateLimited, ServiceUnavailable, SlackRefused, SlackTokenRefused
from domain.metrics import slack_token_refused
from standins.slack import SlackStandIn, seed
from tests.conftest import APPROVER_A, ENGINEER, TEST_CHANNEL
from tests.integration.test_slack_app import T0, Workspace
from workers.clients.slack import SlackClient
from workers.delivery import Delivery
from workers.slack_token_gate import TokenGate

pytestmark = pytest.mark.integration
TRANSIENT = ["internal_error", "fatal_error", "service_unavailable", "request_timeout"]
AUTH = ["invalid_auth", "token_revoked", "account_inactive", "not_authed"]


@pytest.fixture
def slack():
    standin = seed(SlackStandIn()).start()
    yield standin
    standin.stop()


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def poster(slack):
    client = SlackClient(base_url=slack.url + "/api/", token=SecretStr(slack.bot_token), channel=TEST_CHANNEL)
    yield client
    client.close()


@pytest.fixture
def ws(slack, redis_conn):
    workspace = Workspace(slack, redis_conn)
    workspace.auto_deliver = False
    return workspace


def deliverer(ws, poster, monotonic=None) -> Delivery:
    gate = TokenGate(ws.redis, poster, now=monotonic) if monotonic else None
    return Delivery(ws.redis, poster, ws.inventory, clock=ws.clock.now, gate=gate)


def the_request(ws):
    (key,) = ws.redis.keys("cftoken:request:*")
    return requests.load(ws.redis, key.decode().rsplit(":", 1)[1], now=T0)


def approval_messages(ws) -> list:
    return [m for m in ws.slack.messages(TEST_CHANNEL, include_threads=False)
            if not m.ephemeral_for and "Roll CF_PAGES_DEPLOY" in ws.read(m)]


@pytest.mark.parametrize(("code", "error"), [
    *[(code, ServiceUnavailable) for code in TRANSIENT], ("ratelimited", RateLimited),
    *[(code, SlackTokenRefused) for code in AUTH],
    ("msg_too_long", SlackRefused), ("channel_not_found", SlackRefused), ("not_in_channel", SlackRefused),
])
def test_each_ok_false_answer_becomes_the_error_slack_documents_it_as(slack, poster, code, error):
    slack.answer_errors(code)

    with pytest.raises(error) as caught:
        poster.post("hello")

    assert code in str(caught.value)
    assert type(caught.value) is error
    if code == "ratelimited":
        assert caught.value.retry_after == 1.0


@pytest.mark.parametrize("code", [*TRANSIENT, "ratelimited"])
def test_a_transient_answer_delays_the_approval_message_and_it_arrives_once_without_withdrawing(ws, poster, code):
    outbox = deliverer(ws, poster)
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    ws.slack.answer_errors(code)

    outbox.deliver_due()
    assert ws.slack.errors_answered >= 1
    assert approval_messages(ws) == [] and the_request(ws).state == "pending"
    ws.slack.answer_normally()
    assert outbox.drain(timeout=30)

    assert len(approval_messages(ws)) == 1
    assert the_request(ws).state == "pending"
    assert not any("refused the approval message" in ws.read(m) for m in ws.slack.messages(TEST_CHANNEL,
                                                                                          visible_to=APPROVER_A))


def test_a_refused_bot_token_holds_every_message_loudly_until_slack_accepts_it_again(ws, poster, caplog):
    caplog.set_level(logging.INFO)
    monotonic = FakeMonotonic()
    outbox = deliverer(ws, poster, monotonic)
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    ws.slack.answer_errors("token_revoked")  # revoked after the web took the request

    for _ in range(5):
        outbox.deliver_due()
    calls = ws.slack.errors_answered
    for _ in range(5):
        outbox.deliver_due()  # no check is due yet: nothing is asked of Slack

    loud = [r for r in caplog.records if "SLACK REFUSES THE BOT TOKEN (token_revoked)" in r.getMessage()]
    assert len(loud) == 1 and loud[0].levelno == logging.ERROR
    assert ws.slack.errors_answered == calls
    assert slack_token_refused(ws.redis)
    assert approval_messages(ws) == [] and the_request(ws).state == "pending"

    monotonic.now += 5
    outbox.deliver_due()  # auth.test still refused: the next check waits longer
    assert approval_messages(ws) == [] and slack_token_refused(ws.redis)
    ws.slack.answer_normally()
    monotonic.now += 10
    assert outbox.drain(timeout=30)

    assert len(approval_messages(ws)) == 1 and the_request(ws).state == "pending"
    assert not slack_token_refused(ws.redis)
    assert any("accepts the bot token again" in r.getMessage() for r in caplog.records)
    assert len([r for r in caplog.records if "SLACK REFUSES" in r.getMessage()]) == 1


def test_a_refused_approval_message_withdraws_the_request_and_the_requester_is_told_once_slack_answers(ws, poster):
    outbox = deliverer(ws, poster)
    ws.slack.channels[TEST_CHANNEL]["bot_member"] = False  # Slack answers chat.postMessage with not_in_channel
    ws.slack.answer_errors("service_unavailable", methods={"chat.postEphemeral"})
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)

    outbox.deliver_due()
    assert the_request(ws).state == "cancelled"
    assert ws.slack.errors_answered >= 1
    ws.slack.channels[TEST_CHANNEL]["bot_member"] = True
    ws.slack.answer_normally()
    outbox.deliver_due()
    outbox.deliver_due()

    told = [ws.read(m) for m in ws.slack.messages(TEST_CHANNEL, visible_to=APPROVER_A) if m.ephemeral_for]
    withdrawn = [text for text in told if "refused the approval message for your roll of CF_PAGES_DEPLOY" in text]
    assert len(withdrawn) == 1 and "`not_in_channel`" in withdrawn[0]
    assert approval_messages(ws) == []


def test_a_web_started_during_a_slack_blip_answers_commands_as_the_workspace_it_last_confirmed(ws):
    ws.type("verify CF_PAGES_READ", user=ENGINEER)  # an earlier web process: auth.test answered
    restarted = Workspace(ws.slack, ws.redis)  # a new web process, started during the blip
    restarted.auto_deliver = False
    ws.slack.answer_errors("internal_error")

    restarted.type("verify CF_WAF_EDIT_RAXX_APP", user=ENGINEER)
    during = restarted.told(ENGINEER)
    restarted.type("verify CF_PAGES_READ", user=ENGINEER, team_id="T0ELSEWHERE")
    elsewhere = restarted.told(ENGINEER)
    ws.slack.answer_normally()
    restarted.type("verify CF_DNS_EDIT_GETRAXX_COM", user=ENGINEER)
    after = restarted.told(ENGINEER)

    assert "Verifying *CF_WAF_EDIT_RAXX_APP*" in during and "no longer available" not in during
    assert "another Slack workspace" in elsewhere  # the remembered workspace, not the request's own claim
    assert "Verifying *CF_DNS_EDIT_GETRAXX_COM*" in after
    assert [job.kwargs["name"] for job in ws.queue.jobs] == ["CF_PAGES_READ", "CF_WAF_EDIT_RAXX_APP",
                                                             "CF_DNS_EDIT_GETRAXX_COM"]


def test_a_web_that_never_confirmed_its_workspace_says_slack_could_not_and_does_nothing(ws):
    ws.slack.answer_errors("service_unavailable")

    ws.type("verify CF_PAGES_READ", user=ENGINEER)
    during = ws.told(ENGINEER)
    ws.slack.answer_normally()
    ws.type("verify CF_PAGES_READ", user=ENGINEER)

    assert "Slack could not confirm which workspace" in during and "nothing was done" in during
    assert "no longer available" not in during
    assert "Verifying *CF_PAGES_READ*" in ws.told(ENGINEER)
    assert len(ws.queue.jobs) == 1


def test_a_remembered_workspace_written_by_hand_is_ignored(ws):
    ws.redis.hset(WORKSPACE_KEY, mapping={"payload": '{"team_id": "T0ELSEWHERE"}', "tag": "0" * 64})
    ws.slack.answer_errors("internal_error")

    ws.type("verify CF_PAGES_READ", user=ENGINEER, team_id="T0ELSEWHERE")

    assert "Slack could not confirm which workspace" in ws.told(ENGINEER)
    assert ws.queue.jobs == []


def test_a_web_whose_token_slack_refuses_still_says_so(ws):
    ws.slack.answer_errors("invalid_auth")

    ws.type("verify CF_PAGES_READ", user=ENGINEER)

    assert "no longer available" in ws.told(ENGINEER)


def test_the_metrics_say_while_slack_refuses_the_bot_token():
    from bot.metrics import render_metrics
    from domain.inventory import load_inventory
    from domain.settings import DEFAULT_INVENTORY

    inventory = load_inventory(DEFAULT_INVENTORY)
    refused = render_metrics(inventory, {}, {}, T0, slack_token_refused=True).decode()
    working = render_metrics(inventory, {}, {}, T0).decode()

    assert "\ncftoken_slack_token_refused 1.0\n" in refused
    assert "\ncftoken_slack_token_refused 0.0\n" in working
