"""In the sandbox, a deny reason the bot refuses keeps the modal open with the bot's error under the field, as
Slack shows it, and the request stays open; a reason that fits then denies it."""

from __future__ import annotations

import json
import time
from urllib.request import Request, urlopen

import pytest

from standins.base import WAIT_CEILING
from standins.world import APPROVERS
from tests.e2e.sandbox_process import start_sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]
ALICE, BOB = APPROVERS


def post(sandbox, route: str, payload: dict) -> None:
    headers = {"Content-Type": "application/json", "X-Sandbox-Token": sandbox.page_token()}
    with urlopen(Request(sandbox.url + route, data=json.dumps(payload).encode(), headers=headers), timeout=5) as answer:
        assert answer.status in (200, 202)


def wait_for(sandbox, viewer: str, found, what: str, timeout: float = WAIT_CEILING):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = found(sandbox.state(viewer))
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} never appeared; sandbox output:\n" + "\n".join(sandbox.output[-40:]))


def test_a_deny_reason_over_the_limit_keeps_the_modal_open_with_the_bots_error_and_the_request_open():
    sandbox = start_sandbox()
    try:
        post(sandbox, "/sandbox/command", {"user": ALICE, "text": "roll CF_DNS_EDIT_GETRAXX_COM rotation"})
        asked = wait_for(sandbox, BOB, lambda s: next((m for m in s["messages"] if not m["ephemeral"]
                                                       and m["text"].startswith("Roll CF_DNS_EDIT_GETRAXX_COM")), None),
                         "the approval message")
        request_id = next(e["value"] for b in asked["blocks"] for e in b.get("elements", [])
                          if e.get("action_id") == "deny")
        post(sandbox, "/sandbox/action", {"user": BOB, "action_id": "deny", "value": request_id,
                                          "message_ts": asked["ts"], "block_id": "actions"})
        modal = wait_for(sandbox, BOB, lambda s: next(iter(s["views"]), None), "the deny modal")

        post(sandbox, "/sandbox/submit", {"user": BOB, "view_id": modal["id"],
                                          "values": {"reason": {"reason": "a" * 990 + "&" * 10}}})

        kept = wait_for(sandbox, BOB, lambda s: next((v for v in s["views"] if v.get("errors")), None), "the error")
        assert "A reason can be at most 1,000 characters, and yours is 1,040" in kept["errors"]["reason"]
        assert "waiting for approval" in next(m for m in sandbox.state(BOB)["messages"] if m["ts"] == asked["ts"])["text"]

        post(sandbox, "/sandbox/submit", {"user": BOB, "view_id": kept["id"], "values": {"reason": {"reason": "no"}}})

        wait_for(sandbox, BOB, lambda s: not s["views"] and any(m["ts"] == asked["ts"] and "denied" in m["text"]
                                                                for m in s["messages"]), "the denial")
    finally:
        sandbox.stop()
