"""Each operation's read-only pre-flight checks are declared once (its `checks`): the real pre-flight stops with a
check's own words, and the dry run shows the same words, for a plain roll and an overlap roll alike."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from domain import requests
from domain.dry_run_plan import CheckResult
from domain.errors import CftokenError
from domain.inventory import load_inventory
from domain.settings import DEFAULT_INVENTORY
from standins.world import APPROVERS, World
from tests.integration.scenarios import approved_request
from workers.operations.checkpoints import Checkpoint
from workers.operations.checks import Reads, stop_at_first
from workers.operations.dry_run import dry_run
from workers.operations.runner import roll_machine, run_operation

pytestmark = pytest.mark.integration
OVERLAP = "CF_DNS_EDIT_GETRAXX_COM"
ROLL = "CF_WAF_EDIT_RAXX_APP"


@pytest.fixture
def world(tmp_path):
    """The shipped inventory with OVERLAP rolled by overlap; ROLL keeps the plain roll."""
    text = Path(DEFAULT_INVENTORY).read_text(encoding="utf-8")
    text, replaced = re.subn(rf'name = "{OVERLAP}"\n', f'name = "{OVERLAP}"\nrotation = "overlap"\n', text)
    assert replaced == 1
    (tmp_path / "inventory.toml").write_text(text, encoding="utf-8")
    started = World.start(inventory=load_inventory(tmp_path / "inventory.toml"))
    yield started
    started.stop()


def check_wording(services, name: str) -> str:
    """What the roll's own checks say stops it, read from the checks themselves (not written out here)."""
    token = services.inventory.find(name)
    machine = roll_machine(Checkpoint(None, "-", {"action": "roll"}), token)
    vault = services.read_vault()
    with services.management_client(vault) as cloudflare, pytest.raises(CftokenError) as stopped:
        stop_at_first(machine.checks, Reads(token, vault, cloudflare))
    return str(stopped.value)


@pytest.mark.parametrize("how", ["disable", "expose"])
@pytest.mark.parametrize("name", [ROLL, OVERLAP])
def test_the_real_preflight_and_the_dry_run_stop_in_the_same_words(world, services, redis_conn, name, how):
    world.break_token(name, how)
    wording = check_wording(services, name)

    planned = dry_run(services, "roll", name, requested_by=APPROVERS[0])
    request_id = approved_request(redis_conn, world, "roll", name)
    run_operation(services, request_id)
    stopped = requests.load(redis_conn, request_id, now=world.clock.now())

    assert planned is not None and CheckResult(f"token {name} at Cloudflare", False, wording) in planned.checks
    assert stopped is not None and stopped.state == "failed"
    assert f"stopped at pre-flight before anything changed: {wording}" in stopped.result
    assert "revoke it instead" in wording if how == "expose" else "is disabled at Cloudflare" in wording
