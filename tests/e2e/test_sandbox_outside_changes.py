"""In the sandbox, the world panel's "rolled in the Cloudflare dashboard" and "a value pasted into the vault by
hand" are each followed by the bot's message: the scan names the dashboard roll from Cloudflare's audit log, and
Infisical's signed secrets.modified webhook has the pasted value checked at once."""

from __future__ import annotations

import json
from urllib.request import Request, urlopen

import pytest

from tests.e2e.sandbox_process import start_sandbox
from tests.e2e.test_sandbox_provision import wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
DNS = "CF_DNS_EDIT_GETRAXX_COM"


def break_token(sandbox, how: str) -> str:
    headers = {"Content-Type": "application/json", "X-Sandbox-Token": sandbox.page_token()}
    body = json.dumps({"name": DNS, "how": how}).encode()
    with urlopen(Request(sandbox.url + "/sandbox/break", data=body, headers=headers), timeout=10) as answer:
        assert answer.status == 200
        return json.loads(answer.read())["done"]


def said(sandbox, start: str):
    return wait_for(sandbox, lambda s: next((m["text"] for m in s["messages"] if m["text"].startswith(start)),
                                            None), f"a message starting {start!r}")


def test_a_dashboard_roll_and_a_hand_paste_are_each_followed_by_the_bots_message():
    sandbox = start_sandbox()
    try:
        assert "Cloudflare dashboard" in break_token(sandbox, "dashboard_roll")
        rolled = said(sandbox, f":mag: *Changed outside the bot:* {DNS} was rolled at Cloudflare by "
                               "someone@example.test")
        break_token(sandbox, "hand_paste")  # the live value pasted into the vault (the scan above saw the old one)
        pasted = said(sandbox, f":pencil2: *{DNS}*'s value in the vault was changed outside the bot")
    finally:
        sandbox.stop()

    assert "`/cftoken roll CF_DNS_EDIT_GETRAXX_COM`" in rolled
    assert "the new value works" in pasted, pasted
