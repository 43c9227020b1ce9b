"""The Slack stand-in refuses what Slack refuses, with Slack's error shapes, on every way a message arrives."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standins.base import Clock
from standins.block_kit import Refused
from standins.slack import SlackStandIn
from standins.slack_requests import command_answer

pytestmark = pytest.mark.integration

TOKEN = "xoxb-standin-token"
CHANNEL = "C0SRE0001"
ALICE = "U0ALICE01"


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(action_id: str, label: str = "Go", value: str = "v") -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "value": value, "text": {"type": "plain_text", "text": label}}


def actions(*elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "elements": list(elements)}


def context(n: int) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f"item {i}"} for i in range(n)]}


def fields(n: int, length: int = 5) -> dict[str, Any]:
    return {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * length} for _ in range(n)]}


def header(length: int) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": "h" * length}}


# (what, the largest accepted blocks, the smallest refused blocks, the json-pointer Slack names)
LIMITS = [
    ("50 blocks", [section("x")] * 50, [section("x")] * 51, "/blocks"),
    ("section text 3,000", [section("x" * 3000)], [section("x" * 3001)], "/blocks/0/text/text"),
    ("10 fields", [fields(10)], [fields(11)], "/blocks/0/fields"),
    ("field text 2,000", [fields(1, 2000)], [fields(1, 2001)], "/blocks/0/fields/0/text"),
    ("header 150", [header(150)], [header(151)], "/blocks/0/text/text"),
    ("button text 75", [actions(button("a", "b" * 75))], [actions(button("a", "b" * 76))],
     "/blocks/0/elements/0/text/text"),
    ("button value 2,000", [actions(button("a", value="v" * 2000))], [actions(button("a", value="v" * 2001))],
     "/blocks/0/elements/0/value"),
    ("action_id 255", [actions(button("a" * 255))], [actions(button("a" * 256))], "/blocks/0/elements/0/action_id"),
    ("context 10 elements", [context(10)], [context(11)], "/blocks/0/elements"),
    ("unique action_id", [actions(button("a"), button("b"))], [actions(button("a"), button("a"))],
     "/blocks/0/elements/1/action_id"),
    ("unique block_id", [{**section("x"), "block_id": "a"}, {**section("y"), "block_id": "b"}],
     [{**section("x"), "block_id": "a"}, {**section("y"), "block_id": "a"}], "/blocks/1/block_id"),
    ("known block type", [{"type": "divider"}], [{"type": "banner"}], "/blocks/0/type"),
    ("known element type", [actions(button("a"))], [actions({"type": "slider", "action_id": "a"})],
     "/blocks/0/elements/0/type"),
    ("section needs text or fields", [section("x")], [{"type": "section"}], "/blocks/0"),
    ("text is not empty", [section("x")], [section("")], "/blocks/0/text/text"),
    ("header text is plain_text", [header(5)], [{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}],
     "/blocks/0/text/type"),
    ("button text is required", [actions(button("a"))], [actions({"type": "button", "action_id": "a"})],
     "/blocks/0/elements/0/text"),
]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def slack(clock: Clock):
    standin = SlackStandIn(clock)
    standin.add_user(ALICE, "alice", "Alice Approver")
    standin.add_channel(CHANNEL, "sre", [ALICE])
    with standin:
        yield standin


@pytest.fixture
def web(slack: SlackStandIn) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.url + "/api/")


def refusal(call) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as caught:
        call()
    return caught.value.response.data


def pointers(body: dict[str, Any]) -> list[str]:
    return [m.rsplit("[json-pointer:", 1)[1].rstrip("]") for m in body["response_metadata"]["messages"]]


@pytest.mark.parametrize(("what", "accepted", "refused", "pointer"), LIMITS, ids=[row[0] for row in LIMITS])
def test_post_message_takes_the_limit_and_refuses_one_past_it_naming_the_path(
    web: WebClient, slack: SlackStandIn, what, accepted, refused, pointer
):
    web.chat_postMessage(channel=CHANNEL, text="fine", blocks=accepted)

    body = refusal(lambda: web.chat_postMessage(channel=CHANNEL, text="refused", blocks=refused))

    assert body["ok"] is False and body["error"] == "invalid_blocks"
    assert pointer in pointers(body), body
    assert all(m.startswith("[ERROR] ") for m in body["response_metadata"]["messages"])
    assert [m.text for m in slack.messages(CHANNEL)] == ["fine"]


def test_top_level_text_over_40000_characters_is_msg_too_long(web: WebClient, slack: SlackStandIn):
    web.chat_postMessage(channel=CHANNEL, text="x" * 40_000)

    body = refusal(lambda: web.chat_postMessage(channel=CHANNEL, text="x" * 40_001))

    assert body == {"ok": False, "error": "msg_too_long"}


def test_no_text_and_no_blocks_is_no_text(web: WebClient):
    body = refusal(lambda: web.api_call("chat.postMessage", json={"channel": CHANNEL, "text": ""}))

    assert body == {"ok": False, "error": "no_text"}


def test_blocks_that_are_not_json_are_invalid_blocks_format(web: WebClient):
    body = refusal(lambda: web.api_call("chat.postMessage", data={"channel": CHANNEL, "blocks": "[{"}))

    assert body["error"] == "invalid_blocks_format"


def test_update_refuses_invalid_blocks_and_keeps_the_message(web: WebClient, slack: SlackStandIn):
    posted = web.chat_postMessage(channel=CHANNEL, text="first", blocks=[section("first")])

    body = refusal(lambda: web.chat_update(channel=CHANNEL, ts=posted["ts"], text="x", blocks=[section("y" * 3001)]))

    assert body["error"] == "invalid_blocks" and pointers(body) == ["/blocks/0/text/text"]
    assert slack.as_text(slack.message(CHANNEL, posted["ts"])) == "first"


def test_post_ephemeral_refuses_invalid_blocks(web: WebClient, slack: SlackStandIn):
    body = refusal(lambda: web.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="x", blocks=[{"type": "x"}]))

    assert body["error"] == "invalid_blocks"
    assert slack.messages(CHANNEL, visible_to=ALICE) == []


def test_response_url_refuses_invalid_blocks_with_slacks_body(slack: SlackStandIn):
    url = slack.new_response_url(ALICE, CHANNEL)

    answer = httpx.post(url, json={"text": "x", "blocks": [section("y")] * 51})

    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_blocks" and pointers(answer.json()) == ["/blocks"]
    assert slack.messages(CHANNEL, visible_to=ALICE) == []


def test_every_refusal_is_recorded_for_the_sandbox_page(web: WebClient, slack: SlackStandIn):
    refusal(lambda: web.chat_postMessage(channel=CHANNEL, text="too many", blocks=[section("y")] * 51))
    httpx.post(slack.new_response_url(ALICE, CHANNEL), json={"text": "long", "blocks": [section("z" * 3001)]})

    recorded = slack.refusals()

    assert [(r.method, r.error, r.text) for r in recorded] == [
        ("chat.postMessage", "invalid_blocks", "too many"), ("response_url", "invalid_blocks", "long"),
    ]
    assert recorded[0].messages == ["[ERROR] no more than 50 items allowed [json-pointer:/blocks]"]


def test_an_ack_body_with_invalid_blocks_is_refused():
    body = json.dumps({"text": "x", "blocks": [section("y" * 3001)], "response_type": "ephemeral"})

    with pytest.raises(Refused) as caught:
        command_answer(body)

    assert caught.value.error == "invalid_blocks"
    assert command_answer(json.dumps({"text": "x", "blocks": [section("y")]})) == {
        "text": "x", "blocks": [section("y")]
    }


MODAL = {
    "type": "modal", "callback_id": "deny_reason", "private_metadata": "req-1",
    "title": {"type": "plain_text", "text": "Deny the roll"},
    "submit": {"type": "plain_text", "text": "Deny"},
    "blocks": [{"type": "input", "block_id": "reason", "optional": True,
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True}}],
}


def test_views_open_opens_a_modal_once_per_trigger(web: WebClient, slack: SlackStandIn):
    trigger = slack.new_trigger_id(ALICE)

    opened = web.views_open(trigger_id=trigger, view=MODAL)

    assert opened["view"]["id"].startswith("V") and opened["view"]["private_metadata"] == "req-1"
    assert [v.view["callback_id"] for v in slack.open_views(ALICE)] == ["deny_reason"]
    assert refusal(lambda: web.views_open(trigger_id=trigger, view=MODAL))["error"] == "exchanged_trigger_id"


def test_views_open_refuses_unknown_and_expired_triggers(web: WebClient, slack: SlackStandIn, clock: Clock):
    trigger = slack.new_trigger_id(ALICE)
    clock.advance(timedelta(seconds=4))

    assert refusal(lambda: web.views_open(trigger_id=trigger, view=MODAL))["error"] == "expired_trigger_id"
    assert refusal(lambda: web.views_open(trigger_id="1.2.abc", view=MODAL))["error"] == "invalid_trigger_id"


def test_views_open_refuses_an_invalid_view_with_invalid_arguments(web: WebClient, slack: SlackStandIn):
    view = {**MODAL, "title": {"type": "plain_text", "text": "t" * 25}}
    view.pop("submit")

    body = refusal(lambda: web.views_open(trigger_id=slack.new_trigger_id(ALICE), view=view))

    assert body["error"] == "invalid_arguments"
    assert {"/view/title/text", "/view/submit"} <= set(pointers(body))


def test_blocks_whose_text_together_passes_the_total_limit_are_msg_blocks_too_long(web: WebClient, slack: SlackStandIn):
    """Each section well inside 3,000 characters; together past 11,000 (Slack refused 11,341 in bolt-js #2867)."""
    fits = [section("a" * 2750) for _ in range(4)]  # 11,000 characters of block text
    over = [*fits, section("b")]

    web.chat_postMessage(channel=CHANNEL, text="fits", blocks=fits)
    posted = refusal(lambda: web.chat_postMessage(channel=CHANNEL, text="over", blocks=over))
    first = slack.messages(CHANNEL)[0]
    updated = refusal(lambda: web.chat_update(channel=CHANNEL, ts=first.ts, text="over", blocks=over))
    response = httpx.post(slack.new_response_url(ALICE, CHANNEL), json={"text": "over", "blocks": over})

    assert posted == updated == {"ok": False, "error": "msg_blocks_too_long"}
    assert response.status_code == 400 and response.json()["error"] == "msg_blocks_too_long"
    assert [m.text for m in slack.messages(CHANNEL, visible_to=ALICE)] == ["fits"]
    assert [r.error for r in slack.refusals()] == ["msg_blocks_too_long"] * 3


def test_the_total_counts_context_elements_and_button_labels_too(web: WebClient):
    labels = [actions(*(button(f"b{i}{j}", "x" * 75, "v") for j in range(5))) for i in range(10)]  # 3,750
    notes = [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 2500} for _ in range(3)]}]  # 7,500

    body = refusal(lambda: web.chat_postMessage(channel=CHANNEL, text="x", blocks=[*labels, *notes]))

    assert body["error"] == "msg_blocks_too_long"


def select(text: str = "o", value: str = "v") -> dict[str, Any]:
    return {"type": "static_select", "action_id": "pick", "placeholder": {"type": "plain_text", "text": "Pick"},
            "options": [{"text": {"type": "plain_text", "text": text}, "value": value}]}


def table(rows: int, cells: int) -> dict[str, Any]:
    return {"type": "table", "rows": [[{"type": "raw_text", "text": "c"}] * cells for _ in range(rows)]}


def markdown(n: int) -> dict[str, Any]:
    return {"type": "markdown", "text": "m" * n}


def rich(kind: str) -> dict[str, Any]:
    return {"type": "rich_text", "elements": [{"type": "rich_text_section", "elements": [{"type": kind,
                                                                                          "text": "x"}]}]}


def text_input(max_length: int) -> dict[str, Any]:
    return {"type": "input", "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "reason", "max_length": max_length}}


ADOPTABLE = [  # elements the bot does not use yet, with the limits Slack applies to them (issue 22, #7)
    ("option text 75", [actions(select("o" * 75))], [actions(select("o" * 76))],
     "/blocks/0/elements/0/options/0/text/text"),
    ("option value 150", [actions(select(value="v" * 150))], [actions(select(value="v" * 151))],
     "/blocks/0/elements/0/options/0/value"),
    ("table 100 rows", [table(100, 1)], [table(101, 1)], "/blocks/0/rows"),
    ("table 20 cells a row", [table(1, 20)], [table(1, 21)], "/blocks/0/rows/0"),
    ("markdown 12,000 in total", [markdown(5500), markdown(5500)], [markdown(6000), markdown(6001)], "/blocks"),
    ("rich-text element types", [rich("text")], [rich("sparkle")], "/blocks/0/elements/0/elements/0/type"),
    ("plain_text_input max_length 3,000", [text_input(3000)], [text_input(3001)], "/blocks/0/element/max_length"),
]


@pytest.mark.parametrize(("what", "accepted", "refused", "pointer"), ADOPTABLE, ids=[row[0] for row in ADOPTABLE])
def test_elements_the_bot_may_adopt_are_held_to_slacks_limits(
    web: WebClient, slack: SlackStandIn, what, accepted, refused, pointer
):
    web.chat_postMessage(channel=CHANNEL, text="fine", blocks=accepted)

    body = refusal(lambda: web.chat_postMessage(channel=CHANNEL, text="refused", blocks=refused))

    assert body["ok"] is False and body["error"] == "invalid_blocks"
    assert pointer in pointers(body), body
    assert [m.text for m in slack.messages(CHANNEL)] == ["fine"]
