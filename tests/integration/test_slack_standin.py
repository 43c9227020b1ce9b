"""The Slack stand-in answers slack_sdk's WebClient and WebhookClient the way Slack does, and records the channel."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from urllib.request import Request, urlopen

import pytest
from slack_bolt import App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from standins.base import Clock
from standins.slack import SlackStandIn
from standins.slack_requests import slash_command

pytestmark = pytest.mark.integration

TOKEN = "xoxb-standin-token"
CHANNEL = "C0SRE0001"
ALICE, BOB, CAROL, DAVE = "U0ALICE01", "U0BOB0002", "U0CAROL03", "U0DAVE004"

REQUEST_BLOCKS = [
    {"type": "header", "text": {"type": "plain_text", "text": "Roll CF_DNS_EDIT"}},
    {"type": "section", "text": {"type": "mrkdwn", "text": "<@U0ALICE01> asks to roll *CF_DNS_EDIT*"},
     "fields": [{"type": "mrkdwn", "text": "*Zone* example.com"}]},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "request req-1"},
                                     {"type": "plain_text", "text": "expires in 30 min"}]},
    {"type": "actions", "block_id": "decide", "elements": [
        {"type": "button", "action_id": "approve", "value": "req-1", "style": "primary",
         "text": {"type": "plain_text", "text": "Approve"}},
        {"type": "button", "action_id": "deny", "value": "req-1", "text": {"type": "plain_text", "text": "Deny"}},
    ]},
]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack(clock: Clock):
    standin = SlackStandIn(clock)
    standin.add_user(ALICE, "alice", "Alice Approver")
    standin.add_user(BOB, "bob", "Bob Approver")
    standin.add_user(CAROL, "carol", "Carol Engineer")
    standin.add_usergroup("S0SREAPPR", [ALICE, BOB])
    standin.add_channel(CHANNEL, "sre", [ALICE, BOB, CAROL])
    standin.add_channel("C0ELSEWHR", "elsewhere", [ALICE], bot_member=False)
    with standin:
        yield standin


@pytest.fixture
def web(slack: SlackStandIn) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.url + "/api/", retry_handlers=[])


def _error(call) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    assert caught.value.response.status_code == 200
    return caught.value.response["error"]


# auth.test


def test_auth_test_answers_the_bot_identity_with_scopes_header(web: WebClient, slack: SlackStandIn):
    response = web.auth_test()

    assert response["ok"] is True
    assert response["team_id"] == "T0CFTOKEN" and response["user_id"] == slack.bot_user_id
    assert response["bot_id"] == slack.bot_id and response["url"] and response["team"] and response["user"]
    assert "chat:write" in response.headers["x-oauth-scopes"]


def test_wrong_token_is_invalid_auth(slack: SlackStandIn):
    web = WebClient(token="xoxb-wrong", base_url=slack.url + "/api/")

    assert _error(web.auth_test) == "invalid_auth"
    assert _error(lambda: web.chat_postMessage(channel=CHANNEL, text="hi")) == "invalid_auth"


def test_missing_token_is_not_authed(slack: SlackStandIn):
    web = WebClient(base_url=slack.url + "/api/")

    assert _error(lambda: web.users_info(user=ALICE)) == "not_authed"


def test_unknown_method_is_unknown_method(web: WebClient):
    assert _error(lambda: web.api_call("chat.frobnicate", json={})) == "unknown_method"


# chat.postMessage / chat.update / chat.postEphemeral


def test_post_message_records_text_and_blocks(web: WebClient, slack: SlackStandIn):
    response = web.chat_postMessage(channel=CHANNEL, text="Roll CF_DNS_EDIT?", blocks=REQUEST_BLOCKS)

    assert response["channel"] == CHANNEL
    assert response["message"]["text"] == "Roll CF_DNS_EDIT?" and response["message"]["bot_id"] == slack.bot_id
    recorded = slack.message(CHANNEL, response["ts"])
    assert recorded is not None
    assert recorded.text == "Roll CF_DNS_EDIT?" and recorded.blocks == REQUEST_BLOCKS
    assert recorded.user == slack.bot_user_id and recorded.ephemeral_for is None


def test_post_message_accepts_a_form_body(web: WebClient, slack: SlackStandIn):
    response = web.api_call("chat.postMessage", params={"channel": CHANNEL, "text": "form-encoded"})

    assert slack.message(CHANNEL, response["ts"]).text == "form-encoded"


def test_message_timestamps_are_strictly_increasing(web: WebClient):
    stamps = [web.chat_postMessage(channel=CHANNEL, text=f"n{i}")["ts"] for i in range(5)]

    assert all(stamp.count(".") == 1 and len(stamp.split(".")[1]) == 6 for stamp in stamps)
    as_numbers = [tuple(int(part) for part in stamp.split(".")) for stamp in stamps]
    assert as_numbers == sorted(set(as_numbers))


def test_post_message_errors(web: WebClient):
    assert _error(lambda: web.chat_postMessage(channel="C0NOWHERE", text="x")) == "channel_not_found"
    assert _error(lambda: web.chat_postMessage(channel="C0ELSEWHR", text="x")) == "not_in_channel"
    assert _error(lambda: web.api_call("chat.postMessage", json={"channel": CHANNEL})) == "no_text"


def test_thread_replies_are_kept_with_their_parent(web: WebClient, slack: SlackStandIn):
    parent = web.chat_postMessage(channel=CHANNEL, text="rolling")["ts"]
    reply = web.chat_postMessage(channel=CHANNEL, text="step 1 done", thread_ts=parent)["ts"]
    web.chat_postMessage(channel=CHANNEL, text="unrelated")

    assert [m.ts for m in slack.thread(CHANNEL, parent)] == [parent, reply]
    assert reply not in [m.ts for m in slack.messages(CHANNEL, include_threads=False)]
    assert reply in [m.ts for m in slack.messages(CHANNEL)]


def test_update_edits_in_place_and_keeps_history(web: WebClient, slack: SlackStandIn):
    ts = web.chat_postMessage(channel=CHANNEL, text="pending", blocks=REQUEST_BLOCKS)["ts"]

    response = web.chat_update(channel=CHANNEL, ts=ts, text="approved by bob")

    assert response["ts"] == ts and response["text"] == "approved by bob"
    updated = slack.message(CHANNEL, ts)
    assert updated.text == "approved by bob"
    assert updated.blocks == REQUEST_BLOCKS  # Slack keeps blocks an update leaves out
    assert [(v.text, v.blocks) for v in updated.edits] == [("pending", REQUEST_BLOCKS)]
    assert len(slack.messages(CHANNEL)) == 1


def test_update_with_new_blocks_replaces_them(web: WebClient, slack: SlackStandIn):
    ts = web.chat_postMessage(channel=CHANNEL, text="pending", blocks=REQUEST_BLOCKS)["ts"]
    done = [{"type": "section", "text": {"type": "mrkdwn", "text": "Rolled"}}]

    web.chat_update(channel=CHANNEL, ts=ts, text="rolled", blocks=done)
    web.chat_update(channel=CHANNEL, ts=ts, text="rolled again", blocks=done)

    updated = slack.message(CHANNEL, ts)
    assert updated.blocks == done
    assert [v.text for v in updated.edits] == ["pending", "rolled"]


def test_update_errors(web: WebClient):
    ts = web.chat_postMessage(channel=CHANNEL, text="x")["ts"]

    assert _error(lambda: web.chat_update(channel=CHANNEL, ts="1.000001", text="y")) == "message_not_found"
    assert _error(lambda: web.chat_update(channel="C0NOWHERE", ts=ts, text="y")) == "channel_not_found"
    assert _error(lambda: web.api_call("chat.update", json={"channel": CHANNEL, "ts": ts})) == "no_text"


def test_ephemeral_is_visible_only_to_its_user(web: WebClient, slack: SlackStandIn):
    web.chat_postMessage(channel=CHANNEL, text="for everyone")

    response = web.chat_postEphemeral(channel=CHANNEL, user=CAROL, text="only carol")

    assert response["message_ts"]
    assert [m.text for m in slack.messages(CHANNEL, visible_to=CAROL)] == ["for everyone", "only carol"]
    assert [m.text for m in slack.messages(CHANNEL, visible_to=ALICE)] == ["for everyone"]
    assert [m.text for m in slack.messages(CHANNEL)] == ["for everyone"]
    assert slack.messages(CHANNEL, visible_to=CAROL)[1].ephemeral_for == CAROL


def test_post_ephemeral_errors(web: WebClient):
    assert _error(lambda: web.chat_postEphemeral(channel=CHANNEL, user=DAVE, text="x")) == "user_not_in_channel"
    assert _error(lambda: web.chat_postEphemeral(channel="C0NOWHERE", user=ALICE, text="x")) == "channel_not_found"
    assert _error(lambda: web.chat_postEphemeral(channel="C0ELSEWHR", user=ALICE, text="x")) == "not_in_channel"
    payload = {"channel": CHANNEL, "user": ALICE}
    assert _error(lambda: web.api_call("chat.postEphemeral", json=payload)) == "no_text"


def test_ephemeral_message_cannot_be_updated(web: WebClient):
    ts = web.chat_postEphemeral(channel=CHANNEL, user=CAROL, text="secret")["message_ts"]

    assert _error(lambda: web.chat_update(channel=CHANNEL, ts=ts, text="changed")) == "message_not_found"


# usergroups.users.list / users.info / conversations.members


def test_usergroup_users(web: WebClient):
    assert web.usergroups_users_list(usergroup="S0SREAPPR")["users"] == [ALICE, BOB]
    assert _error(lambda: web.usergroups_users_list(usergroup="S0NOPE")) == "no_such_subteam"


def test_users_info(web: WebClient):
    user = web.users_info(user=ALICE)["user"]

    assert user["id"] == ALICE and user["name"] == "alice" and user["real_name"] == "Alice Approver"
    assert user["is_bot"] is False and user["deleted"] is False and user["team_id"] == "T0CFTOKEN"
    assert user["profile"]["real_name"] == "Alice Approver"
    assert _error(lambda: web.users_info(user=DAVE)) == "user_not_found"


def test_users_info_accepts_a_get_query(slack: SlackStandIn):
    request = Request(f"{slack.url}/api/users.info?user={BOB}", headers={"Authorization": f"Bearer {TOKEN}"})

    with urlopen(request) as response:
        body = json.load(response)

    assert body["ok"] is True and body["user"]["id"] == BOB


def test_members_are_paginated_with_next_cursor(web: WebClient, slack: SlackStandIn):
    people = [f"U0P{n:06d}" for n in range(7)]
    slack.add_channel("C0BIG0001", "big", people)

    pages, cursor = [], None
    while True:
        response = web.conversations_members(channel="C0BIG0001", limit=3, cursor=cursor)
        pages.append(response["members"])
        cursor = response["response_metadata"]["next_cursor"]
        if not cursor:
            break

    assert pages == [people[0:3], people[3:6], people[6:7]]


def test_members_errors(web: WebClient):
    assert web.conversations_members(channel=CHANNEL)["members"] == [ALICE, BOB, CAROL]
    assert _error(lambda: web.conversations_members(channel="C0NOWHERE")) == "channel_not_found"
    assert _error(lambda: web.conversations_members(channel=CHANNEL, cursor="not-a-cursor")) == "invalid_cursor"
    assert _error(lambda: web.conversations_members(channel=CHANNEL, limit=0)) == "invalid_limit"


# faults


def test_ratelimit_fault_is_429_with_retry_after(web: WebClient, slack: SlackStandIn):
    slack.faults.fail_next("/api/chat.postMessage", 1, "429", retry_after=7)

    with pytest.raises(SlackApiError) as caught:
        web.chat_postMessage(channel=CHANNEL, text="x")

    assert caught.value.response.status_code == 429
    assert caught.value.response["error"] == "ratelimited"
    assert caught.value.response.headers["Retry-After"] == "7"
    assert slack.messages(CHANNEL) == []


def test_server_error_fault_is_5xx(web: WebClient, slack: SlackStandIn):
    slack.faults.fail_next("/api/", 1, "503")

    with pytest.raises(SlackApiError) as caught:
        web.auth_test()

    assert caught.value.response.status_code == 503


# response_url


def _hook(url: str) -> WebhookClient:
    return WebhookClient(url=url, retry_handlers=[])


def test_response_url_ephemeral_by_default(slack: SlackStandIn):
    url = slack.new_response_url(CAROL, CHANNEL)

    response = _hook(url).send(text="Usage: /cftoken verify NAME")

    assert response.status_code == 200 and response.body == '{"ok": true}'
    assert [m.text for m in slack.messages(CHANNEL, visible_to=CAROL)] == ["Usage: /cftoken verify NAME"]
    assert slack.messages(CHANNEL, visible_to=ALICE) == []


def test_response_url_in_channel_is_a_normal_message(slack: SlackStandIn):
    url = slack.new_response_url(ALICE, CHANNEL)

    _hook(url).send(text="Queued verify", blocks=REQUEST_BLOCKS[:2], response_type="in_channel")

    [message] = slack.messages(CHANNEL, visible_to=BOB)
    assert message.text == "Queued verify" and message.blocks == REQUEST_BLOCKS[:2]
    assert message.ephemeral_for is None and message.user == slack.bot_user_id


def test_response_url_replace_original_updates_the_clicked_message(web: WebClient, slack: SlackStandIn):
    ts = web.chat_postMessage(channel=CHANNEL, text="pending", blocks=REQUEST_BLOCKS)["ts"]
    url = slack.new_response_url(BOB, CHANNEL, message_ts=ts)
    approved = [{"type": "section", "text": {"type": "mrkdwn", "text": "Approved by <@U0BOB0002>"}}]

    _hook(url).send(text="approved", blocks=approved, replace_original=True)

    message = slack.message(CHANNEL, ts)
    assert message.text == "approved" and message.blocks == approved
    assert [v.text for v in message.edits] == ["pending"]
    assert len(slack.messages(CHANNEL)) == 1


def test_response_url_replace_original_of_a_command_replaces_its_last_response(slack: SlackStandIn):
    url = slack.new_response_url(CAROL, CHANNEL)
    _hook(url).send(text="queued")
    _hook(url).send(text="working…")

    _hook(url).send(text="done", replace_original=True)

    first, last = slack.messages(CHANNEL, visible_to=CAROL)
    assert first.text == "queued" and first.edits == []
    assert last.text == "done" and [v.text for v in last.edits] == ["working…"]


def test_response_url_delete_original_removes_the_message(web: WebClient, slack: SlackStandIn):
    ts = web.chat_postMessage(channel=CHANNEL, text="pending")["ts"]
    url = slack.new_response_url(BOB, CHANNEL, message_ts=ts)

    response = _hook(url).send(delete_original=True)

    assert response.status_code == 200
    assert slack.messages(CHANNEL) == []
    assert slack.message(CHANNEL, ts).deleted is True


def test_response_url_replace_without_original_is_404(slack: SlackStandIn):
    url = slack.new_response_url(CAROL, CHANNEL)

    response = _hook(url).send(text="x", replace_original=True)

    assert response.status_code == 404 and "message_not_found" in response.body


def test_response_url_works_five_times_then_expires(slack: SlackStandIn):
    url = slack.new_response_url(CAROL, CHANNEL)

    statuses = [_hook(url).send(text=f"n{i}").status_code for i in range(6)]

    assert statuses == [200, 200, 200, 200, 200, 404]
    assert len(slack.messages(CHANNEL, visible_to=CAROL)) == 5
    assert "expired_url" in _hook(url).send(text="again").body


def test_response_url_expires_after_thirty_minutes(slack: SlackStandIn, clock: Clock):
    url = slack.new_response_url(CAROL, CHANNEL)
    clock.advance(timedelta(minutes=29))
    assert _hook(url).send(text="still fine").status_code == 200

    clock.advance(timedelta(minutes=2))

    assert _hook(url).send(text="too late").status_code == 404
    assert [m.text for m in slack.messages(CHANNEL, visible_to=CAROL)] == ["still fine"]


def test_unknown_response_url_is_404(slack: SlackStandIn):
    assert _hook(slack.url + "/response/0123456789abcdef").send(text="x").status_code == 404


# rendering and waiting


def test_as_text_renders_header_section_context_and_buttons(web: WebClient, slack: SlackStandIn):
    ts = web.chat_postMessage(channel=CHANNEL, text="fallback", blocks=REQUEST_BLOCKS)["ts"]

    text = slack.as_text(slack.message(CHANNEL, ts))

    assert text == (
        "Roll CF_DNS_EDIT\n"
        "<@U0ALICE01> asks to roll *CF_DNS_EDIT*\n"
        "*Zone* example.com\n"
        "request req-1  expires in 30 min\n"
        "[Approve] [Deny]"
    )


def test_as_text_of_a_plain_message_is_its_text(web: WebClient, slack: SlackStandIn):
    ts = web.chat_postMessage(channel=CHANNEL, text="just text")["ts"]

    assert slack.as_text(slack.message(CHANNEL, ts)) == "just text"


def test_channel_transcript_shows_threads_edits_and_own_ephemerals(web: WebClient, slack: SlackStandIn):
    parent = web.chat_postMessage(channel=CHANNEL, text="rolling CF_DNS_EDIT")["ts"]
    web.chat_postMessage(channel=CHANNEL, text="step 1", thread_ts=parent)
    web.chat_update(channel=CHANNEL, ts=parent, text="rolled CF_DNS_EDIT")
    web.chat_postEphemeral(channel=CHANNEL, user=CAROL, text="psst")

    assert slack.channel_transcript(CHANNEL) == (
        "cftoken (edited):\n  rolled CF_DNS_EDIT\n    ↳ cftoken:\n        step 1"
    )
    assert slack.channel_transcript(CHANNEL, visible_to=CAROL).endswith(
        "cftoken (only visible to you):\n  psst"
    )


def test_wait_for_returns_a_message_posted_later(web: WebClient, slack: SlackStandIn):
    timer = threading.Timer(0.2, lambda: web.chat_postMessage(channel=CHANNEL, text="verify: OK"))
    timer.start()

    started = time.monotonic()
    message = slack.wait_for(lambda m: m.text.startswith("verify:"))

    timer.join()
    assert message.text == "verify: OK"
    assert time.monotonic() - started >= 0.15


def test_wait_for_times_out(slack: SlackStandIn):
    with pytest.raises(TimeoutError):
        slack.wait_for(lambda m: True, timeout=0.1)


def test_recorded_messages_are_snapshots(web: WebClient, slack: SlackStandIn):
    ts = web.chat_postMessage(channel=CHANNEL, text="original")["ts"]
    snapshot = slack.message(CHANNEL, ts)

    snapshot.text = "mutated by a test"

    assert slack.message(CHANNEL, ts).text == "original"


# Bolt against the stand-in


def test_bolt_app_calls_auth_test_and_responds_through_the_response_url(slack: SlackStandIn):
    app = App(
        client=WebClient(token=TOKEN, base_url=slack.url + "/api/"),
        signing_secret="test-signing-secret",
        token_verification_enabled=False,
        process_before_response=True,
    )

    @app.command("/cftoken")
    def handle(ack, respond, command):
        ack()
        respond(f"you typed {command['text']}")

    url = slack.new_response_url(CAROL, CHANNEL)
    body, headers = slash_command(
        signing_secret="test-signing-secret", text="help", user_id=CAROL, channel_id=CHANNEL, response_url=url
    )

    response = app.dispatch(BoltRequest(body=body, headers=headers))

    assert response.status == 200
    assert slack.count("POST", "/api/auth.test") == 1
    assert [m.text for m in slack.messages(CHANNEL, visible_to=CAROL)] == ["you typed help"]
