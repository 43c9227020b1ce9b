"""The rotation strategy in the inventory: what it accepts, where the id is read from, and how it reads."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from domain.errors import InventoryError
from domain.inventory import load_inventory
from domain.messages import strategy_short
from domain.requests import Request
from domain.settings import DEFAULT_INVENTORY
from domain.vault import Vault, token_id_of
from tests.conftest import make_settings
from workers.approval_message import strategy_text
from workers.cli.check import offline_check
from workers.operations.checkpoints import Checkpoint
from workers.operations.overlap import waiting, waiting_text

NAME = "CF_DNS_EDIT_GETRAXX_COM"
PINNED = "6f4a364c8edccc31e365efdd12ec5adf"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def inventory_with(tmp_path: Path, fields: str, *, keep_id: bool = False) -> Path:
    text = Path(DEFAULT_INVENTORY).read_text(encoding="utf-8")
    pinned = f'token_id = "{PINNED}"\n' if keep_id else ""
    text, replaced = re.subn(rf'name = "{NAME}"\n', f'name = "{NAME}"\n{pinned}{fields}\n', text)
    assert replaced == 1
    path = tmp_path / "inventory.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_overlap_defaults_to_a_day_and_roll_is_the_default_strategy(tmp_path):
    inventory = load_inventory(inventory_with(tmp_path, 'rotation = "overlap"'))

    assert inventory.find(NAME).overlap == 1440
    assert {t.rotation for t in inventory.tokens if t.name != NAME} == {"roll"}


@pytest.mark.parametrize(("fields", "told"), [
    ("overlap_minutes = 60", 'overlap_minutes applies only with rotation = "overlap"'),
    ('rotation = "overlap"\noverlap_minutes = 0', "must be between 1 and 10080"),
    ('rotation = "blue-green"', "rotation"),
])
def test_a_strategy_the_bot_cannot_run_is_refused_when_the_inventory_loads(tmp_path, fields, told):
    with pytest.raises(InventoryError, match=told):
        load_inventory(inventory_with(tmp_path, fields))


def test_an_overlap_token_reads_its_id_from_the_vault_and_check_flags_a_pinned_one(tmp_path):
    path = inventory_with(tmp_path, 'rotation = "overlap"', keep_id=True)
    token = load_inventory(path).find(NAME)
    vault = Vault({f"{NAME}__TOKEN_ID": SecretStr("a" * 32)}, "/p", "prod")

    assert token_id_of(token, vault) == "a" * 32
    _, problems = offline_check(make_settings(cftoken_inventory=str(path)))
    assert any(f'{NAME} uses rotation = "overlap"' in p and "remove it" in p for p in problems)


def test_the_strategy_reads_how_the_old_value_ends(tmp_path):
    overlap = load_inventory(inventory_with(tmp_path, 'rotation = "overlap"\noverlap_minutes = 90')).find(NAME)
    roll = load_inventory(DEFAULT_INVENTORY).find(NAME)

    assert "the old value stops working at once" in strategy_text(roll, NOW)
    assert "keeps working 90 min after the new one is in the vault" in strategy_text(overlap, NOW)
    assert strategy_short(roll, None, NOW) == "roll in place"
    assert strategy_short(overlap, None, NOW) == "overlap (90 min)"
    assert strategy_short(overlap, NOW + timedelta(minutes=5), NOW).startswith("overlap: the old value dies <!date^")
    assert strategy_short(overlap, NOW - timedelta(minutes=5), NOW) == "overlap (90 min)"


def overlap_at_retire(**changes: str):
    """A checkpoint and request of an overlap roll waiting at `retire`, its wait shown, one day from NOW."""
    deadline = NOW + timedelta(days=1)
    fields = {"action": "roll", "token": NAME, "step": "retire", "strategy": "overlap",
              "retire_at": deadline.isoformat(), **changes}
    request = Request(id="roll-0123456789ab", action="roll", token=NAME, requester="U0ALICE01", reason="", needed=1,
                      state="running", created_at=NOW, expires_at=NOW, channel="C0SRE0001", updated_at=NOW,
                      retire_at=deadline, step=waiting_text(deadline))
    return Checkpoint(None, request.id, fields), request  # type: ignore[arg-type]


def test_a_waiting_overlap_is_left_alone_until_its_deadline_or_a_choice():
    checkpoint, request = overlap_at_retire()
    chosen = request.model_copy(update={"overlap_end": "keep_old"})
    unshown = request.model_copy(update={"step": "verified"})

    assert waiting(checkpoint, request, NOW)
    assert not waiting(checkpoint, request, NOW + timedelta(days=1))  # the deadline: retire
    assert not waiting(checkpoint, chosen, NOW)  # an approver pressed a button: act now
    assert not waiting(checkpoint, unshown, NOW)  # the wait is not on the message yet: show it once
    assert not waiting(overlap_at_retire(step="announce")[0], request, NOW)
    assert not waiting(overlap_at_retire(strategy="roll")[0], request, NOW)


def test_an_overlap_rolls_strategy_line_shows_the_workers_deadline_after_approval_and_the_past_once_done(tmp_path):
    overlap = load_inventory(inventory_with(tmp_path, 'rotation = "overlap"\noverlap_minutes = 90')).find(NAME)
    deadline = NOW + timedelta(minutes=95)
    _, running = overlap_at_retire()
    running = running.model_copy(update={"retire_at": deadline})
    queued = running.model_copy(update={"state": "queued", "retire_at": None})

    pending = strategy_text(overlap, NOW, running.model_copy(update={"state": "pending", "retire_at": None}))
    assert "if it runs now" in pending
    assert "if it runs now" not in strategy_text(overlap, NOW, queued)
    assert "the worker fixes the deadline then" in strategy_text(overlap, NOW, queued)
    assert strategy_text(overlap, NOW + timedelta(hours=5), running) == (
        f"overlap: a twin token is created, stored and verified first; the old value keeps working until "
        f"<!date^{int(deadline.timestamp())}^{{date_short_pretty}} {{time}}|2026-12-01 13:35 UTC>, then the old "
        "token is deleted.")
    done = running.model_copy(update={"state": "succeeded", "overlap_end": "deadline"})
    assert "the old value kept working until <!date^" in strategy_text(overlap, NOW, done)
    kept = done.model_copy(update={"overlap_end": "keep_old"})
    assert "was kept live (Keep old)" in strategy_text(overlap, NOW, kept)
    early = done.model_copy(update={"overlap_end": "retire_now"})
    assert "deleted early (Retire old now)" in strategy_text(overlap, NOW, early)
    denied = queued.model_copy(update={"state": "denied"})
    assert "it did not run" in strategy_text(overlap, NOW, denied)
    for finished in (done, kept, early, denied):
        assert " is created" not in strategy_text(overlap, NOW, finished)
