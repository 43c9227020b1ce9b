"""The sandbox page drives the bot only from itself: its per-run token, its own Host, JSON bodies."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from sandbox.channel_page import Sandbox, install
from standins.world import APPROVERS
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def page(world, redis_conn):
    # No bot listens at bot_url: a request that got through shows as Slack's "dispatch_failed" in the channel.
    sandbox = Sandbox(world=world, bot_url="http://127.0.0.1:9", redis=redis_conn, offset_key="cftoken:test:offset")
    install(sandbox)
    return sandbox


def delivered(world) -> list[str]:
    return [world.slack.as_text(m) for m in world.slack.messages("C0SRE0001", visible_to=APPROVERS[0])]


def delivered_after_a_while(world) -> list[str]:
    """For a refusal: what reached the channel after the background delivery had time to show a leak (a request
    that got through shows within milliseconds; the positive test below waits for that event itself)."""
    time.sleep(0.3)
    return delivered(world)


def test_the_page_carries_this_runs_token(page):
    html = httpx.get(page.world.slack.url + "/").text

    assert re.search(r'name="sandbox-token" content="([^"]+)"', html).group(1) == page.page_token


def test_a_cross_origin_text_plain_post_is_refused_and_reaches_nothing(page):
    body = '{"user": "U0ALICE01", "text": "/cftoken roll CF_PAGES_DEPLOY"}'

    answer = httpx.post(page.world.slack.url + "/sandbox/command", content=body,
                        headers={"Content-Type": "text/plain", "Origin": "https://attacker.example"})

    assert answer.status_code == 403
    assert delivered_after_a_while(page.world) == []


def test_the_token_alone_is_not_enough_without_a_json_body(page):
    answer = httpx.post(page.world.slack.url + "/sandbox/action", content='{"user": "U0ALICE01"}',
                        headers={"Content-Type": "text/plain", "X-Sandbox-Token": page.page_token})

    assert answer.status_code == 415
    assert delivered_after_a_while(page.world) == []


@pytest.mark.parametrize("path", ["/", "/sandbox/state", "/sandbox/command"])
def test_a_rebound_host_name_is_refused(page, path):
    port = page.world.slack.url.rsplit(":", 1)[1]
    headers = {"Host": f"attacker.example:{port}", "X-Sandbox-Token": page.page_token}

    answer = httpx.request("POST" if path == "/sandbox/command" else "GET", page.world.slack.url + path,
                           json={"user": APPROVERS[0], "text": "/cftoken help"}, headers=headers)

    assert answer.status_code == 421
    assert delivered_after_a_while(page.world) == []


def test_the_page_itself_is_delivered_to_the_bot(page):
    answer = httpx.post(page.world.slack.url + "/sandbox/command", json={"user": APPROVERS[0], "text": "/cftoken help"},
                        headers={"X-Sandbox-Token": page.page_token})

    assert answer.status_code == 202
    assert wait_until(lambda: any("dispatch_failed" in text for text in delivered(page.world)),
                      what="the command to reach the (absent) bot")
