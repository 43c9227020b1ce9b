"""Finish what a dead process left half-done: approved requests the web never queued, operations a worker never
finished, and paused operations whose records Redis lost. Runs on worker start, every minute from the clock, and
on `cftoken reconcile`. One operation's failure never stops the loop from reaching the next.
"""

from __future__ import annotations

import logging

from domain import requests
from domain.errors import CftokenError, RecordTampered, TokenBusy, TokenRevoked
from domain.messages import render_interrupted
from domain.queueing import enqueue_request, job_queue
from domain.settings import WorkerSettings
from domain.timestamps import parse_timestamp
from domain.token_owner import USER
from workers.channel import post, refresh_message, refuse_forged
from workers.operations.checkpoints import UNFINISHED, Checkpoint, unfinished
from workers.operations.machine import Paused, forget_paused, paused_here, unexpected
from workers.operations.runner import RUNNERS, run_operation
from workers.services import Services, build_services

log = logging.getLogger(__name__)


def reconcile(services: Services, *, force: bool = False) -> list[str]:
    """Tell the channel about paused operations whose records were lost, queue approved requests the web never
    queued, then resume every unfinished operation whose token is not locked by a live worker and whose backoff
    has run out (`force`: an operator's `cftoken reconcile` does not wait for it); return what was done."""
    done = [f"lost {paused.request.id}" for paused in announce_lost(services)]
    done += [f"queued {request_id}" for request_id in queue_stranded(services)]
    for request_id in unfinished(services.redis):
        try:
            checkpoint = Checkpoint.load(services.redis, request_id)
        except RecordTampered as exc:  # never resumed: the tag says cftoken did not write it
            refuse_forged(services, exc)
            continue
        if checkpoint.fields.get("action") not in RUNNERS:  # the record expired or never existed: nothing to resume
            services.redis.srem(UNFINISHED, request_id)
            continue
        due = parse_timestamp(checkpoint.get("retry_at"))
        if not force and due is not None and due > services.now():
            continue  # paused, backing off: tried again when due
        try:
            run_operation(services, request_id, wait=False)
        except TokenBusy:
            log.info("reconcile: %s is still held by a running worker", request_id)
            continue
        except RecordTampered as exc:
            refuse_forged(services, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - one operation's failure must not strand the others
            why = str(exc) if isinstance(exc, CftokenError) else unexpected(exc)
            log.error("reconcile: %s could not be resumed: %s", request_id, why)
            known = requests.load(services.redis, request_id, now=services.now()) is not None
            post(services, f"⚠️ {checkpoint.action.capitalize()} of {checkpoint.token} (`{request_id}`) could "
                           f"not be resumed: {why}. The bot tries again every minute.", request_id=request_id,
                 key="resume-failed", broadcast=True, in_thread=known)
            continue
        done.append(f"{checkpoint.action} {checkpoint.token} ({request_id})")
    return done


def announce_lost(services: Services) -> list[Paused]:
    """Paused operations this process told the channel about whose checkpoint Redis no longer has: say plainly
    what is known (checked now at Cloudflare) and offer the fix."""
    lost = []
    for paused in paused_here(services):
        if Checkpoint.ended(services.redis, paused.request.id):  # another worker finished it: nothing to tell
            forget_paused(services, paused.request.id)
        elif not Checkpoint.exists(services.redis, paused.request.id):
            lost.append(paused)
    for paused in lost:
        forget_paused(services, paused.request.id)
        try:
            text, blocks = render_interrupted(lost_text(services, paused), paused.token, reroll=True)
            post(services, text, blocks=blocks, request_id=paused.request.id, key="lost", in_thread=False)
            result = "The bot lost its records of this request (Redis lost its data); see the channel."
            refresh_message(services, paused.request.model_copy(update={"state": "failed", "result": result}))
        except Exception as exc:  # noqa: BLE001 - one report's failure must not stop the others
            log.error("reconcile: could not report lost %s: %s", paused.request.id,
                      exc if isinstance(exc, CftokenError) else unexpected(exc))
    return lost


def lost_text(services: Services, paused: Paused) -> str:
    """What is known about a paused operation whose records are gone, with the vault's value checked now."""
    held = (" The new value it held encrypted went with them." if paused.verb == "Roll" else "")
    return (
        f"⚠️ {paused.verb} of {paused.token} (`{paused.request.id}`) can no longer finish: Redis lost the bot's "
        f"records of it while it was paused at {paused.label}.{held}\n{vault_check(services, paused.token)}\n"
        f"To put a working value in the vault, request a roll (two approvers, as always):"
    )


def vault_check(services: Services, token: str) -> str:
    """One line on whether the vault's value works at Cloudflare, checked now."""
    try:
        vault = services.read_vault()
        if vault.revoked(token):
            raise TokenRevoked("the vault holds a REVOKED placeholder")
        declared = services.inventory.find(token)
        owner = services.inventory.owner(declared) if declared is not None else USER
        with services.cloudflare(None, owner) as cloudflare:
            state = cloudflare.verify_value(vault.value(token), owner, services.inventory.account_id)[0].status
    except CftokenError as exc:
        return f"Checked just now: the vault's value for {token} does not work at Cloudflare ({exc})."
    if state == "active":
        return f"Checked just now: the vault's value for {token} works at Cloudflare."
    return f"Checked just now: Cloudflare reports the vault's value for {token} as {state}."


def queue_stranded(services: Services) -> list[str]:
    """Approved requests that were never queued (the web died between the last click and the enqueue)."""
    queued = []
    for request_id in requests.stranded(services.redis, now=services.now()):
        try:
            requests.load(services.redis, request_id, now=services.now())  # a forged record is never queued
            enqueue_request(job_queue(services.redis), request_id)  # refused quietly if the job exists
            requests.mark_queued(services.redis, request_id, now=services.now())
        except requests.RequestNotFound:  # long gone: forget it
            services.redis.zrem(requests.APPROVED_INDEX, request_id)
            continue
        except RecordTampered as exc:
            services.redis.zrem(requests.APPROVED_INDEX, request_id)
            refuse_forged(services, exc)
            continue
        except Exception as exc:  # noqa: BLE001 - one stranded request must not stop the others
            log.error("reconcile: could not queue %s: %s", request_id,
                      exc if isinstance(exc, CftokenError) else unexpected(exc))
            continue
        queued.append(request_id)
    return queued


def reconcile_now(settings: WorkerSettings) -> list[str]:
    """The operator CLI's entry: reconcile in this process, now."""
    services = build_services(settings)
    try:
        return reconcile(services, force=True)
    finally:
        services.close()
