"""Each operation's steps are declared once; these check the tables are coherent and the error decision is right."""

import pytest

from domain.errors import (
    ManagementTokenInvalid,
    RateLimited,
    ServiceUnavailable,
    SettingsError,
    TokenBusy,
    UnexpectedResponse,
    VaultAccessDenied,
)
from workers.operations.machine import FIRST, MAX_TRIES, Step, outcome, retry_delay
from workers.operations.overlap import OverlapRotation
from workers.operations.provision import Provisioning
from workers.operations.revoke import Revocation
from workers.operations.roll import Rotation
from workers.operations.runner import RUNNERS

MACHINES = [Rotation, OverlapRotation, Revocation, Provisioning]


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_every_step_runs_a_method_of_its_operation_and_is_named_once(machine):
    names = [step.name for step in machine.table]

    assert len(set(names)) == len(names) and "done" not in names and names[0] == FIRST
    assert all(getattr(machine, step.run.__name__) is step.run for step in machine.table)
    assert all(step.label and step.where and step.changes for step in machine.table)


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_once_the_world_has_changed_it_stays_changed_and_settled_steps_come_last(machine):
    changed = [step.changed for step in machine.table]
    settled = [step.settled for step in machine.table]

    assert changed[0] is False and changed == sorted(changed)
    assert settled == sorted(settled)


def test_the_runner_map_runs_every_machine():
    from workers.operations.checkpoints import Checkpoint

    def machines(action: str, strategy: str) -> type:
        checkpoint = Checkpoint(None, "r1", {"action": action, "strategy": strategy})
        return RUNNERS[action](checkpoint, None)

    assert {machines(action, strategy) for action in RUNNERS for strategy in ("", "overlap")} == set(MACHINES)


BEFORE = Step("preflight", "pre-flight", Rotation.preflight, changed=False, where="nothing changed")
AFTER = Step("store", "storing", Rotation.store, changed=True, where="rolled, not stored")
SETTLED = Step("ticket", "the ticket", Revocation.open_ticket, changed=True, settled=True, where="revoked, no ticket")


@pytest.mark.parametrize(
    ("step", "error", "nothing_changed", "expected"),
    [
        (BEFORE, ServiceUnavailable("503"), True, "fail"),
        (BEFORE, SettingsError("FREESCOUT_URL is not set"), True, "fail"),
        (AFTER, ServiceUnavailable("503"), False, "pause"),
        (AFTER, RateLimited("429"), False, "pause"),
        (AFTER, TokenBusy("held"), False, "pause"),
        (AFTER, RuntimeError("a bug"), False, "pause"),
        (AFTER, UnexpectedResponse("Cloudflare answered HTTP 409 code 1099"), False, "pause"),  # bounded tries
        (BEFORE, UnexpectedResponse("Cloudflare answered HTTP 409 code 1099"), True, "fail"),
        (AFTER, VaultAccessDenied("403"), False, "operator"),
        (AFTER, ManagementTokenInvalid("401"), False, "operator"),
        (SETTLED, VaultAccessDenied("403"), False, "follow-up"),
        (SETTLED, ServiceUnavailable("503"), False, "follow-up"),
    ],
)
def test_an_error_fails_pauses_or_hands_over_the_operation_as_its_step_says(step, error, nothing_changed, expected):
    assert outcome(step, error, nothing_changed=nothing_changed) == expected


def test_a_reworded_check_stops_the_real_preflight_and_shows_in_the_dry_run_in_its_new_words():
    from domain.dry_run_plan import CheckResult
    from domain.errors import TokenDisabled
    from domain.inventory import load_inventory
    from domain.settings import DEFAULT_INVENTORY
    from workers.operations.checks import PreflightCheck, Reads, results, stop_at_first

    def reworded(reads: Reads) -> str:
        raise TokenDisabled(f"{reads.token.name} is switched off at Cloudflare")

    check = PreflightCheck("token {name} at Cloudflare", reworded)
    token = load_inventory(DEFAULT_INVENTORY).tokens[0]
    reads = Reads(token)

    with pytest.raises(TokenDisabled, match=f"^{token.name} is switched off at Cloudflare$"):
        stop_at_first([check], reads)
    assert results([check], reads) == [CheckResult(f"token {token.name} at Cloudflare", False,
                                                   f"{token.name} is switched off at Cloudflare")]


@pytest.mark.parametrize("machine", MACHINES, ids=lambda m: m.__name__)
def test_every_machine_declares_its_checks_once(machine):
    labels = [check.label for check in machine.checks]

    assert len(set(labels)) == len(labels)


def test_a_paused_step_is_tried_again_at_once_then_backing_off_and_a_bounded_number_of_times():
    delays = [retry_delay(pauses).total_seconds() / 60 for pauses in range(1, MAX_TRIES)]

    assert delays == [0, 1, 3, 7] and MAX_TRIES == 5
