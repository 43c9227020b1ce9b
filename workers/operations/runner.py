"""The one entry of every operation, `run_operation(services, request_id)`, and the one runner map: which machine runs
a request's action. This is where the operations meet: each module holds one operation and imports no other.

Adding an operation: its module (a StepMachine subclass with its table, steps, checks and words), one entry below,
and the listener that opens its request.
"""

from __future__ import annotations

from domain.inventory import Token
from workers.operations.checkpoints import Checkpoint
from workers.operations.machine import MachineFor, Step, StepMachine, run_request
from workers.operations.overlap import OverlapRotation
from workers.operations.provision import Provisioning
from workers.operations.revoke import Revocation
from workers.operations.roll import Rotation
from workers.services import Services


def roll_machine(checkpoint: Checkpoint, token: Token | None) -> type[StepMachine]:
    """The strategy the roll began with (its checkpoint), else the inventory's."""
    strategy = checkpoint.get("strategy") or (token.rotation if token else None)
    return OverlapRotation if strategy == "overlap" else Rotation


RUNNERS: dict[str, MachineFor] = {
    "roll": roll_machine,
    "revoke": lambda checkpoint, token: Revocation,
    "provision": lambda checkpoint, token: Provisioning,
}


def machine_for(checkpoint: Checkpoint, token: Token | None) -> type[StepMachine]:
    return RUNNERS[checkpoint.action](checkpoint, token)


def table_of(checkpoint: Checkpoint) -> tuple[Step, ...]:
    """The step table of the operation `checkpoint` records (a revoke reads where the roll it ends had got to)."""
    return machine_for(checkpoint, None).table


def run_operation(services: Services, request_id: str, *, wait: bool = True) -> None:
    """Run (or resume) the roll, revoke or provisioning approved in `request_id`."""
    run_request(services, request_id, machine_for, wait=wait, tables=table_of)
