"""A roll and a revoke from start to finish, as the channel sees them: the Procfile's real `web` and `worker`
processes, real Redis, the stand-ins, signed commands and clicks over HTTP. One message per request in the channel,
its story in the thread: the approvers mentioned at the start, the requester at the end."""

from __future__ import annotations

import re
from urllib.request import Request, urlopen

import pytest

from bench.processes import start_web, start_worker
from domain import requests
from domain.clock import utc_now
from standins.slack_requests import slash_command
from standins.world import APPROVERS, CHANNEL
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
ALICE, BOB = APPROVERS
ROLL, REVOKE = "CF_DNS_EDIT_GETRAXX_COM", "CF_PAGES_READ"


def send(url: str, signed: tuple[str, dict[str, str]]) -> int:
    body, headers = signed
    with urlopen(Request(url + "/slack/events", data=body.encode(), headers=headers, method="POST"), timeout=10) as r:
        return r.status


def wait(found, what: str):
    return wait_until(found, what=what)


def top_level(world) -> list:
    return [m for m in world.slack.messages(CHANNEL, include_threads=False) if not m.ephemeral_for]


def replies(world, ts: str) -> list[str]:
    return [m.text for m in world.slack.thread(CHANNEL, ts)[1:]]


def ask_and_approve(world, redis_conn, web_url: str, text: str, token: str, result: str):
    """Alice asks, Bob approves (once the bot has recorded which message is the request's, as it has long before a
    person can click in Slack); returns the request's message once its thread ends with `result`."""
    signed = slash_command(signing_secret=world.signing_secret, text=text, user_id=ALICE, channel_id=CHANNEL,
                           response_url=world.slack.new_response_url(ALICE, CHANNEL))
    assert send(web_url, signed) == 200
    message = wait(lambda: next((m for m in top_level(world) if f"{token}*" in world.slack.as_text(m)
                                 and "[Approve]" in world.slack.as_text(m)), None), f"the {token} approval message")
    request_id = re.search(r"(roll|revoke)-[0-9a-f]{12}", world.slack.as_text(message)).group(0)
    wait(lambda: requests.load(redis_conn, request_id, now=utc_now()).message_ts == message.ts, "the message recorded")
    assert send(web_url, world.signed_click("approve", request_id, user=BOB, message_ts=message.ts)) == 200
    wait(lambda: any(text.startswith(result) for text in replies(world, message.ts)), f"the {token} result")
    return message


def test_a_roll_and_a_revoke_leave_one_message_each_with_the_story_in_its_thread(world, redis_conn, redis_url):
    env = world.settings_env(redis_url=redis_url)
    web, worker = start_web(env), start_worker(env)
    try:
        roll = ask_and_approve(world, redis_conn, web.url, f"roll {ROLL} quarterly", ROLL, f"✅ Rolled {ROLL}")
        revoke = ask_and_approve(world, redis_conn, web.url, f"revoke {REVOKE} leaked in a log", REVOKE, f"✅ Revoked {REVOKE}")
        wait(lambda: "[Approve]" not in world.slack.as_text(world.slack.message(CHANNEL, revoke.ts)), "the redraw")
    finally:
        worker.stop()
        web.stop()

    assert [m.ts for m in top_level(world)] == [roll.ts, revoke.ts]
    for message, result in ((roll, f"✅ Rolled {ROLL}"), (revoke, f"✅ Revoked {REVOKE}")):
        story = replies(world, message.ts)
        assert f"<@{BOB}>" in story[0] and "asks to" in story[0]  # the approvers, asked first
        assert f"<@{ALICE}>: approved by <@{BOB}>" in story[1]
        assert story[-1].startswith(result) and story[-1].endswith(f"cc <@{ALICE}>")  # the requester, at the end
        assert sum(text.startswith(result) for text in story) == 1
        final = world.slack.as_text(world.slack.message(CHANNEL, message.ts))
        assert "[Approve]" not in final and "[Deny]" not in final
    assert any("Deleted at Cloudflare" in text for text in replies(world, revoke.ts))
    assert any("stored in the vault" in text for text in replies(world, roll.ts))
