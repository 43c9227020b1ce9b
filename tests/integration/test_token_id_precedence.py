"""The id the bot acts on is the vault's NAME__TOKEN_ID, not a token_id the inventory pins: after a revoke and its
provisioned replacement, verify checks the new token, and verify, the scan and `cftoken check` name the stale
pin with its fix. In-process: the revoke, the provision, verify and the scan as the worker runs them."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from domain.inventory import load_inventory
from domain.settings import DEFAULT_INVENTORY
from standins.world import CHANNEL, RUNBOOK_IDS
from tests.integration.scenarios import approved_request, deliver
from workers.cli.check import pin_check
from workers.operations.runner import run_operation
from workers.scan.scan import scan
from workers.services import Services
from workers.verify.verification import verify_and_report

pytestmark = pytest.mark.integration
DNS = "CF_DNS_EDIT_GETRAXX_COM"
OLD = RUNBOOK_IDS[DNS]


@pytest.fixture
def pinned(tmp_path, services) -> Services:
    """The services on an inventory that pins DNS's id as the runbook's table does."""
    text = Path(DEFAULT_INVENTORY).read_text(encoding="utf-8")
    text, replaced = re.subn(rf'name = "{DNS}"\n', f'name = "{DNS}"\ntoken_id = "{OLD}"\n', text)
    assert replaced == 1
    path = tmp_path / "inventory.toml"
    path.write_text(text, encoding="utf-8")
    return dataclasses.replace(services, inventory=load_inventory(path))


def test_after_a_revoke_and_its_replacement_verify_checks_the_new_token_and_names_the_stale_pin(world, pinned):
    revoke = approved_request(pinned.redis, world, "revoke", DNS, "leaked in a CI log")
    run_operation(pinned, revoke)
    provision = approved_request(pinned.redis, world, "provision", DNS, f"replacement for {revoke}", replaces=revoke)
    run_operation(pinned, provision)
    new = world.vault()[DNS + "__TOKEN_ID"]
    assert new != OLD and world.cloudflare.token(OLD) is None and world.cloudflare.token(new) is not None

    diagnosis = verify_and_report(pinned, DNS)
    deliver(pinned)

    assert diagnosis is not None and diagnosis.health is not None
    assert [p.kind for p in diagnosis.health.problems] == ["pin"] and diagnosis.state == "warning"
    report = world.slack.as_text(next(m for m in reversed(world.slack.messages(CHANNEL))
                                      if m.text.startswith(f"verify {DNS}")))
    assert "✅ *Cloudflare record* — status active" in report and "❌" not in report
    assert (f'⚠️ *{DNS}__TOKEN_ID* — drift: the inventory pins token_id = "{OLD}" but {DNS}__TOKEN_ID is {new}; '
            f"the bot uses {new}, the vault's") in report
    assert f'Remove token_id from {DNS} in the inventory, or update it to "{new}".' in report

    first, second = scan(pinned), scan(pinned)
    assert first.problems == (f"{DNS}:pin",) and second.problems == ()
    (problem,) = pin_check(pinned.inventory, pinned.read_vault().values)
    assert problem.startswith(f'{DNS}: the inventory pins token_id = "{OLD}"') and f'update it to "{new}"' in problem

