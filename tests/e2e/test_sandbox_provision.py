"""In the sandbox, a person declares a new token in their own inventory, provisions it from the channel with a
second approver, and the side panel shows it at Cloudflare and in the vault."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from urllib.request import Request, urlopen

import pytest

from domain.timestamps import parse_timestamp
from standins.base import WAIT_CEILING
from standins.world import APPROVERS
from tests.e2e.sandbox_process import start_sandbox
from tests.integration.provisioning_scenarios import NEW, declare

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]
ALICE, BOB = APPROVERS


def post(sandbox, route: str, payload: dict) -> None:
    headers = {"Content-Type": "application/json", "X-Sandbox-Token": sandbox.page_token()}
    with urlopen(Request(sandbox.url + route, data=json.dumps(payload).encode(), headers=headers), timeout=5) as answer:
        assert answer.status == 202


def wait_for(sandbox, found, what: str, timeout: float = WAIT_CEILING):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = found(sandbox.state(ALICE))
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"{what} never appeared; sandbox output:\n" + "\n".join(sandbox.output[-40:]))


def test_a_token_declared_in_a_persons_inventory_is_provisioned_from_the_sandbox_channel(tmp_path):
    inventory = declare(tmp_path)
    sandbox = start_sandbox(CFTOKEN_INVENTORY=str(inventory))
    try:
        post(sandbox, "/sandbox/command", {"user": ALICE, "text": f"provision {NEW} raxx.io DNS automation"})
        asked = wait_for(sandbox, lambda s: next((m for m in s["messages"] if m["text"].startswith(f"Provision {NEW}")
                                                  and not m["ephemeral"]), None), "the approval message")
        request_id = next(e["value"] for b in asked["blocks"] for e in b.get("elements", [])
                          if e.get("action_id") == "approve")
        asked_at = parse_timestamp(sandbox.state()["clock"]["now"])

        post(sandbox, "/sandbox/action", {"user": BOB, "action_id": "approve", "value": request_id,
                                          "message_ts": asked["ts"], "block_id": "actions"})

        row = wait_for(sandbox, lambda s: next((t for t in s["world"]["tokens"] if t["name"] == NEW
                                                and t["status"] == "active"), None), f"{NEW} at Cloudflare")
        result = wait_for(sandbox, lambda s: next((r for m in s["messages"] for r in m["replies"]  # in its thread
                                                   if r["text"].startswith(f"✅ Provisioned {NEW}")), None), "the result")
        assert row["companions"]["__TOKEN_ID"] == row["token_id"]
        assert row["companions"]["__EXPIRES_AT"] == row["expires_on"]
        assert abs(parse_timestamp(row["expires_on"]) - (asked_at + timedelta(days=90))) < timedelta(minutes=5)
        assert row["vault"] and row["token_id"] in result["text"]
    finally:
        sandbox.stop()
