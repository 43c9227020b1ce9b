"""How every operation runs: each declares its steps once (a table of `Step`s, each naming the method that carries it
out) and one skeleton runs them: `run_request` opens the request and its checkpoint, takes the token's lock, marks
the request running, and `StepMachine.run` reads the vault, opens the management client once, runs the steps
(checkpointing each) until done or waiting, closes the client, and ends every error in one of four ways the table
decides.

    fail       nothing has changed yet: the request fails, and the channel is told what still holds (`unchanged`)
    pause      the world has changed and the error is one that waiting may fix (an outage, an answer the bot does
               not understand): retried with backoff, MAX_TRIES times in all, then handed to an operator
    operator   the world has changed and retrying cannot fix it: the request fails, naming which value is where
    follow-up  the outcome was already reported (a revoke's ticket): retried, or handed to a person

Redis losing the records mid-way (a restart without persistence) does not stop a worker that has changed the
world: it finishes from memory and says what happened; before any change it stops and says nothing changed.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import SecretStr
from redis.exceptions import RedisError

from domain import approval_binding, requests, status
from domain.errors import (
    TRANSIENT,
    CftokenError,
    OperationLost,
    RecordReplayed,
    RecordsLost,
    RequestClosed,
    RequestNotFound,
    UnexpectedResponse,
)
from domain.health_words import unchanged_text
from domain.inventory import Token
from domain.messages import render_interrupted
from domain.metrics import count_operation
from domain.requests import Request
from domain.vault import Vault
from workers.channel import conclude, post, refresh_message, result_owed, settle, show_step
from workers.clients.cloudflare import CloudflareClient
from workers.operations import approval
from workers.operations.checkpoints import Checkpoint
from workers.operations.sealing import unseal_or_none
from workers.operations.token_lock import TokenLock, token_lock
from workers.services import Services

log = logging.getLogger(__name__)
FIRST = "preflight"  # every table's first step: read-only
MAX_TRIES = 5  # a paused step is tried this many times in all (backing off), then it needs an operator
RETRYING = ("The bot tries again {when} ({left} more at most, backing off); an operator can run `cftoken reconcile` "
            "once the cause is fixed.")


def retry_delay(pauses: int) -> timedelta:
    """How long after its `pauses`-th pause a step is tried again: the next reconcile, then 1, 3, 7 … minutes."""
    return timedelta(minutes=2 ** (pauses - 1) - 1)


@dataclass(frozen=True)
class Step:
    """One step of an operation, declared once: the runner, the messages and the "nothing changed" logic read it."""

    name: str  # the checkpoint's `step` while this step is the next to run
    label: str  # what people read, e.g. "storing the new value in the vault"
    run: Callable[[Any], None]  # the machine's method that carries it out
    changed: bool  # by the time this step runs, Cloudflare, the vault or FreeScout may differ from before
    where: str  # which value is where if the operation stops before this step (said to the channel)
    risky: bool = False  # the step itself changes the world: an unanswered call may have taken effect
    settled: bool = False  # the request's result is already posted: an error here is a follow-up
    changes: str = ""  # what running this step changes, and where (a dry run's plan lists it)


def outcome(step: Step, error: BaseException, *, nothing_changed: bool) -> str:
    """fail | pause | operator | follow-up: what an error at `step` does to the operation (pure)."""
    # A bug, or an answer the bot does not understand: retrying (a bounded number of times) is safe.
    waiting_helps = isinstance(error, (*TRANSIENT, UnexpectedResponse)) or not isinstance(error, CftokenError)
    if step.settled:
        return "follow-up"
    if nothing_changed:
        return "fail"
    return "pause" if waiting_helps else "operator"


def open_operation(services: Services, request_id: str) -> tuple[Request, Checkpoint] | None:
    """The approved request and its checkpoint (created at the first step); None when nothing is left to do."""
    request = requests.load(services.redis, request_id, now=services.now())
    if request is None:
        log.error("request %s: no such request", request_id)
        return None
    if not Checkpoint.exists(services.redis, request_id) and request.state not in ("approved", "queued", "running"):
        log.info("%s %s is %s: nothing to run", request.action, request_id, request.state)  # e.g. superseded
        return None
    checkpoint = Checkpoint.open(services.redis, request_id, action=request.action, token=request.token, first=FIRST,
                                 now=services.now())
    return None if checkpoint.finished else (request, checkpoint)


class StepMachine:
    """An operation as a table of steps; the checkpoint names the next one to run. A subclass declares `verb`, `noun`
    and `table`, and its step methods; everything else is shared."""

    verb: ClassVar[str]  # "Roll", "Revoke"
    noun: ClassVar[str]  # "roll", "revoke", "provisioning": as in "its roll cannot go on"
    table: ClassVar[tuple[Step, ...]]
    checks: ClassVar[tuple[Any, ...]] = ()  # its read-only pre-flight checks (workers/operations/checks.py)
    opens_client: ClassVar[bool] = True  # the management client opened once for the run (revoke opens its own)
    resumes_ended: ClassVar[bool] = False  # runs on after its request ended (a revoke's ticket follow-up)

    def __init__(self, services: Services, checkpoint: Checkpoint, request: Request, token: Token, lock: TokenLock,
                 *, tables: Callable[[Checkpoint], tuple[Step, ...]] | None = None) -> None:
        self.services, self.checkpoint, self.request, self.token, self.lock = services, checkpoint, request, token, lock
        self.tables = tables  # another operation's step table by its checkpoint (a revoke reads the roll it ends)
        self.new_value: SecretStr | None = None  # a minted or rolled value, held in memory only until stored
        self.waiting = False  # set by a step that waits (an overlap before its deadline): the clock resumes it
        self.request_lost = False
        self.vault: Vault
        self.cloudflare: CloudflareClient | None = None
        self.prepare()

    def prepare(self) -> None:
        """What one operation works out before its first step (provisioning's plan); most need nothing."""

    @classmethod
    def idle(cls, checkpoint: Checkpoint, request: Request, now: datetime) -> bool:
        """True when a resume has nothing to do yet (no vault, Cloudflare or Slack call): an overlap's wait."""
        return False

    @property
    def unchanged(self) -> str:
        """What holds when nothing changed: the vault's value as it was, and its last known health with its age."""
        return unchanged_text(status.read_status(self.services.redis, self.token.name), self.services.now())

    @property
    def current(self) -> Step:
        return next(step for step in self.table if step.name == self.checkpoint.step)

    @property
    def lost(self) -> bool:
        """Redis no longer has this operation's checkpoint or request: this worker is its only record."""
        return self.checkpoint.lost or self.request_lost

    def run(self) -> None:
        """Read the vault, open the management client, and run steps until done or waiting, renewing the token lock
        before each (a lost lock stops this worker)."""
        self.vault = self.services.read_vault()
        if self.opens_client:
            self.cloudflare = self.services.management_client(self.vault, self.token)
        try:
            while not self.checkpoint.finished and not self.waiting:
                step = self.current
                if self.lost and self.nothing_changed(RecordsLost("")):
                    raise RecordsLost(f"Redis lost the records of request {self.request.id}")
                self.lock.renew()
                approval.check(self)  # RecordReplayed: run_request refuses it (approval.refuse), nothing changes
                step.run(self)
        finally:
            if self.cloudflare is not None:
                self.cloudflare.close()

    @property
    def secret_key(self) -> SecretStr:
        return self.services.settings.cftoken_secret_key

    @property
    def token_id(self) -> str:
        """The id of the token the operation acts on (made, rolled or deleted), once its pre-flight recorded it."""
        return self.checkpoint.fields["token_id"]

    def held_value(self) -> SecretStr | None:
        """The new value: in memory, else unsealed from the checkpoint (the key, or the previous key while it is
        being changed); None when neither has it."""
        if self.new_value is not None:
            return self.new_value
        return unseal_or_none(self.checkpoint.sealed(), self.secret_key,
                              self.services.settings.cftoken_secret_key_previous)

    def ids_in_play(self) -> set[str]:
        """The Cloudflare token ids this operation acts on, as its checkpoint holds them (none before pre-flight)."""
        token_id = self.checkpoint.get("token_id")
        return {token_id} if token_id else set()

    def advance(self, **values: str) -> None:
        """Checkpoint that the current step is done: the next one in the table is to run."""
        self.goto(self.following, **values)

    @property
    def following(self) -> str:
        """The step after the current one in the table ("done" after the last)."""
        names = [step.name for step in self.table]
        return names[names.index(self.checkpoint.step) + 1] if self.checkpoint.step != names[-1] else "done"

    def goto(self, step: str, *, drop: tuple[str, ...] = (), **values: Any) -> None:
        """Checkpoint that `step` is next; moving to another step starts its tries afresh."""
        moved = step != self.checkpoint.step and self.checkpoint.get("pauses") is not None
        self.checkpoint.save(now=self.services.now(), step=step,
                             drop=(*drop, "pauses", "retry_at") if moved else drop, **values)

    def show(self, progress: str) -> None:
        """The step in progress on the approval message (skipped once the request record is gone)."""
        if self.lost:
            return
        try:
            show_step(self.services, self.request.id, progress)
        except RequestNotFound:
            self.request_lost = True
        except RequestClosed as exc:  # the request already ended (e.g. a ticket that follows its revoke)
            log.info("request %s: no progress shown: %s", self.request.id, exc)

    def nothing_changed(self, error: BaseException) -> bool:
        """True when the world is still as it was before the operation (the table says; risky steps ask)."""
        step = self.current
        if step.changed:
            return False
        return not step.risky or not isinstance(error, TRANSIENT) and isinstance(error, CftokenError)

    def conclude(self, *, ok: bool, result: str, ticket_url: str | None = None, reroll: bool = False,
                 ticket_number: int | None = None, broadcast: bool = False, finish: bool = True,
                 advance: bool = False) -> None:
        """End the request with `result` (a failure, or a success that must not stay in a thread, `broadcast` to the
        channel) and (`finish`) the operation, or (`advance`) go on to the step after the result, in one MULTI;
        without its records, post the result and redraw the message from memory."""
        try:
            count_operation(self.services.redis, self.verb.lower(), "succeeded" if ok else "failed")
        except RedisError:
            log.warning("could not count the %s for /metrics", self.verb.lower())
        if not self.lost:
            try:
                conclude(self.services, self.checkpoint, ok=ok, result=result, ticket_url=ticket_url,
                         ticket_number=ticket_number, broadcast=broadcast,
                         next_step=self.following if advance else "done" if finish else None,
                         replies=(("reroll", *self.reroll_offer()),) if reroll else ())
                return
            except RequestNotFound:
                self.request_lost = True
        icon = "✅" if ok else "❌"
        note = (f"\n(Redis lost the bot's records of request `{self.request.id}` mid-way; the worker finished from "
                "what it held in memory. See README 'Redis'.)")
        text, blocks = render_interrupted(f"{icon} {result}{note}", self.token.name, reroll=reroll)
        post(self.services, text, blocks=blocks, request_id=self.request.id, key="result", in_thread=False)
        state = "succeeded" if ok else "failed"
        refresh_message(self.services, self.request.model_copy(update={"state": state, "result": result}))
        if advance:
            self.advance()
        elif finish:
            self.checkpoint.finish(now=self.services.now())

    def reroll_offer(self) -> tuple[str, list]:
        """The reply that offers a roll of this token once the cause is fixed (text, blocks)."""
        return render_interrupted(
            f"To put a working value in the vault once the cause is fixed, request a roll of {self.token.name}:",
            self.token.name, reroll=True,
        )

    def stop(self, error: BaseException) -> None:
        """End, pause or hand over the operation after `error`, as the step table decides; say so once."""
        step = self.current
        why = str(error) if isinstance(error, CftokenError) else unexpected(error)
        runbook = (f"\nNext step: {error.next_step(self.token.name)}" if isinstance(error, CftokenError)
                   and error.runbook else "")
        decided = outcome(step, error, nothing_changed=self.nothing_changed(error))
        name = f"{self.verb} of {self.token.name}"
        if decided == "fail":
            lost = isinstance(error, RecordsLost)
            self.conclude(ok=False, result=(
                f"{name} stopped at {step.label} before anything changed: {why}\n"
                f"Nothing was changed: {self.unchanged}.{runbook}"
            ), reroll=lost and self.verb == "Roll")
        elif decided == "operator" or decided == "pause" and self.tries() >= MAX_TRIES:
            refused = "was refused" if decided == "operator" else f"failed {MAX_TRIES} times"
            self.conclude(ok=False, result=(
                f"{name} needs an operator: {step.label} {refused}: {why}\n{self.where(step, ending=True)}{runbook}"
            ), reroll=self.verb == "Roll")
        elif decided == "follow-up":
            self.follow_up(error, why)
        else:
            self.pause(step, why, runbook)

    def tries(self) -> int:
        """How many times the current step has been tried and paused (this try included)."""
        return int(self.checkpoint.get("pauses") or 0) + 1

    def pause(self, step: Step, why: str, runbook: str) -> None:
        tries, now = self.tries(), self.services.now()
        due = now + retry_delay(tries)
        self.checkpoint.save(now=now, note=f"paused at {step.label}: {why}", pauses=str(tries),
                             retry_at=due.isoformat())
        self.show(f"{step.label} — paused, retrying automatically")
        when = "at the next reconcile (within a minute)" if due <= now else f"at {due:%H:%M} UTC"
        retrying = RETRYING.format(when=when, left=MAX_TRIES - tries)
        text = f"⚠️ {self.verb} of {self.token.name} paused at {step.label}: {why}\n{self.where(step)}\n{retrying}"
        post(self.services, text + runbook, request_id=self.request.id, key=f"paused:{step.name}", broadcast=True,
             in_thread=not self.lost)
        remember_paused(self, step)

    def where(self, step: Step, *, ending: bool = False) -> str:
        """Which value is where, stopped before `step` (the table's words; a machine may add what it holds)."""
        return step.where

    def follow_up(self, error: BaseException, why: str) -> None:
        raise NotImplementedError  # only operations with settled steps have follow-ups


MachineFor = Callable[[Checkpoint, Token | None], type[StepMachine]]


def run_request(services: Services, request_id: str, machine_for: MachineFor, *, wait: bool = True,
                tables: Callable[[Checkpoint], tuple[Step, ...]] | None = None) -> None:
    """Run (or resume) the operation approved in `request_id` with the machine `machine_for` picks for its checkpoint
    and token: under the token's lock, the request marked running; any error ends, pauses or hands it over as the
    step table says."""
    opened = open_operation(services, request_id)
    if opened is None:
        return
    request, checkpoint = opened
    token = services.inventory.find(request.token)
    if machine_for(checkpoint, token).idle(checkpoint, request, services.now()):
        return  # e.g. an overlap waiting for its deadline or an approver's choice: nothing to call or redraw
    with token_lock(services, request.token, wait=wait) as lock:
        checkpoint = Checkpoint.load(services.redis, request_id)  # another worker may have moved it meanwhile
        if checkpoint.finished or checkpoint.lost:
            return
        machine = machine_for(checkpoint, token)  # the strategy it began with, else the inventory's
        if result_owed(services, request):  # it ended, and the worker died before its result was queued
            ends = not goes_on_ended(machine, checkpoint)
            settle(services, checkpoint, request, finish=ends)  # the report only: nothing at Cloudflare or the vault
            if ends:
                forget_paused(services, request_id)
                return
        if token is None:
            raise CftokenError(f"{request.token} is no longer in the inventory, so its {machine.noun} cannot go on")
        if request.state in approval_binding.RUNNABLE:  # an ended one runs only a settled step (approval.check)
            try:
                request = requests.mark_running(services.redis, request_id, now=services.now())
            except requests.RequestNotFound:
                log.error("%s %s: the request record is gone before the %s began", request.action, request_id,
                          machine.noun)
                return
            refresh_message(services, request)
        operation = machine(services, checkpoint, request, token, lock, tables=tables)
        try:
            operation.run()
        except OperationLost:
            log.warning("%s %s: another worker took over", request.action, request_id)
        except RecordReplayed as exc:  # a copy of an earlier record: nothing changed, never resumed
            approval.refuse(operation, exc)
        except Exception as exc:  # noqa: BLE001 - the step table decides; unexpected errors get a reference
            operation.stop(exc)
        if checkpoint.finished:
            forget_paused(services, request_id)


def goes_on_ended(machine: type[StepMachine], checkpoint: Checkpoint) -> bool:
    """True when the operation of a request that already ended goes on: only past its report (a revoke's ticket)."""
    return machine.resumes_ended and any(step.settled and step.name == checkpoint.step for step in machine.table)


def unexpected(error: BaseException) -> str:
    """Log an error outside the tree with a reference id; return the words that quote it."""
    reference = secrets.token_hex(4)
    log.error("unexpected error, reference %s", reference, exc_info=error)
    return f"an unexpected error (reference `{reference}`, in the worker's log)"


@dataclass(frozen=True)
class Paused:
    """What this worker process last told the channel about a paused operation (survives Redis losing data)."""

    request: Request
    token: str
    verb: str
    label: str


def remember_paused(machine: StepMachine, step: Step) -> None:
    machine.services.paused[machine.request.id] = Paused(machine.request, machine.token.name, machine.verb, step.label)


def forget_paused(services: Services, request_id: str) -> None:
    services.paused.pop(request_id, None)


def paused_here(services: Services) -> list[Paused]:
    """Operations this process paused and has not seen finish."""
    return list(services.paused.values())
