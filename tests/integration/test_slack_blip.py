"""A Slack blip through the Procfile's processes (issue 23, finding 2, done-when): Slack answers every Web API call
`ok: false, error: internal_error` for 10 s while a roll runs and a revoke is asked. The roll still runs; its result
is posted once and its message ends without buttons; the revoke's approval message is posted once Slack recovers,
and the revoke stays open (before, both were dropped as refusals and the revoke was cancelled)."""

from __future__ import annotations

import re

import pytest

from bench.processes import start_clock, start_web, start_worker
from domain import requests
from domain.clock import utc_now
from standins.slack_requests import slash_command
from standins.world import APPROVERS, CHANNEL
from tests.integration.test_request_story import replies, send, top_level
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
ALICE, BOB = APPROVERS
ROLL, REVOKE = "CF_DNS_EDIT_GETRAXX_COM", "CF_PAGES_READ"
BLIP_SECONDS = 10


def ask(world, web_url: str, text: str) -> None:
    signed = slash_command(signing_secret=world.signing_secret, text=text, user_id=ALICE, channel_id=CHANNEL,
                           response_url=world.slack.new_response_url(ALICE, CHANNEL))
    assert send(web_url, signed) == 200


def open_request(redis_conn, action: str, token: str):
    return next((r for r in requests.open_requests(redis_conn, now=utc_now())
                 if r.action == action and r.token == token), None)


def test_a_10_s_internal_error_blip_delays_the_channel_and_drops_nothing(world, redis_conn, redis_url):
    env = world.settings_env(redis_url=redis_url)
    web, worker, clock = start_web(env), start_worker(env), start_clock(env)
    try:
        ask(world, web.url, f"roll {ROLL} quarterly")
        roll = wait_until(lambda: open_request(redis_conn, "roll", ROLL), what="the roll request")
        message = wait_until(lambda: requests.load(redis_conn, roll.id, now=utc_now()).message_ts,
                             what="the roll's approval message")

        world.slack.answer_errors("internal_error", seconds=BLIP_SECONDS)
        assert send(web.url, world.signed_click("approve", roll.id, user=BOB, message_ts=message)) == 200
        ask(world, web.url, f"revoke {REVOKE} leaked in a log")
        revoke = wait_until(lambda: open_request(redis_conn, "revoke", REVOKE), what="the revoke request")
        wait_until(lambda: requests.load(redis_conn, roll.id, now=utc_now()).state == "succeeded",
                   what="the roll to finish during the blip")
        blipped = world.slack.errors_answered

        result = wait_until(lambda: [t for t in replies(world, message) if t.startswith(f"✅ Rolled {ROLL}")],
                            what="the roll's result, once Slack recovers")
        wait_until(lambda: "[Approve]" not in world.slack.as_text(world.slack.message(CHANNEL, message)),
                   what="the roll's message redrawn without buttons")
        revoke_message = wait_until(lambda: requests.load(redis_conn, revoke.id, now=utc_now()).message_ts,
                                    what="the revoke's approval message, once Slack recovers")
        wait_until(lambda: len(replies(world, revoke_message)) >= 1, what="the approvers asked in its thread")
    finally:
        for process in (clock, worker, web):
            process.stop()

    assert blipped >= 1  # the processes met the blip
    assert len(result) == 1 and sum(t.startswith(f"✅ Rolled {ROLL}") for t in replies(world, message)) == 1
    final = world.slack.as_text(world.slack.message(CHANNEL, message))
    assert "[Approve]" not in final and "[Deny]" not in final
    shown = world.slack.as_text(world.slack.message(CHANNEL, revoke_message))
    assert f"{REVOKE}*" in shown and "[Approve]" in shown
    assert requests.load(redis_conn, revoke.id, now=utc_now()).state == "pending"
    assert [m.ts for m in top_level(world)] == [message, revoke_message]
    told = [world.slack.as_text(m) for m in world.slack.messages(CHANNEL, visible_to=ALICE) if m.ephemeral_for]
    assert not any("withdrawn" in text or "no longer available" in text for text in told)
    assert re.search(r"revoke-[0-9a-f]{12}", shown)
