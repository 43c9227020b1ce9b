"""/cftoken as people in the SRE channel use it: signed requests into the Bolt app, the channel read back."""

from __future__ import annotations

import json
import logging
from concurrent.futures import Executor, Future
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
from pydantic import SecretStr
from rq import Queue
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient

from bot.app import build_bolt_app
from domain import audit, requests
from domain.health import Problem
from domain.inventory import Inventory, load_inventory
from domain.messages import slack_date
from domain.queueing import job_queue
from domain.settings import DEFAULT_INVENTORY
from domain.status import TokenStatus, record_status
from standins.base import WAIT_CEILING
from standins.slack import Message, SlackStandIn, seed
from standins.slack_requests import block_action, command_answer, slash_command, view_submission
from tests.conftest import APPROVER_A, APPROVER_B, ENGINEER, TEST_CHANNEL, make_settings
from workers.clients.slack import SlackClient
from workers.delivery import Delivery
from workers.scan.expiry import Findings
from workers.scan.expiry_messages import render_digest
from workers.scan.health_watch import Alert

pytestmark = pytest.mark.integration

SECRET = "test-signing-secret"
DAVE = "U0DAVE004"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class InlineExecutor(Executor):
    """Runs each listener to completion inside dispatch(), after its ack, so a test reads a settled channel."""

    def submit(self, fn, /, *args, **kwargs):
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class FrozenClock:
    def __init__(self) -> None:
        self.current = T0

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> None:
        self.current += delta


class Workspace:
    """Type commands and click buttons as a person, then read what the channel shows."""

    def __init__(self, slack: SlackStandIn, conn: redis.Redis, *, queue: Queue | None = None,
                 inventory: Inventory | None = None, **settings) -> None:
        self.slack, self.redis, self.clock = slack, conn, FrozenClock()
        self.queue = queue or job_queue(conn)
        client = WebClient(base_url=slack.url + "/api/", token="xoxb-standin-token")
        configured, inventory = make_settings(**settings), inventory or load_inventory(DEFAULT_INVENTORY)
        self.app = build_bolt_app(
            configured, conn, self.queue, inventory, client, clock=self.clock.now, listener_executor=InlineExecutor(),
        )
        self.inventory, self.approvers = inventory, configured.approvers
        self.auto_deliver = True

    def deliver(self) -> None:
        """What the worker's outbox thread does after each request: the channel catches up."""
        poster = SlackClient(
            base_url=self.slack.url + "/api/", token=SecretStr("xoxb-standin-token"), channel=TEST_CHANNEL
        )
        try:
            outbox = Delivery(self.redis, poster, self.inventory, clock=self.clock.now)
            assert outbox.drain(timeout=WAIT_CEILING), "the outbox did not empty"
        finally:
            poster.close()

    def type(self, text: str, *, user: str = APPROVER_A, channel: str = TEST_CHANNEL, secret: str = SECRET, **extra):
        """Send the command as Slack does, and show its ack's answer to `user`, as Slack does."""
        url = self.slack.new_response_url(user, channel)
        body, headers = slash_command(
            signing_secret=secret, text=text, user_id=user, channel_id=channel, response_url=url, **extra
        )
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        answer = command_answer(response.body) if response.status == 200 else None
        if answer is not None:
            httpx.post(self.slack.new_response_url(user, channel), json=answer).raise_for_status()
        if self.auto_deliver:
            self.deliver()
        return response

    def click(
        self, action_id: str, message: Message, *, user: str, value: str | None = None, secret: str = SECRET, **extra
    ):
        if value is None:
            value = next(
                e["value"] for b in message.blocks for e in b.get("elements", []) if e.get("action_id") == action_id
            )
        body, headers = block_action(
            signing_secret=secret, action_id=action_id, value=value, user_id=user, channel_id=message.channel,
            message_ts=message.ts, message=message.to_api(),
            response_url=self.slack.new_response_url(user, message.channel, message.ts),
            **{"trigger_id": self.slack.new_trigger_id(user), **extra},
        )
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        if self.auto_deliver:
            self.deliver()
        return response

    def submit(self, user: str, reason: str, *, secret: str = SECRET):
        """Type `reason` into the modal the bot opened for `user` and press its submit button."""
        (opened,) = self.slack.open_views(user)
        body, headers = view_submission(
            signing_secret=secret, view=opened.view, user_id=user, values={"reason": {"reason": reason}}
        )
        response = self.app.dispatch(BoltRequest(body=body, headers=headers))
        if not response.body:
            self.slack.close_view(opened.view["id"])
        if self.auto_deliver:
            self.deliver()
        return response

    def deny(self, message: Message, *, user: str, reason: str = ""):
        self.click("deny", message, user=user)
        return self.submit(user, reason)

    def public(self) -> list[Message]:
        """What the channel shows (threads folded away)."""
        return self.slack.messages(TEST_CHANNEL, include_threads=False)

    def thread(self, message: Message) -> list[str]:
        """The replies under `message`, as read."""
        return [self.slack.as_text(m) for m in self.slack.thread(message.channel, message.ts)[1:]]

    def request_message(self) -> Message:
        """The latest approval message, as it reads now."""
        (last,) = self.public()[-1:]
        return last

    def read(self, message: Message) -> str:
        return self.slack.as_text(self.slack.message(message.channel, message.ts))

    def told(self, user: str, channel: str = TEST_CHANNEL) -> str:
        """The last answer only `user` could see."""
        private = [m for m in self.slack.messages(channel, visible_to=user) if m.ephemeral_for == user]
        assert private, f"{user} was told nothing"
        return self.slack.as_text(private[-1])

    def buttons(self, message: Message) -> list[str]:
        current = self.slack.message(message.channel, message.ts)
        return [e["action_id"] for b in current.blocks if b["type"] == "actions" for e in b["elements"]]


@pytest.fixture
def slack():
    standin = seed(SlackStandIn()).start()
    standin.add_user(DAVE, "dave", "Dave Approver")
    standin.add_channel("C0RANDOM1", "random", [APPROVER_A, APPROVER_B, ENGINEER, DAVE])
    standin.channels[TEST_CHANNEL]["members"].append(DAVE)
    yield standin
    standin.stop()


@pytest.fixture
def ws(slack, redis_conn):
    return Workspace(slack, redis_conn)


# -- commands that need no approval


def test_help_lists_the_commands_tokens_and_approvers_to_the_asker_only(ws):
    response = ws.type("help", user=ENGINEER)

    answer = ws.told(ENGINEER)
    assert response.status == 200
    assert "`/cftoken roll NAME [reason]`" in answer and "`/cftoken revoke NAME reason`" in answer
    assert "CF_WAF_EDIT_RAXX_APP" in answer and "CF_PAGES_READ" in answer
    assert f"<@{APPROVER_A}>" in answer and f"<@{APPROVER_B}>" in answer
    assert "`/cftoken history NAME [page]`" in answer and "approve a roll, revoke or provision" in answer
    assert ws.public() == []


def test_list_shows_every_token_with_its_last_known_state_and_age(ws):
    record_status(
        ws.redis, "CF_WAF_EDIT_RAXX_APP",
        TokenStatus(checked_at=T0 - timedelta(hours=2), source="verify", state="healthy",
                    expires_on=T0 + timedelta(days=42), summary="value matches Cloudflare"),
    )

    ws.type("list", user=ENGINEER)

    answer = ws.told(ENGINEER)
    waf_line = next(line for line in answer.splitlines() if "CF_WAF_EDIT_RAXX_APP" in line)
    assert "Zone:WAF:Edit, Zone:Zone:Read · raxx.app · roll every 90 days" in waf_line
    assert "healthy · expires <!date^1775995200^{date_short_pretty} {time}|2026-04-12 12:00 UTC> (in 42 days) · " \
        "checked by verify 2 h ago · value matches Cloudflare" in answer
    assert "CF_PAGES_DEPLOY* — CF Pages write · not zone-scoped" in answer
    assert "CF_ACCESS_MGMT* — CF Access management, User:API Tokens:Edit, Account:Account API Tokens:Edit, Zone:Zone:Read · all zones" in answer
    assert answer.count("not checked yet") == 4


def test_verify_is_queued_at_once_and_the_asker_is_told_where_the_report_goes(ws):
    ws.type("verify cf_dns_edit_getraxx_com", user=ENGINEER)

    (job,) = ws.queue.jobs
    assert job.func_name == "workers.jobs.verify_token"
    assert job.kwargs == {"name": "CF_DNS_EDIT_GETRAXX_COM", "requested_by": ENGINEER}
    assert "Verifying *CF_DNS_EDIT_GETRAXX_COM*" in ws.told(ENGINEER)
    assert "report will appear in this channel" in ws.told(ENGINEER)


def test_history_shows_the_last_20_events_with_who_and_when(ws):
    for minute in range(12):  # 12 × (requested, cancelled) = 24 events
        ws.clock.current = T0 + timedelta(minutes=minute)
        ws.type("roll CF_PAGES_DEPLOY")
        ws.click("cancel", ws.request_message(), user=APPROVER_A)

    ws.type("history CF_PAGES_DEPLOY", user=ENGINEER)

    told = ws.told(ENGINEER)
    lines = [line for line in told.splitlines() if " UTC> · " in line]
    assert len(lines) == 20
    assert lines[0].startswith(f"{slack_date(T0 + timedelta(minutes=11))} · *cancelled roll* by <@U0ALICE01>")
    assert lines[1].startswith(f"{slack_date(T0 + timedelta(minutes=11))} · *requested roll* by <@U0ALICE01>")
    assert "Older events: `/cftoken history CF_PAGES_DEPLOY 2`" in told

    ws.type("history CF_PAGES_DEPLOY 2", user=ENGINEER)

    older = [line for line in ws.told(ENGINEER).splitlines() if " UTC> · " in line]
    assert len(older) == 4 and "Older events" not in ws.told(ENGINEER)
    assert older[-1].startswith(f"{slack_date(T0)} · *requested roll* by <@U0ALICE01>")


@pytest.mark.parametrize(
    ("text", "told"),
    [
        ("frobnicate CF_WAF_EDIT_RAXX_APP", "`frobnicate` is not a /cftoken command"),
        ("verify", "`/cftoken verify` needs a token name"),
        ("roll", "`/cftoken roll` needs a token name"),
        ("verify CF_WAF_EDIT_RAXX_APX", "did you mean CF_WAF_EDIT_RAXX_APP?"),
        ("roll CF_WAF_EDIT_RAXX", "did you mean CF_WAF_EDIT_RAXX_APP?"),
        ("revoke CF_WAF_EDIT_RAXX_APP", "A revoke needs a reason"),
        ("verify CF_WAF_EDIT_RAXX_APP please", "takes only a token name"),
        ("list all", "`/cftoken list` takes nothing after it"),
    ],
)
def test_bad_input_gets_a_private_answer_and_queues_nothing(ws, text, told):
    ws.type(text, user=APPROVER_A)

    assert told in ws.told(APPROVER_A)
    assert ws.public() == []
    assert ws.queue.count == 0
    assert requests.open_requests(ws.redis, now=T0) == []


def test_a_dry_run_typed_with_slacks_em_dash_opens_no_request(ws):
    ws.type("roll CF_WAF_EDIT_RAXX_APP \u2014dry-run", user=APPROVER_A)

    assert "Dry run of roll CF_WAF_EDIT_RAXX_APP queued" in ws.told(APPROVER_A)
    assert requests.open_requests(ws.redis, now=T0) == []
    assert ws.public() == []
    assert ws.queue.count == 1


def test_a_forged_dry_run_button_with_a_reason_over_the_limit_or_a_huge_name_opens_nothing_and_says_why(ws, slack):
    sent = WebClient(base_url=slack.url + "/api/", token="xoxb-standin-token").chat_postMessage(
        channel=TEST_CHANNEL, text="Dry run: roll CF_WAF_EDIT_RAXX_APP")
    posted = slack.message(TEST_CHANNEL, sent["ts"])
    long_reason = json.dumps({"action": "roll", "token": "CF_WAF_EDIT_RAXX_APP", "reason": "<" * 300})
    ws.click("request_real", posted, user=APPROVER_A, value=long_reason)

    assert "A reason can be at most 1,000 characters, and yours is 1,200" in ws.told(APPROVER_A)
    ws.click("request_real", posted, user=APPROVER_A, value=json.dumps({"action": "roll", "token": "<" * 1500}))

    assert len(ws.told(APPROVER_A)) < 400 and "is no longer in the inventory" in ws.told(APPROVER_A)
    assert requests.open_requests(ws.redis, now=T0) == [] and ws.queue.count == 0


def test_commands_from_another_channel_are_politely_refused(ws):
    ws.type("verify CF_WAF_EDIT_RAXX_APP", channel="C0RANDOM1")

    assert f"only in <#{TEST_CHANNEL}>" in ws.told(APPROVER_A, channel="C0RANDOM1")
    assert ws.queue.count == 0


# -- opening requests


def test_roll_posts_an_approval_message_that_says_what_will_happen(ws):
    ws.type("roll CF_WAF_EDIT_RAXX_APP quarterly rotation", user=APPROVER_A)

    text = ws.read(ws.request_message())
    assert "*Roll CF_WAF_EDIT_RAXX_APP* — waiting for approval" in text
    assert f"*Asked by*\n<@{APPROVER_A}>" in text
    assert "*Reason*\nquarterly rotation" in text
    assert "*Scope*\nZone:WAF:Edit, Zone:Zone:Read" in text and "*Zones*\nraxx.app" in text
    assert "sre-agent (CI/scripted)" in text
    assert "the current value stops working immediately; consumers reading from the vault pick up the new one" in text
    assert f"0 of 1 needed · expires {slack_date(T0 + timedelta(minutes=30))} unless approved" in text
    assert "[Approve] [Deny] [Cancel]" in text
    assert ws.queue.count == 0


def test_revoke_message_warns_of_deletion_and_its_approve_asks_for_confirmation(ws):
    ws.type("revoke CF_PAGES_READ seen in a public gist", user=APPROVER_B)

    message = ws.request_message()
    approve = next(
        e for b in message.blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == "approve"
    )
    assert "the token is deleted at Cloudflare; an incident is opened" in ws.read(message)
    assert approve["confirm"]["confirm"]["text"] == "Revoke it"


def test_a_reason_cannot_ping_the_channel(ws):
    ws.type("roll CF_PAGES_DEPLOY <!channel> & <@U0BOB0002> please", user=APPROVER_A)

    text = ws.read(ws.request_message())
    assert "&lt;!channel&gt; &amp; &lt;@U0BOB0002&gt; please" in text
    assert "<!channel>" not in text


def test_a_second_roll_points_to_the_pending_one(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    first = ws.request_message()

    ws.type("roll CF_PAGES_DEPLOY again", user=APPROVER_B)

    answer = ws.told(APPROVER_B)
    assert "A roll of *CF_PAGES_DEPLOY* is already open (waiting for approval" in answer
    assert f"https://slack.com/archives/{TEST_CHANNEL}/p{first.ts.replace('.', '')}" in answer
    assert len(ws.public()) == 1


def test_a_slack_outage_delays_the_approval_message_but_it_arrives_once(ws):
    ws.slack.faults.fail_next("/api/chat.postMessage", 1, "503")

    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)

    assert "appears in this channel in a moment" in ws.told(APPROVER_A)
    assert len(ws.slack.messages(TEST_CHANNEL, include_threads=False)) == 1
    assert "Roll CF_PAGES_DEPLOY" in ws.read(ws.slack.messages(TEST_CHANNEL, include_threads=False)[0])


def test_a_request_whose_message_slack_refused_is_withdrawn_so_the_token_is_not_blocked(ws):
    ws.slack.channels[TEST_CHANNEL]["bot_member"] = False  # Slack answers not_in_channel

    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)

    assert requests.load(ws.redis, _only_request_id(ws), now=T0).state == "cancelled"
    ws.slack.channels[TEST_CHANNEL]["bot_member"] = True
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    assert len(ws.slack.messages(TEST_CHANNEL, include_threads=False)) == 1
    assert "Roll CF_PAGES_DEPLOY" in ws.read(ws.slack.messages(TEST_CHANNEL, include_threads=False)[0])


def _only_request_id(ws) -> str:
    (key,) = ws.redis.keys("cftoken:request:*")
    return key.decode().rsplit(":", 1)[1]


def test_someone_who_is_not_an_approver_cannot_ask_for_a_roll(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=ENGINEER)

    assert "only approvers can ask for a roll" in ws.told(ENGINEER)
    assert ws.public() == []


@pytest.mark.parametrize("text", ["roll CF_ACCESS_MGMT", "revoke cf_access_mgmt compromised"])
def test_the_management_token_is_refused_with_the_operator_path(ws, text):
    ws.type(text, user=APPROVER_A)

    answer = ws.told(APPROVER_A)
    assert "failure mode D" in answer and "Cloudflare dashboard" in answer and "No request was opened" in answer
    assert ws.public() == []


def test_approvers_may_be_a_user_group_read_fresh_for_every_decision(slack, redis_conn):
    ws = Workspace(slack, redis_conn, cftoken_approvers="S0SREAPPR")

    ws.type("roll CF_PAGES_DEPLOY", user=ENGINEER)
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_B)

    assert "only approvers can ask for a roll" in ws.told(ENGINEER)
    assert "waiting for approval" in ws.read(ws.request_message())
    assert slack.count(prefix="/api/usergroups.users.list") == 2


def test_a_member_removed_from_the_group_cannot_approve_and_one_just_added_can(slack, redis_conn):
    ws = Workspace(slack, redis_conn, cftoken_approvers="S0SREAPPR")
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    ws.type("help", user=ENGINEER)  # the display cache now holds Bob as an approver
    message = ws.request_message()

    slack.add_usergroup("S0SREAPPR", [APPROVER_A, DAVE])
    ws.click("approve", message, user=APPROVER_B)
    refused = ws.told(APPROVER_B)
    ws.click("approve", message, user=DAVE)

    assert "only approvers can approve" in refused
    assert len(ws.queue.jobs) == 1
    assert f"Approved by <@{DAVE}>" in ws.read(message)


def test_when_slack_cannot_say_who_is_in_the_group_nothing_is_opened_or_approved(slack, redis_conn):
    ws = Workspace(slack, redis_conn, cftoken_approvers="S0SREAPPR")
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()
    slack.faults.fail_next("/api/usergroups.users.list", 2, "503")

    ws.type("roll CF_WAF_EDIT_RAXX_APP", user=APPROVER_B)
    opened = ws.told(APPROVER_B)
    ws.click("approve", message, user=APPROVER_B)

    assert "Could not check the approver group" in opened and "no request was" in opened
    assert "Could not check the approver group" in ws.told(APPROVER_B)
    assert [r.token for r in requests.open_requests(ws.redis, now=T0)] == ["CF_PAGES_DEPLOY"]
    assert ws.queue.count == 0 and "waiting for approval" in ws.read(message)


# -- where a command or click comes from


@pytest.mark.parametrize(
    ("origin", "told"),
    [({"team_id": "T0ELSEWHERE"}, "another Slack workspace"), ({"enterprise_id": "E0OTHERORG"}, "another Slack organisation"),
     ({"api_app_id": "A0OTHERAPP"}, "another Slack app")],
)
def test_commands_from_another_team_organisation_or_app_are_refused(slack, redis_conn, origin, told):
    ws = Workspace(slack, redis_conn, slack_app_id="A0CFTOKEN")

    ws.type("verify CF_PAGES_DEPLOY", user=ENGINEER, **origin)
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A, **origin)

    assert told in ws.told(ENGINEER) and told in ws.told(APPROVER_A)
    assert ws.queue.count == 0 and ws.public() == []


@pytest.mark.parametrize(
    ("origin", "told"),
    [({"team_id": "T0ELSEWHERE"}, "another Slack workspace"), ({"api_app_id": "A0OTHERAPP"}, "another Slack app"),
     ({"enterprise_id": "E0OTHERORG"}, "another Slack organisation")],
)
def test_clicks_from_another_team_organisation_or_app_are_refused(slack, redis_conn, origin, told):
    ws = Workspace(slack, redis_conn, slack_app_id="A0CFTOKEN")
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()

    ws.click("approve", message, user=APPROVER_B, **origin)

    assert told in ws.told(APPROVER_B)
    assert ws.queue.count == 0 and ws.buttons(message) == ["approve", "deny", "cancel"]


def test_a_click_from_another_channel_is_refused(ws, slack):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()
    elsewhere = WebClient(base_url=slack.url + "/api/", token="xoxb-standin-token").chat_postMessage(
        channel="C0RANDOM1", text=message.text, blocks=message.blocks,
    )

    ws.click("approve", slack.message("C0RANDOM1", elsewhere["ts"]), user=APPROVER_B)

    assert f"only in <#{TEST_CHANNEL}>" in ws.told(APPROVER_B, channel="C0RANDOM1")
    assert ws.queue.count == 0


def test_a_click_on_one_request_message_carrying_another_requests_id_is_refused(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    first = ws.request_message()
    ws.type("roll CF_WAF_EDIT_RAXX_APP", user=APPROVER_A)
    second = ws.request_message()
    second_id = next(e["value"] for b in second.blocks for e in b.get("elements", []) if e.get("action_id") == "approve")

    ws.click("approve", first, user=APPROVER_B, value=second_id)
    ws.click("cancel", first, user=APPROVER_A, value=second_id)

    assert "not on this request's own approval message" in ws.told(APPROVER_B)
    assert "not on this request's own approval message" in ws.told(APPROVER_A)
    assert ws.queue.count == 0
    assert ws.buttons(first) == ws.buttons(second) == ["approve", "deny", "cancel"]


# -- replays


def test_a_replayed_command_is_answered_but_not_queued_again(ws, slack):
    body, headers = slash_command(signing_secret=SECRET, text="verify CF_PAGES_DEPLOY", user_id=ENGINEER,
                                  channel_id=TEST_CHANNEL, response_url=slack.new_response_url(ENGINEER, TEST_CHANNEL))

    answers = [ws.app.dispatch(BoltRequest(body=body, headers=headers)) for _ in range(3)]

    assert [a.status for a in answers] == [200, 200, 200]
    assert "already reached the bot" in answers[1].body and "already reached the bot" in answers[2].body
    assert ws.queue.count == 1


def test_a_command_resent_with_the_same_trigger_id_opens_nothing_twice(ws, slack):
    for _ in range(2):
        ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A, trigger_id="1234.5678.abcdef")

    assert "already reached the bot" in ws.told(APPROVER_A)
    assert len(ws.public()) == 1 and len(requests.open_requests(ws.redis, now=T0)) == 1


def test_read_only_commands_replayed_are_answered_as_usual(ws, slack):
    for _ in range(2):
        ws.type("help", user=ENGINEER, trigger_id="1234.5678.help")

    assert "`/cftoken verify NAME`" in ws.told(ENGINEER)


# -- deciding requests


def test_happy_path_another_approver_approves_and_exactly_one_job_is_queued(ws):
    ws.type("roll CF_WAF_EDIT_RAXX_APP quarterly", user=APPROVER_A)
    message = ws.request_message()
    ws.clock.advance(timedelta(minutes=3))

    ws.click("approve", message, user=APPROVER_B)

    (job,) = ws.queue.jobs
    (request,) = [requests.load(ws.redis, job.id, now=ws.clock.now())]
    assert job.func_name == "workers.jobs.run_request" and job.kwargs == {"request_id": request.id}
    assert request.state == "queued"
    text = ws.read(message)
    assert "— approved and queued" in text
    assert f"Approved by <@{APPROVER_B}> {slack_date(T0 + timedelta(minutes=3))}" in text
    assert "Queued: waiting for a worker" in text
    assert ws.buttons(message) == []


def test_the_thread_asks_the_other_approvers_and_tells_the_requester_the_decision(ws):
    ws.type("roll CF_WAF_EDIT_RAXX_APP quarterly", user=APPROVER_A)
    message = ws.request_message()

    ws.click("approve", message, user=APPROVER_B)

    opened, approved = ws.thread(message)
    assert f"<@{APPROVER_B}>" in opened and f"<@{APPROVER_A}>:" not in opened
    assert f"<@{APPROVER_A}>: approved by <@{APPROVER_B}>" in approved
    assert len(ws.public()) == 1


def test_a_deny_is_told_to_the_requester_in_the_thread(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()

    ws.deny(message, user=APPROVER_B, reason="not during the freeze")

    assert f"<@{APPROVER_A}>: denied by <@{APPROVER_B}>" in ws.thread(message)[-1]


def test_the_web_makes_no_slack_call_for_a_request_the_outbox_posts_it(slack, redis_conn):
    ws = Workspace(slack, redis_conn)
    ws.auto_deliver = False

    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)

    assert slack.count("POST", "/api/chat.") == 0
    ws.deliver()
    assert slack.count("POST", "/api/chat.postMessage") == 2  # the message, then the approvers asked in its thread
    assert "waiting for approval" in ws.read(ws.request_message())


def test_the_requester_cannot_approve_their_own_request(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()

    ws.click("approve", message, user=APPROVER_A)

    assert "You asked for this, so you cannot approve it" in ws.told(APPROVER_A)
    assert ws.buttons(message) == ["approve", "deny", "cancel"]
    assert ws.queue.count == 0


def test_someone_who_is_not_an_approver_cannot_approve(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)

    ws.click("approve", ws.request_message(), user=ENGINEER)

    assert "only approvers can approve" in ws.told(ENGINEER)
    assert ws.queue.count == 0


def test_with_two_approvals_needed_one_is_not_enough(slack, redis_conn):
    ws = Workspace(slack, redis_conn, cftoken_approvers=f"{APPROVER_A},{APPROVER_B},{DAVE}", cftoken_roll_approvals=2)
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()

    ws.click("approve", message, user=APPROVER_B)
    halfway = ws.read(message)
    ws.click("approve", message, user=DAVE)

    assert "1 of 2 needed" in halfway and ws.queue.count == 1
    assert f"Approved by <@{APPROVER_B}> {slack_date(T0)}, <@{DAVE}> {slack_date(T0)}" in ws.read(message)


def test_deny_asks_why_in_a_modal_and_shows_the_reason_on_the_message_and_in_history(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()

    ws.click("deny", message, user=APPROVER_B)
    still = ws.buttons(message)
    ws.submit(APPROVER_B, "change freeze until <Friday> & the release")

    assert still == ["approve", "deny", "cancel"]
    text = ws.read(message)
    assert "*Roll of CF_PAGES_DEPLOY denied*" in text and ws.buttons(message) == []
    assert "“change freeze until &lt;Friday&gt; &amp; the release”; nothing was done" in text
    ws.type("history CF_PAGES_DEPLOY", user=ENGINEER)
    assert "*denied roll* by <@U0BOB0002> `" in ws.told(ENGINEER)
    assert "— change freeze until &lt;Friday&gt; &amp; the release" in ws.told(ENGINEER)


def test_a_deny_reason_over_the_limit_is_refused_in_the_modal(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()
    ws.click("deny", message, user=APPROVER_B)

    response = ws.submit(APPROVER_B, "&" * 201)

    assert json.loads(response.body)["response_action"] == "errors"
    assert "at most 1,000 characters, and yours is 1,005" in json.loads(response.body)["errors"]["reason"]
    assert ws.buttons(message) == ["approve", "deny", "cancel"]


def test_deny_without_a_modal_still_denies(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()

    ws.click("deny", message, user=APPROVER_B, trigger_id="1.2.expired")

    assert "(no reason given); nothing was done" in ws.read(message) and ws.buttons(message) == []


def test_only_an_approver_who_did_not_ask_gets_the_deny_modal(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()

    ws.click("deny", message, user=APPROVER_A)
    ws.click("deny", message, user=ENGINEER)

    assert ws.slack.open_views(APPROVER_A) == [] and ws.slack.open_views(ENGINEER) == []
    assert "only approvers can deny" in ws.told(ENGINEER)
    assert ws.buttons(message) == ["approve", "deny", "cancel"]


def test_a_click_on_a_decided_request_changes_nothing_and_says_why(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()
    ws.click("approve", message, user=APPROVER_B)

    ws.click("approve", message, user=APPROVER_B)
    ws.click("deny", message, user=APPROVER_B)

    assert f"Nothing to deny: it was already approved by <@{APPROVER_B}> and is queued" in ws.told(APPROVER_B)
    assert ws.queue.count == 1


def test_deny_ends_the_request_and_removes_the_buttons(ws):
    ws.type("revoke CF_PAGES_READ suspicious use", user=APPROVER_A)
    message = ws.request_message()

    ws.deny(message, user=APPROVER_B)
    ws.click("approve", message, user=APPROVER_B)

    assert "denied*" in ws.read(message) and f"denied by <@{APPROVER_B}>" in ws.read(message)
    assert ws.buttons(message) == []
    assert f"Nothing to approve: <@{APPROVER_B}> denied it" in ws.told(APPROVER_B)
    assert ws.queue.count == 0


def test_the_requester_cancels_and_nobody_else_can(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()

    ws.click("cancel", message, user=APPROVER_B)
    still_pending = ws.buttons(message)
    ws.click("cancel", message, user=APPROVER_A)

    assert f"Only <@{APPROVER_A}>, who asked, can cancel" in ws.told(APPROVER_B)
    assert still_pending == ["approve", "deny", "cancel"]
    assert "cancelled*" in ws.read(message) and ws.buttons(message) == []


def test_an_expired_request_cannot_be_approved_and_its_message_says_expired(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()
    ws.clock.advance(timedelta(minutes=31))

    ws.click("approve", message, user=APPROVER_B)

    assert f"Nothing to approve: it expired {slack_date(T0 + timedelta(minutes=30))}" in ws.told(APPROVER_B)
    assert "expired without approval*" in ws.read(message) and ws.buttons(message) == []
    assert ws.queue.count == 0


def test_a_request_left_unattended_shows_expired_once_anyone_uses_the_bot(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()
    ws.clock.advance(timedelta(minutes=45))

    ws.type("list", user=ENGINEER)

    assert "expired without approval*" in ws.read(message)
    assert f"expired {slack_date(T0 + timedelta(minutes=30))} without enough approvals; nothing was done" in ws.read(
        message
    )
    assert ws.buttons(message) == []


def test_expiry_is_configurable(slack, redis_conn):
    ws = Workspace(slack, redis_conn, cftoken_request_ttl_minutes=5)

    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)

    assert f"expires {slack_date(T0 + timedelta(minutes=5))}" in ws.read(ws.request_message())


def test_a_forged_request_id_is_refused(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    message = ws.request_message()

    ws.click("approve", message, user=APPROVER_B, value="roll-0123456789ab")
    ws.click("approve", message, user=APPROVER_B, value="workers.jobs.evil")

    assert "That request does not exist" in ws.told(APPROVER_B)
    assert ws.buttons(message) == ["approve", "deny", "cancel"] and ws.queue.count == 0


def test_request_roll_from_an_expiry_warning_opens_a_normal_request(ws, slack):
    posted = WebClient(base_url=slack.url + "/api/", token="xoxb-standin-token").chat_postMessage(
        channel=TEST_CHANNEL, text="CF_PAGES_DEPLOY expires in 7 days",
        blocks=[{"type": "actions", "elements": [{"type": "button", "action_id": "request_roll",
                 "value": "CF_PAGES_DEPLOY", "text": {"type": "plain_text", "text": "Request roll"}}]}],
    )
    warning = slack.message(TEST_CHANNEL, posted["ts"])

    ws.click("request_roll", warning, user=ENGINEER)
    ws.click("request_roll", warning, user=APPROVER_B)

    assert "only approvers can ask for a roll" in ws.told(ENGINEER)
    text = ws.read(ws.request_message())
    assert "*Roll CF_PAGES_DEPLOY* — waiting for approval" in text and "*Reason*\nexpiry warning" in text
    assert f"<@{APPROVER_B}>" in text


def test_request_roll_from_a_scan_alert_carries_the_problem_not_expiry_warning_as_its_reason(ws, slack):
    findings = Findings(alerts=(alert_of("CF_WAF_EDIT_RAXX_APP", "probe", "roll"),))
    ((text, blocks),) = render_digest(findings, ws.inventory, T0)
    posted = WebClient(base_url=slack.url + "/api/", token="xoxb-standin-token").chat_postMessage(
        channel=TEST_CHANNEL, text=text, blocks=blocks)
    alert = slack.message(TEST_CHANNEL, posted["ts"])
    block = next(b.get("block_id", "") for b in blocks if (b.get("accessory") or {}).get("action_id") == "request_roll")

    ws.click("request_roll", alert, user=APPROVER_B, value="CF_WAF_EDIT_RAXX_APP", block_id=block)

    shown = ws.read(ws.request_message())
    assert "*Roll CF_WAF_EDIT_RAXX_APP* — waiting for approval" in shown
    assert "*Reason*\nscan alert: job probe refused" in shown and "expiry warning" not in shown


def alert_of(name: str, kind: str, action: str) -> Alert:
    problem = Problem(kind=kind, severity="failing", detail="the job call was refused", next_step="roll it",
                      action=action, seen_at=T0, seen_by="scan")
    health = TokenStatus(checked_at=T0, source="scan", state="failing", problems=(problem,))
    return Alert(token=load_inventory(DEFAULT_INVENTORY).find(name), problem=problem, health=health)


# -- signatures and errors


@pytest.mark.parametrize("forgery", [{"secret": "wrong-secret"}, {"timestamp": "stale"}])
def test_unsigned_or_stale_requests_get_401_and_change_nothing(ws, forgery):
    if forgery.get("timestamp"):
        forgery = {"timestamp": int(datetime.now(UTC).timestamp()) - 6 * 60}

    response = ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A, **forgery)

    assert response.status == 401
    assert ws.slack.messages(TEST_CHANNEL, visible_to=APPROVER_A) == []
    assert requests.open_requests(ws.redis, now=T0) == []


def test_an_unexpected_failure_answers_with_a_reference_that_is_in_the_log(slack, redis_conn, caplog):
    broken = job_queue(redis.Redis(host="127.0.0.1", port=1, retry=None))
    ws = Workspace(slack, redis_conn, queue=broken)

    with caplog.at_level(logging.ERROR):
        ws.type("verify CF_PAGES_DEPLOY", user=ENGINEER)

    answer = next(ws.slack.as_text(m) for m in ws.slack.messages(TEST_CHANNEL, visible_to=ENGINEER)
                  if "Quote reference" in ws.slack.as_text(m))  # told after the ack's notice
    reference = answer.split("Quote reference `")[1].split("`")[0]
    assert "something went wrong on our side" in answer
    assert any(reference in record.getMessage() for record in caplog.records)


# -- one operation per token, and requests the bot could not carry out


def test_a_revoke_is_refused_when_asked_if_freescout_is_not_configured(slack, redis_conn):
    ws = Workspace(slack, redis_conn, freescout_url=None, freescout_api_key=None, freescout_mailbox_id=None,
                   freescout_user_id=None)

    ws.type("revoke CF_PAGES_DEPLOY leaked in a log", user=APPROVER_A)

    assert "cannot revoke tokens yet: FREESCOUT_URL is not set" in ws.told(APPROVER_A)
    assert ws.public() == [] and redis_conn.keys("cftoken:request:*") == []


def test_a_roll_is_refused_while_a_revoke_of_the_token_is_open(ws):
    ws.type("revoke CF_PAGES_DEPLOY leaked in a log", user=APPROVER_A)
    revoke = ws.request_message()

    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_B)

    answer = ws.told(APPROVER_B)
    assert "A revoke of *CF_PAGES_DEPLOY* is already open" in answer
    assert f"p{revoke.ts.replace('.', '')}" in answer
    assert len(ws.public()) == 1


def test_a_revoke_beside_an_open_roll_says_that_it_cancels_the_roll(ws):
    ws.type("roll CF_PAGES_DEPLOY", user=APPROVER_A)
    roll_id = requests.load(ws.redis, ws.redis.get("cftoken:open:roll:CF_PAGES_DEPLOY").decode(), now=T0).id

    ws.type("revoke CF_PAGES_DEPLOY leaked in a log", user=APPROVER_B)

    text = ws.read(ws.request_message())
    assert "*Revoke CF_PAGES_DEPLOY* — waiting for approval" in text
    assert f"*Supersedes* the roll `{roll_id}`, open when this revoke was asked" in text


def test_request_roll_after_an_interrupted_operation_opens_a_normal_request_with_that_reason(ws, slack):
    from domain.messages import render_interrupted

    text, blocks = render_interrupted("the roll could not finish", "CF_PAGES_DEPLOY", reroll=True)
    posted = WebClient(base_url=slack.url + "/api/", token="xoxb-standin-token").chat_postMessage(
        channel=TEST_CHANNEL, text=text, blocks=blocks,
    )

    ws.click("request_reroll", slack.message(TEST_CHANNEL, posted["ts"]), user=APPROVER_B)

    request = ws.read(ws.request_message())
    assert "*Roll CF_PAGES_DEPLOY* — waiting for approval" in request
    assert "re-roll: the last operation on this token could not finish" in request


def test_an_approve_click_on_a_record_changed_in_redis_is_refused_and_queues_nothing(ws):
    ws.type("roll CF_WAF_EDIT_RAXX_APP quarterly", user=APPROVER_A)
    message = ws.request_message()
    request_id = ws.redis.get("cftoken:open:roll:CF_WAF_EDIT_RAXX_APP").decode()
    record = json.loads(ws.redis.get(requests.request_key(request_id)))
    ws.redis.set(requests.request_key(request_id), json.dumps({**record, "needed": 0}))  # tag kept, now wrong

    ws.click("approve", message, user=APPROVER_B)

    assert "not written by cftoken" in ws.told(APPROVER_B)
    assert ws.queue.count == 0
    assert json.loads(ws.redis.get(requests.request_key(request_id)))["state"] == "pending"
    ws.click("approve", message, user=APPROVER_B)  # clicked again: refused again, the channel told once
    warnings = [m.text for m in ws.public() if m.text.startswith(f"⚠️ Refused `{request_id}`")]
    assert len(warnings) == 1 and "Nothing was done with it" in warnings[0]
    assert ("refused", "cftoken") in [(e.event, e.who) for e in audit.recent(ws.redis, "CF_WAF_EDIT_RAXX_APP")]


def test_a_history_of_incident_sized_reasons_arrives_whole_in_parts_slack_accepts(ws):
    reason = "incident 4711: " + "the token leaked in a public gist and was used from an unknown ASN; " * 14
    for minute in range(10):  # 10 × (requested, cancelled) = 20 events, each carrying the ~1,000-character reason
        ws.clock.current = T0 + timedelta(minutes=minute)
        ws.type(f"roll CF_PAGES_DEPLOY {reason[:990]}")
        ws.click("cancel", ws.request_message(), user=APPROVER_A)

    ws.type("history CF_PAGES_DEPLOY", user=ENGINEER)

    shown = [m for m in ws.slack.messages(TEST_CHANNEL, visible_to=ENGINEER) if m.ephemeral_for == ENGINEER]
    # sorted by part: this harness shows the ack's answer after the listener's follow-ups, Slack shows it first
    parts = sorted((m for m in shown if m.text.startswith("History of CF_PAGES_DEPLOY")), key=lambda m: m.text)
    assert len(parts) >= 2
    assert [m.text[-len("(part 1 of 2)"):] for m in parts] == [f"(part {n} of {len(parts)})"
                                                               for n in range(1, len(parts) + 1)]
    lines = [line for m in parts for line in ws.slack.as_text(m).splitlines() if " UTC> · " in line]
    assert len(lines) == 20
    assert ws.slack.refusals() == []
