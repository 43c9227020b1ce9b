"""Clicks shaped like Slack's (issue 22, divergence #6): World.signed_click echoes the clicked message as Slack
holds it (a Slack-assigned block_id on every block, emoji on plain_text, verbatim on mrkdwn), sends `enterprise:
null` and `is_enterprise_install: false`, and a trigger_id the stand-in's views.open takes once, briefly."""

from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from standins.world import APPROVERS, CHANNEL

pytestmark = pytest.mark.integration

MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Deny"},
         "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "why?"}}]}


@pytest.fixture
def web(world):
    return WebClient(token=world.slack.bot_token, base_url=world.slack.url + "/api/")


def posted_with_buttons(web: WebClient) -> str:
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*CF_PAGES_DEPLOY* expires in 5 days"},
         "accessory": {"type": "button", "action_id": "request_roll", "value": "CF_PAGES_DEPLOY",
                       "text": {"type": "plain_text", "text": "Request roll"}}},
        {"type": "actions", "block_id": "mine", "elements": [
            {"type": "button", "action_id": "approve", "value": "roll-1", "text": {"type": "plain_text",
                                                                                  "text": "Approve"}}]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "footer"}]},
    ]
    return web.chat_postMessage(channel=CHANNEL, text="digest", blocks=blocks)["ts"]


def payload(body: str) -> dict:
    return json.loads(parse_qs(body)["payload"][0])


def test_a_click_echoes_the_message_with_slacks_block_ids_and_text_flags(world, web):
    ts = posted_with_buttons(web)

    sent = payload(world.signed_click("request_roll", "CF_PAGES_DEPLOY", user=APPROVERS[0], message_ts=ts)[0])

    blocks = sent["message"]["blocks"]
    assert all(isinstance(b.get("block_id"), str) and b["block_id"] for b in blocks)
    assert len({b["block_id"] for b in blocks}) == 3 and blocks[1]["block_id"] == "mine"
    assert blocks[0]["accessory"]["text"] == {"type": "plain_text", "text": "Request roll", "emoji": True}
    assert blocks[0]["text"]["verbatim"] is False and blocks[2]["elements"][0]["verbatim"] is False
    assert sent["actions"][0]["block_id"] == blocks[0]["block_id"]
    assert sent["enterprise"] is None and sent["is_enterprise_install"] is False
    assert sent["message"]["ts"] == ts and sent["message"]["bot_id"] == world.slack.bot_id


def test_the_history_answers_the_same_block_ids_the_click_carried(world, web):
    ts = posted_with_buttons(web)

    sent = payload(world.signed_click("approve", "roll-1", user=APPROVERS[0], message_ts=ts)[0])
    listed = web.conversations_history(channel=CHANNEL)["messages"][0]

    assert [b["block_id"] for b in listed["blocks"]] == [b["block_id"] for b in sent["message"]["blocks"]]
    assert sent["actions"][0]["block_id"] == "mine"


def test_a_clicks_trigger_id_opens_one_modal_once_and_only_briefly(world, web):
    ts = posted_with_buttons(web)
    first = payload(world.signed_click("approve", "roll-1", user=APPROVERS[0], message_ts=ts)[0])["trigger_id"]
    late = payload(world.signed_click("approve", "roll-1", user=APPROVERS[0], message_ts=ts)[0])["trigger_id"]

    web.views_open(trigger_id=first, view=MODAL)
    with pytest.raises(SlackApiError) as again:
        web.views_open(trigger_id=first, view=MODAL)
    world.clock.advance(timedelta(seconds=4))
    with pytest.raises(SlackApiError) as expired:
        web.views_open(trigger_id=late, view=MODAL)

    assert again.value.response["error"] == "exchanged_trigger_id"
    assert expired.value.response["error"] == "expired_trigger_id"
