"""revoke NAME: delete at Cloudflare, leave a REVOKED placeholder in the vault, open exactly one FreeScout incident.

The steps are declared once, in Revocation's table. Pre-flight first cancels an open roll of the same token that this
revoke supersedes (a paused roll's held value is dropped; the channel is told), so the two never interleave.
The delete takes every live token of the name the bot knows of: the vault's __TOKEN_ID, an open overlap's old token
and twin, and old tokens an approver kept live with Keep old (domain/kept_tokens.py) that Cloudflare still lists
under the name (workers/revoke_lookup.py: one list by name at pre-flight); a live token with the name that none of
the bot's records names is left, and the result (broadcast) and the incident say so. A FreeScout outage neither
blocks nor undoes the revocation: the request succeeds without the link, and the reconciler retries the ticket until
it exists (found by its subject, not duplicated); FreeScout refusing it hands the ticket to a person.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC
from functools import partial

from pydantic import SecretStr

from domain import blast_radius, blast_records, consumer_records, health, kept_tokens, requests, status
from domain.blast_radius import BlastRadius
from domain.consumer_words import consumer_states
from domain.errors import TRANSIENT, CftokenError, RecordTampered, TokenNotFound
from domain.inventory import Inventory, Token
from domain.messages import NO_CONSUMERS, slack_date, ticket_link
from domain.mrkdwn import escape
from domain.requests import FINAL_STATES, Request
from domain.revoke_targets import Stranger, left_live_text, ticket_subject
from domain.timestamps import parse_timestamp, utc_stamp
from domain.vault import REVOKED_PLACEHOLDER, token_id_of
from workers.audit import radius
from workers.channel import post, refresh_message, refuse_forged
from workers.clients.at_once import at_once
from workers.clients.freescout import FreeScoutClient
from workers.consumers.step import CHANGES, LABEL, ConsumerSteps
from workers.operations import approval, revoke_lookup
from workers.operations.checkpoints import Checkpoint
from workers.operations.machine import Step, StepMachine, forget_paused
from workers.services import Services

log = logging.getLogger(__name__)
class Revocation(ConsumerSteps, StepMachine):
    """One revocation in progress, advanced one checkpointed step at a time."""

    verb, noun = "Revoke", "revoke"
    opens_client, resumes_ended = False, True  # each step opens what it needs; the ticket outlives the request

    @property
    def unchanged(self) -> str:
        return f"the token was not deleted at Cloudflare, and {super().unchanged}"

    def preflight(self) -> None:
        """Read what the delete takes (the bot's records, then one list by name at Cloudflare) before the open roll
        is cancelled, so its overlap's tokens are known; a kept-token record cftoken did not sign is refused."""
        self.show("pre-flight")
        known = revoke_lookup.known_to_bot(self.services.redis, self.token.name, roll_id=self.request.supersedes,
                                            now=self.services.now(), on_forged=self.refuse, revoke_id=self.request.id)
        token_id = token_id_of(self.token, self.vault)
        with self.services.management_client(self.vault, self.token) as cloudflare:
            read = revoke_lookup.read_at_cloudflare(cloudflare, self.token.name, token_id, known)
        approval.bind(self, token_id, read.token.issued_on if read.token else None)  # before anything changes
        self.supersede_roll()
        self.services.freescout().close()  # SettingsError now, not after the delete, if FreeScout is unset
        last_used = read.token.last_used_on if read.token else None
        radius.refresh(self.services, self.request.id, self.vault, self.token, token_id, last_used)  # never raises
        also, left = ",".join(read.targets.also), ",".join(map(stranger_field, read.targets.strangers))
        self.advance(token_id=token_id, last_used_on=last_used.isoformat() if last_used else "unknown",
                     listed_at=self.services.now().isoformat(), **({"also_delete": also} if also else {}),
                     **({"left_live": left} if left else {}))

    def refuse(self, exc: RecordTampered) -> None:
        """A kept-token record cftoken did not sign: logged, audited and told once; none of its ids is acted on."""
        refuse_forged(self.services, exc)

    def supersede_roll(self) -> None:
        """End the open roll this revoke supersedes (under the token lock, so it is not mid-step) and say so."""
        roll_id = self.request.supersedes
        roll = requests.load(self.services.redis, roll_id, now=self.services.now()) if roll_id else None
        if roll is None or roll.state in FINAL_STATES:
            return
        held = Checkpoint.load(self.services.redis, roll.id)
        where = "The roll had not started: nothing was changed by it."
        if not held.lost and not held.finished:
            overlapping = held.get("strategy") == "overlap"
            assert self.tables is not None  # the runner gives every machine the operations' tables
            step = next(step for step in self.tables(held) if step.name == held.step)
            if step.changed or int(held.get("rolls") or 0):
                where = f"The roll had reached {step.label}: {step.where} The revoke deletes the token anyway."
            if overlapping and held.step != "preflight":
                where += " The overlap's old token and its twin are both deleted."
            held.finish(now=self.services.now())  # drops a held (sealed) value: the token is going
        result = f"{revoke_lookup.superseded_result(self.request.id)} {where}"
        refresh_message(self.services, requests.supersede(
            self.services.redis, roll.id, result=result, now=self.services.now()
        ))
        forget_paused(self.services, roll.id)
        post(self.services, f"⏹️ Roll of {self.token.name} (`{roll.id}`) cancelled: revoke `{self.request.id}` "
                            f"supersedes it. {where}", request_id=roll.id, key="superseded")

    def delete(self) -> None:
        """Delete the token (and an overlap's other token); one already gone counts as deleted."""
        ids = [self.checkpoint.fields["token_id"], *filter(None, (self.checkpoint.get("also_delete") or "").split(","))]
        with self.services.management_client(self.vault, self.token) as cloudflare:
            for token_id in ids:
                try:
                    cloudflare.delete_token(token_id)
                except TokenNotFound:
                    log.info("revoke %s: token %s already gone at Cloudflare", self.checkpoint.request_id, token_id)
        kept_tokens.forget(self.services.redis, self.token.name, ids)
        self.advance()
        self.show("deleted at Cloudflare")

    def overwrite_vault(self) -> None:
        when = f"{self.services.now():%Y-%m-%dT%H:%M:%SZ}"
        placeholder = f"{REVOKED_PLACEHOLDER} {when} by cftoken request {self.request.id}"
        self.services.infisical.set(self.token.name, SecretStr(placeholder))
        now = self.services.now()
        before = status.read_status(self.services.redis, self.token.name)
        revoked = health.revoked_health(now, health.RevokedByBot(self.request.id, now), self.token.name)
        if before is not None:  # the last use stays on record for the incident and the channel
            kept = {"last_used_on": before.last_used_on, "bot_used_at": before.bot_used_at}
            revoked = revoked.model_copy(update=kept)
        status.record_status(self.services.redis, self.token.name, revoked)
        self.advance(written_at=utc_stamp(now))
        self.show("vault value replaced")

    def consumers(self) -> None:
        """Follow the folder's secret syncs to the placeholder, so the incident can say where each consumer stands."""
        self.follow_consumers(placeholder=True)
        self.advance()

    def consumer_lines(self) -> list[str]:
        return consumer_states(consumer_records.load(self.services.redis, self.request.id), self.token)

    def open_ticket(self) -> None:
        subject = ticket_subject(self.token.name, self.request.id)
        with self.services.freescout() as freescout:
            people = [self.request.requester, *self.request.approved_by]
            ticket, names = at_once(lambda: freescout.find_by_subject(subject),  # the names beside the search
                                    lambda: people_names(self.services, people))
            if ticket is None:
                body = ticket_body(self.token, self.request, self.services.inventory, self.checkpoint.fields,
                                   consumers=self.consumer_lines(), names=names,
                                   blast=blast_text(self.blast))
                ticket = freescout.create_incident(subject=subject, body=body, tags=["cftoken", "revocation"])
            add_audit_notes(freescout, ticket.id, self.blast)
        self.advance(ticket_url=ticket.url, ticket_number=str(ticket.number or ""))

    def report(self) -> None:
        ticket_url = self.checkpoint.get("ticket_url")
        number = int(self.checkpoint.get("ticket_number") or 0) or None
        if self.request.state == "running":
            self.conclude(ok=True, result=self.result_text(), ticket_url=ticket_url, ticket_number=number,
                          broadcast=bool(self.strangers))
        else:  # the request already ended while FreeScout was down: add the link now
            if not self.lost:
                refresh_message(self.services, requests.attach_ticket(
                    self.services.redis, self.request.id, ticket_url=ticket_url, now=self.services.now(),
                    ticket_number=number,
                ))
            post(self.services, f"🎫 Incident for revoked {self.token.name}: {ticket_link(ticket_url, number)}",
                 request_id=self.request.id, key="ticket", in_thread=not self.lost)
            self.checkpoint.finish(now=self.services.now())

    def follow_up(self, error: BaseException, why: str) -> None:
        """The ticket (or the report) failed after the revoke itself succeeded: say so, then retry or hand over."""
        retrying = isinstance(error, TRANSIENT) or not isinstance(error, CftokenError)
        if self.request.state == "running":
            then = "The bot retries the ticket until it exists." if retrying else "Open one by hand in FreeScout."
            self.conclude(ok=True, result=(
                f"Revoked {self.token.name}: the token is revoked, but the incident ticket could not be opened "
                f"yet ({why}). {then} {self.left_live()}".rstrip()
            ), broadcast=bool(self.strangers), finish=False)
            self.request = self.request.model_copy(update={"state": "succeeded"})
        if retrying:
            self.checkpoint.save(now=self.services.now(), note=f"ticket pending: {why}")
            return
        runbook = getattr(error, "runbook", "")
        post(self.services, f"🎫 The incident for revoked {self.token.name} needs a person: FreeScout refused "
                            f"it ({why}). Open it by hand.\nNext step: {runbook}", request_id=self.request.id,
             key="ticket-refused", broadcast=True, in_thread=not self.lost)
        self.checkpoint.finish(now=self.services.now())

    def result_text(self) -> str:
        consumers = ", ".join(c.who for c in self.token.consumers) or NO_CONSUMERS
        also = [i for i in (self.checkpoint.get("also_delete") or "").split(",") if i]
        deleted = (f"deleted at Cloudflare, with the other live token{'s' if len(also) > 1 else ''} of the name "
                   f"({', '.join(also)})" if also else "deleted at Cloudflare")
        activity = "\n".join(blast_radius.slack_lines(self.blast, escaped=False)) if self.blast else ""
        return (
            f"Revoked {self.token.name}: {deleted}; the vault now holds a REVOKED placeholder. "
            f"Clean up its consumers ({consumers}), then provision a replacement (runbook: provisioning). "
            f"{self.left_live()}".rstrip() + (f"\n{activity}" if activity else "") + self.states_text()
        )

    def states_text(self) -> str:
        lines = self.consumer_lines()
        return "\nConsumers: " + "; ".join(escape(line) for line in lines) if lines else ""

    @property
    def blast(self) -> BlastRadius | None:
        """The blast radius the pre-flight read (signed record), or None."""
        return blast_records.load(self.services.redis, self.request.id, now=self.services.now())

    @property
    def strangers(self) -> tuple[Stranger, ...]:
        return strangers_of(self.checkpoint.fields)

    def left_live(self) -> str:
        """The live tokens with the name this revoke left, as Cloudflare listed them at its pre-flight."""
        text = left_live_text(self.strangers)
        at = parse_timestamp(self.checkpoint.get("listed_at"))
        return f"⚠️ {text} (Cloudflare's list at pre-flight{' ' + slack_date(at) if at else ''}.)" if text else ""

    table = (
        Step("preflight", "pre-flight", preflight, changed=False,
             where="Nothing was changed: the bot deleted nothing and the vault holds the value it held before.",
             changes="nothing (reads the vault and Cloudflare); an open roll of the token is cancelled"),
        Step("delete", "the delete at Cloudflare", delete, changed=False, risky=True,
             where="Cloudflare may have deleted the token; the vault still holds its old value.",
             changes="Cloudflare: the token is deleted (DELETE /user/tokens/{id}), with every other live token of "
                     "the name the bot knows of (an open overlap's twin, an old token kept with Keep old); their "
                     "values stop working"),
        Step("placeholder", "replacing the vault value", overwrite_vault, changed=True,
             where="The token is deleted at Cloudflare; the vault still holds its old value, which no longer works.",
             changes="the vault: the value becomes a REVOKED placeholder (__TOKEN_ID kept)"),
        Step("consumers", LABEL, consumers, changed=True, changes=CHANGES.replace("the outcome", "placeholder"),
             where="The token is deleted at Cloudflare and the vault holds a REVOKED placeholder; its consumers' "
                   "syncs were being followed."),
        Step("ticket", "opening the incident ticket", open_ticket, changed=True, settled=True,
             where="The token is deleted at Cloudflare and the vault holds a REVOKED placeholder; the incident ticket "
                   "is not open yet.",
             changes="FreeScout: one incident conversation naming the consumers to clean up"),
        Step("report", "reporting", report, changed=True, settled=True,
             where="The token is deleted at Cloudflare, the vault holds a REVOKED placeholder, and the incident is "
                   "open.",
             changes="Slack: the result with the ticket link"),
    )


def stranger_field(stranger: Stranger) -> str:
    """A stranger as the checkpoint keeps it: `id@issued_on` (nothing after @ when Cloudflare gave no date)."""
    return f"{stranger.id}@{utc_stamp(stranger.issued_on) if stranger.issued_on else ''}"


def strangers_of(fields: Mapping[str, str]) -> tuple[Stranger, ...]:
    """The live tokens with the name the revoke leaves, from its checkpoint."""
    found = []
    for item in filter(None, (fields.get("left_live") or "").split(",")):
        token_id, _, issued = item.partition("@")
        found.append(Stranger(token_id, parse_timestamp(issued)))
    return tuple(found)


def people_names(services: Services, users: list[str]) -> dict[str, str]:
    """Each person's name from Slack (users.info, one request per person, made at once) for the ticket; one Slack
    can not name is left as an id."""
    people = list(dict.fromkeys(users))
    found = at_once(*(partial(_display_name, services, user) for user in people))  # asked at once
    return {user: name for user, name in zip(people, found, strict=True) if name}


def _display_name(services: Services, user: str) -> str | None:
    try:
        return services.slack.display_name(user)
    except CftokenError as exc:
        log.warning("no name for %s in the ticket: %s", user, exc)
        return None


def readable(stamp: str | None) -> str:
    """An ISO timestamp as a person reads it in a ticket: `2026-03-01 12:00 UTC`."""
    moment = parse_timestamp(stamp)
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if moment else (stamp or "unknown")


def ticket_body(token: Token, request: Request, inventory: Inventory, facts: dict[str, str], *,
                consumers: list[str] | None = None,
                names: Mapping[str, str] | None = None, blast: str = "") -> str:
    """The incident note: what was revoked, by whom (names beside Slack ids), why, when, and the consumer
    checklist (never a token value)."""
    names = names or {}

    def person(user: str) -> str:
        return f"{names[user]} (Slack {user})" if names.get(user) else f"Slack user {user}"

    zones = "all zones" if token.all_zones else ", ".join(token.zones) or "not zone-scoped"
    approvers = ", ".join(person(a.user) for a in request.approvals) or "—"
    checklist = "\n".join(f"[ ] {c.who}: {c.how}" for c in token.consumers) or f"[ ] ({NO_CONSUMERS})"
    states = "Consumer state after the placeholder:\n" + "\n".join(consumers) + "\n\n" if consumers else ""
    return (
        f"Token: {token.name} (Cloudflare id {facts.get('token_id', '?')})\n"
        f"Scope: {token.scope}\nZones: {zones}\n"
        f"Requested by {person(request.requester)}; approved by {approvers}\n"
        f"Reason: {request.reason}\nRevoked at: {readable(facts.get('updated_at'))}\n"
        f"Last used: {readable(facts.get('last_used_on'))}\n"
        f"Vault: {inventory.vault.path} ({inventory.vault.environment}) now holds a REVOKED placeholder; "
        f"{token.name}__TOKEN_ID is kept for the record.\n"
        f"{left_live_note(facts)}\n"
        f"{blast + chr(10) + chr(10) if blast else ''}"
        f"Consumers to clean up:\n{checklist}\n\n"
        f"{states}"
        "Then provision a replacement token (runbook: provisioning)."
    )


def blast_text(blast: BlastRadius | None) -> str:
    """The incident's summary of what the token did (the full list follows as notes)."""
    if blast is None:
        return ""
    pages = len(blast_radius.incident_pages(blast))
    return blast_radius.plain_text(blast) + (f"\nThe full list follows in {pages} note{'s' if pages != 1 else ''}."
                                             if pages else "")


def add_audit_notes(freescout: FreeScoutClient, conversation_id: int, blast: BlastRadius | None) -> None:
    """The audit log's full list on the incident, one note per page, each once (a resumed step skips those there)."""
    for page in blast_radius.incident_pages(blast) if blast is not None else []:
        marker = page.split("\n", 1)[0]
        if not freescout.has_note(conversation_id, marker):
            freescout.add_note(conversation_id, page)


def left_live_note(facts: Mapping[str, str]) -> str:
    """The ticket's line on live tokens with the name the revoke left (dates in UTC); blank when none."""
    text = left_live_text(strangers_of(facts), when=lambda moment: readable(moment.isoformat()))
    return f"LEFT LIVE: {text} (Cloudflare's list at the revoke's pre-flight.)\n" if text else ""

