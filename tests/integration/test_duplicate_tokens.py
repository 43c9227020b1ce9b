"""A second live token with an inventory token's name (an overlap whose old token was kept, a dashboard mistake):
the scan finds it in Cloudflare's list it already reads, posts it once and its fix once; verify shows it; during
an overlap rotation, when two tokens are expected, nothing is said. In-process: scan, verify and the rotation as
the worker runs them, on the stand-ins."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path

import pytest

from domain import overlap_requests
from domain.inventory import load_inventory
from domain.settings import DEFAULT_INVENTORY
from domain.status import read_statuses
from standins.world import APPROVERS, CHANNEL, World
from tests.integration.scenarios import approved_request, deliver
from workers.operations.checkpoints import Checkpoint
from workers.operations.runner import run_operation
from workers.scan.scan import scan
from workers.services import Services
from workers.verify.verification import verify_and_report

pytestmark = pytest.mark.integration
WAF = "CF_WAF_EDIT_RAXX_APP"
DNS = "CF_DNS_EDIT_GETRAXX_COM"


def second_token(world: World, name: str) -> str:
    """What pressing "Keep old" (or a dashboard copy) leaves: another live token with the same name and policies."""
    original = world.cloudflare.token(world.token_ids[name])
    assert original is not None
    world.clock.advance(timedelta(minutes=1))
    token_id, _ = world.cloudflare.add_token(name, policies=original["policies"],
                                             expires_on=original.get("expires_on"))
    return token_id


def alerts(world: World, name: str) -> list[str]:
    return [block["text"]["text"] for message in world.slack.messages(CHANNEL)
            if message.text.startswith("Cloudflare token check") for block in message.blocks
            if block["type"] == "section" and f"*{name}* — " in block["text"]["text"]
            and "tokens at Cloudflare are named" in block["text"]["text"]]


def fixes(world: World, name: str) -> list[str]:
    return [line for line in world.slack.channel_transcript(CHANNEL).splitlines()
            if line.strip().startswith(f"✅ *{name}*: a second live token with this name — fixed")]


def verify_text(world: World, name: str) -> str:
    return world.slack.as_text(next(m for m in reversed(world.slack.messages(CHANNEL))
                                    if m.text.startswith(f"verify {name}")))


def test_a_second_live_token_is_posted_once_with_its_facts_shown_by_verify_and_its_fix_said_once(world, services):
    scan(services)
    other = second_token(world, WAF)

    first, second = scan(services), scan(services)
    deliver(services)

    assert first.problems == (f"{WAF}:duplicate",) and second.problems == ()
    (alert,) = alerts(world, WAF)
    issued = world.cloudflare.token(other)["issued_on"]
    assert f"token {other} (active, issued {issued}, last used never)" in alert
    assert f"besides token {world.token_ids[WAF]}, the one cftoken uses" in alert
    assert "delete it in the dashboard" in alert and f"`/cftoken revoke {WAF}` deletes only token" in alert
    assert read_statuses(services.redis)[WAF].state == "warning"

    verify_and_report(services, WAF)
    deliver(services)
    report = verify_text(world, WAF)
    assert f"⚠️ *Same name* — also named {WAF} at Cloudflare: token {other} (active" in report

    world.cloudflare.remove(other)
    fixed, again = scan(services), scan(services)
    deliver(services)

    assert fixed.fixed == (f"{WAF}:duplicate",) and again.fixed == () and again.problems == ()
    assert len(fixes(world, WAF)) == 1
    assert read_statuses(services.redis)[WAF].state == "healthy"


@pytest.fixture
def overlapping(tmp_path, services) -> Services:
    """The services with DNS on an overlap rotation."""
    text = Path(DEFAULT_INVENTORY).read_text(encoding="utf-8")
    text, replaced = re.subn(rf'name = "{DNS}"\n',
                             f'name = "{DNS}"\nrotation = "overlap"\noverlap_minutes = 60\n', text)
    assert replaced == 1
    path = tmp_path / "inventory.toml"
    path.write_text(text, encoding="utf-8")
    return dataclasses.replace(services, inventory=load_inventory(path))


def test_two_tokens_during_an_overlap_are_not_reported_and_the_old_one_kept_by_keep_old_is(world, overlapping):
    old = world.token_ids[DNS]
    request_id = approved_request(overlapping.redis, world, "roll", DNS)
    run_operation(overlapping, request_id)  # creates the twin, stores it, then waits for the overlap to end

    named = [t for t in world.cloudflare.tokens() if t["name"] == DNS and t["status"] == "active"]
    assert len(named) == 2 and not Checkpoint.load(overlapping.redis, request_id).finished
    report = scan(overlapping)
    verify_and_report(overlapping, DNS)
    deliver(overlapping)

    assert f"{DNS}:duplicate" not in report.problems and alerts(world, DNS) == []
    verified = verify_text(world, DNS)
    assert f"✅ *Same name* — 2 tokens are named {DNS}, as an overlap rotation" in verified

    overlap_requests.end_overlap(overlapping.redis, request_id, choice="keep_old", user=APPROVERS[1], approvers=APPROVERS,
                         now=world.clock.now())
    run_operation(overlapping, request_id)  # the approver's Keep old ends the roll with both tokens live
    assert Checkpoint.load(overlapping.redis, request_id).finished
    kept, again = scan(overlapping), scan(overlapping)
    deliver(overlapping)

    assert kept.problems == (f"{DNS}:duplicate",) and again.problems == ()
    (alert,) = alerts(world, DNS)
    new = world.vault()[DNS + "__TOKEN_ID"]
    assert f"token {old} (active, issued" in alert and "kept live by an approver's Keep old)" in alert
    assert f"`/cftoken revoke {DNS}` would delete token {new} and {old} (kept by Keep old)" in alert
