"""The worker's side of domain/approval_binding.py: an operation acts only on the token its request was approved for.

    check(machine)                before each step: the request allows it, the owner kind is the approved one, and
                                  past pre-flight the vault still names the bound token
    bind(machine, id, issued_on)  at pre-flight: the vault's token must predate the approval; then it is bound into
                                  the request's signed record
    refuse(machine, exc)          a replay: logged, audited, one ⚠️; the checkpoint ends so it is never resumed, and
                                  a request the replayed run had marked running ends saying nothing was done
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Protocol

from domain import approval_binding, outbox, requests
from domain.errors import RecordTampered, RequestClosed, RequestNotFound
from domain.inventory import Token
from domain.requests import Request
from domain.vault import known_token_id
from workers.channel import refuse_forged
from workers.operations.checkpoints import Checkpoint
from workers.services import Services


class StepMachine(Protocol):
    """What this module reads of an operation (workers/operations/machine.py's StepMachine)."""

    services: Services
    checkpoint: Checkpoint
    request: Request
    token: Token
    table: Any
    resumes_ended: bool
    request_lost: bool

    @property
    def current(self) -> Any: ...

    @property
    def lost(self) -> bool: ...

    def ids_in_play(self) -> set[str]: ...

log = logging.getLogger(__name__)
REFUSED_RESULT = ("Refused: a copy of this request's record was put back into Redis after it had run (a replay), "
                  "so this run did nothing. What the request did before stands: see its thread.")


def check(machine: StepMachine) -> None:
    """RecordReplayed unless the operation may take its next step on the token it was approved for."""
    step = machine.current
    settled = {s.name for s in machine.table if s.settled} if machine.resumes_ended else set()
    approval_binding.check_runnable(machine.request, step.name, settled=settled)
    approval_binding.check_owner(machine.request, machine.token.owner)
    approval_binding.check_owner(machine.request, machine.checkpoint.get("owner") or machine.request.owner)
    if step.name == machine.table[0].name or step.settled:
        return  # pre-flight binds; a settled step changes nothing at Cloudflare or in the vault
    vault = getattr(machine, "vault", None)
    vault_id = known_token_id(machine.token, vault) if vault is not None else None
    approval_binding.check_bound(machine.request, machine.ids_in_play(), vault_id)


def bind(machine: StepMachine, token_id: str, issued_on: datetime | None) -> None:
    """Pre-flight found the token the vault names: refuse one issued after the approval, else bind it (signed)."""
    approval_binding.check_issued(machine.request, token_id, issued_on, skew=approval_binding.SKEW)
    if machine.lost:
        return
    machine.checkpoint.save(now=machine.services.now(), owner=machine.request.owner)  # signed with the checkpoint
    try:
        machine.request = requests.bind_token(machine.services.redis, machine.request.id, token_id=token_id,
                                              now=machine.services.now())
    except RequestNotFound:
        machine.request_lost = True


def refuse(machine: StepMachine, exc: RecordTampered) -> None:
    """Refused like a forged record; this checkpoint is never resumed again."""
    services = machine.services
    refuse_forged(services, exc)
    machine.checkpoint.finish(now=services.now())
    if machine.request.state != "running" or machine.lost:
        return
    try:
        requests.finish(services.redis, machine.request.id, ok=False, result=REFUSED_RESULT, now=services.now())
        outbox.redraw(services.redis, machine.request.id)
    except (RequestNotFound, RequestClosed, RecordTampered) as error:
        log.warning("request %s: not ended after the refused replay: %s", machine.request.id, error)
