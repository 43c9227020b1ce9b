"""One health per token, decided purely from the facts: a state and the problems, each with its runbook step.

verify, the scan, list, the approval message and roll/revoke results all read a `Health`, so for the same facts
they say the same thing. Each check sees only some facts (`Health.sees`): the scan reads the vault and
Cloudflare's list, verifies a token's value at most daily and never probes; verify sees everything. `carry`
keeps a problem that a fuller check found until a check that can see it clears it, and every problem says when,
and by which check, it was seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

from domain.cloudflare_tokens import CfToken
from domain.grants import (
    compare_permissions,
    compare_zones,
    ip_differences,
    permission_differences,
    permissions_over_only,
    zone_differences,
    zones_over_only,
)
from domain.inventory import Inventory, Token
from domain.mrkdwn import escape
from domain.timestamps import parse_timestamp, utc_stamp
from domain.token_owner import kind_mismatch
from domain.vault import pin_drift, pin_fix

State = Literal["healthy", "warning", "failing", "revoked", "compromised", "unknown"]
Severity = Literal["warning", "failing", "revoked", "compromised"]
Action = Literal["roll", "verify", "revoke", "none"]
Source = Literal["verify", "scan", "roll", "revoke", "provision"]
Kind = Literal[
    "revoked", "compromised", "deleted", "disabled", "expired", "vault_missing", "value", "probe",
    "zones", "permissions", "ip", "companions", "expiring", "duplicate", "pin", "kind",
]

DASHBOARD = "https://dash.cloudflare.com/profile/api-tokens"
EXPIRY_WARNING_DAYS = 14
EXPOSED = "revoked (exposed)"  # Cloudflare's status for a token its secret scanning found leaked
_SEVERITY_ORDER: tuple[Severity, ...] = ("compromised", "revoked", "failing", "warning")

# Which facts each problem rests on: a check that read those facts can clear it.
VAULT_KINDS: frozenset[str] = frozenset({"revoked", "vault_missing", "pin"})
LIST_KINDS: frozenset[str] = frozenset({"duplicate"})  # seen only by a check that listed the tokens by name
RECORD_KINDS: frozenset[str] = frozenset({"compromised", "deleted", "disabled", "expired", "zones", "permissions",
                                          "ip", "expiring"})
ALL_KINDS: frozenset[str] = frozenset(Kind.__args__)  # type: ignore[attr-defined]
WHOLE_TOKEN = ("deleted", "disabled", "expired", "compromised")  # these explain a rejected value


class Problem(BaseModel):
    """One thing wrong with a token, what to do about it, and how old the fact is."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    severity: Severity
    detail: str
    next_step: str
    action: Action = "verify"  # the button for the next step
    seen_at: datetime
    seen_by: str  # verify, scan, value check, roll, revoke
    identity: str = ""  # what makes it the same problem when its detail carries changing facts ('' : the detail)


class Health(BaseModel):
    """A token's health at `checked_at`, as stored for `/cftoken list` (also known as TokenStatus)."""

    model_config = ConfigDict(frozen=True)

    checked_at: datetime
    source: Source
    state: State
    expires_on: datetime | None = None
    summary: str = ""
    problems: tuple[Problem, ...] = ()
    sees: frozenset[str] = frozenset()  # the kinds this check could see (and so clear)
    facts_at: dict[str, datetime] = {}  # "vault", "cloudflare", "value", "probe" → when last read
    last_used_on: datetime | None = None  # Cloudflare's, read before the bot used the value itself
    bot_used_at: datetime | None = None  # the bot's own last use of the value before that reading

    def problem(self, kind: str) -> Problem | None:
        return next((p for p in self.problems if p.kind == kind), None)


@dataclass(frozen=True)
class RevokedByBot:
    """The bot's own record of revoking the token: the request, when, and the incident once it exists."""

    request_id: str
    on: datetime | None
    incident_url: str | None = None


@dataclass(frozen=True)
class Probe:
    """One call of the token's own job with its own value: `refusal` is None when Cloudflare accepted it.

    `finding`: accepted, with something worth saying (a WAF phase with no rules yet: 404 code 10003);
    `inconclusive`: an answer the bot does not understand, quoted in Cloudflare's words (neither pass nor refusal).
    """

    call: str
    zone: str
    refusal: str | None = None
    finding: str | None = None
    inconclusive: str | None = None


@dataclass(frozen=True)
class HealthFacts:
    """Everything a check read about one token; never a token value. None/False means "not read"."""

    token: Token
    now: datetime
    source: Source
    seen_by: str
    vault_path: str
    vault_environment: str
    vault_read: bool = False
    value_present: bool = False
    revoked: RevokedByBot | None = None
    expires_at_text: str | None = None
    token_id_text: str | None = None
    scopes_text: str | None = None
    record_read: bool = False  # Cloudflare's record, or that there is none, is known
    record: CfToken | None = None
    token_id: str | None = None
    value_checked: bool = False
    value_accepted: bool = False
    value_token_id: str | None = None  # the id Cloudflare's verify answered for the vault's value
    probes: tuple[Probe, ...] | None = None
    bot_used_at: datetime | None = None
    named: tuple[CfToken, ...] | None = None  # every token Cloudflare lists with this name; None: not listed
    overlapping: bool = False  # an overlap rotation (or a provision) of this token is under way: two are expected
    kept: tuple[str, ...] = ()  # old tokens an approver kept live with Keep old (a revoke deletes them too)
    value_kind: str | None = None  # the kind the vault's value proved to be (prefix, or the verify that took it)


def assess(facts: HealthFacts, inventory: Inventory) -> Health:
    """The token's health from one check's facts alone (see `carry` for what earlier checks found)."""
    found: list[Problem] = []
    sees: set[str] = set()
    at: dict[str, datetime] = {}

    def add(kind: Kind, severity: Severity, detail: str, next_step: str, action: Action = "verify",
            identity: str = "") -> None:
        found.append(Problem(kind=kind, severity=severity, detail=detail, next_step=next_step, action=action,
                             seen_at=facts.now, seen_by=facts.seen_by, identity=identity))

    name, record = facts.token.name, facts.record
    if facts.vault_read:
        at["vault"] = facts.now
        sees |= VAULT_KINDS
        if facts.revoked is not None:
            add("revoked", "revoked", revoked_text(facts.revoked), provision_step(name), "none")
            expires = record.expires_on if record else None
            return _health(facts, found, ALL_KINDS, at, expires)  # everything else is moot once revoked
        _vault_problems(facts, add, management=inventory.is_management(facts.token))
    mismatch = kind_mismatch(name, facts.token.owner, facts.value_kind)  # type: ignore[arg-type]
    if mismatch is not None:  # the records were looked for at the wrong kind's endpoints: they say nothing
        add("kind", "failing", *mismatch, "none")
        return _health(facts, found, ALL_KINDS, {**at, "value": facts.now}, None)
    if facts.named is not None:
        sees |= LIST_KINDS
        _duplicate_problem(facts, add)
    if facts.record_read:
        at["cloudflare"] = facts.now
        sees |= RECORD_KINDS
        _record_problems(facts, inventory, add)
        if facts.vault_read:
            sees.add("companions")
    if facts.vault_read and not never_provisioned(facts):
        drift = companion_drift(facts)
        if drift:
            after = (f"the bot never rolls {name}: an operator rotates it (failure mode D)"
                     if inventory.is_management(facts.token) else f"a roll of {name} also rewrites __EXPIRES_AT")
            add("companions", "warning", "; ".join(drift),
                f"Set the companions as shown (Cloudflare and the inventory are the source of truth); {after}.")
    if facts.value_checked:
        at["value"] = facts.now
        sees.add("value")
        _value_problem(facts, explained=any(p.kind in WHOLE_TOKEN for p in found), add=add)
    if facts.probes is not None:
        at["probe"] = facts.now
        sees.add("probe")
        _probe_problem(facts, add)
    return _health(facts, found, frozenset(sees), at, record.expires_on if record else None)


def _value_problem(facts: HealthFacts, *, explained: bool, add: Callable[..., None]) -> None:
    """Cloudflare rejects the vault's value, and no whole-token problem explains it."""
    name, record = facts.token.name, facts.record
    if facts.value_accepted or explained:
        return
    if facts.record_read and record is not None:
        add("value", "failing",
            "Cloudflare rejects the vault's value although the token is active there: the vault is out "
            "of step (e.g. a roll outside the bot)",
            f"Failure mode B (vault out of step): roll the token (`/cftoken roll {name}`) so the vault "
            "and Cloudflare agree again, and find out who rolled it outside the bot.", "roll")
    elif not facts.record_read:
        add("value", "failing", "Cloudflare rejects the vault's value (the bot could not read the token's "
            "record to tell why)", f"Failure mode B: check {name}__EXPIRES_AT, verify again, then roll.",
            "verify")


def _probe_problem(facts: HealthFacts, add: Callable[..., None]) -> None:
    """The token's own job call was refused."""
    refused = [p for p in facts.probes or () if p.refusal]
    if refused:
        calls = "; ".join(f"{p.call} on {p.zone} → {p.refusal}" for p in refused)
        add("probe", "failing", f"the token's own job call was refused: {calls}",
            f"Failure mode A: the token lacks the permission or zone its job needs; edit {facts.token.name}'s "
            f"policy in the dashboard ({DASHBOARD}), or correct the inventory's permission-group ids, then repeat "
            "the call (`/cftoken verify`) and confirm HTTP 200.")


def never_provisioned(facts: HealthFacts) -> bool:
    """No value and no companion at all in the vault: the token was declared but never made (not failure mode C,
    which is a value lost beside the companions that were written with it)."""
    companions = (facts.expires_at_text, facts.token_id_text, facts.scopes_text)
    return facts.vault_read and not facts.value_present and facts.revoked is None and not any(companions)


def not_provisioned_step(name: str, *, management: bool) -> str:
    """How a declared token is first made: by the bot, or (the management token) by an operator."""
    if management:
        return (f"An operator creates {name} in the Cloudflare dashboard ({DASHBOARD}) and stores it with its "
                "companions (runbook failure mode D: the bot cannot make its own management token).")
    return f"Provision it: `/cftoken provision {name}`."


def _vault_problems(facts: HealthFacts, add: Callable[..., None], *, management: bool = False) -> None:
    """Not provisioned, failure mode C (no value at the path), and an inventory pin __TOKEN_ID has moved past."""
    if never_provisioned(facts):
        add("vault_missing", "warning",
            f"not provisioned: no value and no companions in the vault at {facts.vault_path} "
            f"(env {facts.vault_environment})", not_provisioned_step(facts.token.name, management=management),
            "none")
    elif not facts.value_present:
        add("vault_missing", "failing",
            f"no value in the vault at {facts.vault_path} (env {facts.vault_environment})",
            f"Failure mode C: confirm the path is {facts.vault_path} and the env is {facts.vault_environment}; "
            "restore the secret from Infisical's version history, or provision a replacement.")
    pinned = pin_drift(facts.token, facts.token_id_text, _proven_id(facts))
    if pinned:
        add("pin", "warning", pinned, f"Edit the inventory: {pin_fix(facts.token, facts.token_id_text or '')} "
            "(the vault's __TOKEN_ID is what the bot keeps current; a pin only goes stale).")


def _proven_id(facts: HealthFacts) -> str | None:
    """The token id the facts prove is this token's: the vault value's own, or the pin when the vault's
    __TOKEN_ID names no token and Cloudflare lists the pinned one under this name."""
    pin = facts.token.token_id
    if facts.value_token_id or not pin:
        return facts.value_token_id
    alive = facts.record_read and facts.record is None and any(t.id == pin for t in facts.named or ())
    return pin if alive else None


def namesakes(token_id: str | None, named: Iterable[CfToken]) -> tuple[CfToken, ...]:
    """The tokens Cloudflare lists under the token's name besides the one the bot acts on (none unless two or more
    carry the name: a lone token under another id is the `deleted` problem's business)."""
    named = tuple(named)
    if len(named) < 2:
        return ()
    return tuple(sorted((t for t in named if t.id != token_id), key=lambda t: t.id))


def namesake_text(other: CfToken, kept: Collection[str] = ()) -> str:
    """One other token as the alert names it: id, status, issued_on and last_used_on, as Cloudflare listed them."""
    issued = utc_stamp(other.issued_on) if other.issued_on else "unknown"
    used = utc_stamp(other.last_used_on) if other.last_used_on else "never"
    why = ", kept live by an approver's Keep old" if other.id in kept else ""
    return f"token {other.id} ({other.status}, issued {issued}, last used {used}{why})"


def _duplicate_problem(facts: HealthFacts, add: Callable[..., None]) -> None:
    """A second token with this name, outside an overlap rotation (during one, two are expected)."""
    others = () if facts.overlapping else namesakes(facts.token_id, facts.named or ())
    if not others:
        return
    name, ours = facts.token.name, facts.token_id or "none (no token id is known)"
    them = "; ".join(namesake_text(other, facts.kept) for other in others)
    add("duplicate", "warning",
        f"{len(others) + 1} tokens at Cloudflare are named {name}; besides token {ours}, the one cftoken uses: {them} "
        "(Cloudflare's list, last_used_on as it reported it)",
        duplicate_step(name, facts.token_id, [other.id for other in others], facts.kept),
        identity="duplicate:" + ",".join(other.id for other in others))


def duplicate_step(name: str, token_id: str | None, others: Sequence[str], kept: Collection[str]) -> str:
    """What to do about other tokens with the name, and truthfully what a revoke of the name would delete: the
    token in __TOKEN_ID and the old tokens Keep old kept (workers/revocation.py), never one made elsewhere."""
    ours, spared = token_id or "the vault's", [i for i in others if i not in kept]
    covered = [i for i in others if i in kept]
    step = (f"Find out who still uses it (an overlap whose approver kept the old token, or one made in the "
            f"dashboard). Once its consumers use the vault's value, delete it in the dashboard ({DASHBOARD}); if it "
            "may have leaked, delete it there now (that stops only it).")
    if spared and not covered:
        return step + f" `/cftoken revoke {name}` deletes only token {ours}, not this one."
    also = f" and {', '.join(covered)} (kept by Keep old)"
    not_these = f", not {', '.join(spared)}" if spared else ""
    return step + (f" `/cftoken revoke {name}` would delete token {ours}{also}{not_these}, which ends the vault's "
                   "value too.")


def _record_problems(facts: HealthFacts, inventory: Inventory, add: Callable[..., None]) -> None:
    """Cloudflare's record: there, its status and expiry, and its policy against the inventory (failure mode A)."""
    name, record, now = facts.token.name, facts.record, facts.now
    if record is None:
        if facts.value_accepted and facts.value_token_id not in (None, facts.token_id):
            return  # the value works as another token: __TOKEN_ID is wrong (companion drift says so), not deleted
        who = f"no token with id {facts.token_id}" if facts.token_id else "no token id to look up"
        replace = (f"Failure mode B (revoked): provision a replacement for {name} (runbook: provisioning procedure), "
                   "store it with its companions, and clean up its consumers.")
        lone = ", ".join(t.id for t in facts.named or () if t.id != facts.token_id)
        if lone:
            add("deleted", "failing", f"gone from Cloudflare: {who}, but Cloudflare lists a token named {name} with "
                f"id {lone}: {name}__TOKEN_ID may be wrong, or it was deleted outside the bot",
                f"`/cftoken verify {name}` shows whose the vault's value is: if it is token {lone}'s, set "
                f"{name}__TOKEN_ID to that id; otherwise: {replace}")
        elif not never_provisioned(facts):  # a token never made was not deleted
            add("deleted", "failing", f"gone from Cloudflare: {who} (deleted outside the bot)", replace)
        return
    if record.status == EXPOSED:
        add("compromised", "compromised",
            "Cloudflare marked it compromised (status `revoked (exposed)`): secret scanning found its value leaked "
            "and Cloudflare deactivated it; only the token's creator was emailed",
            f"Revoke it (`/cftoken revoke {name} leaked`), clean up its consumers, then provision a replacement "
            "(runbook: Revocation, then the provisioning procedure). A roll cannot bring it back.", "revoke")
        return
    if record.status == "disabled":
        add("disabled", "failing", "disabled at Cloudflare: every call with it is refused",
            f"Failure mode B (disabled): if that was a mistake, re-enable it in the dashboard ({DASHBOARD}); if it "
            f"was deliberate, revoke it (`/cftoken revoke {name} reason`).")
    elif record.status == "expired" or (record.expires_on is not None and record.expires_on <= now):
        when = f" on {utc_stamp(record.expires_on)}" if record.expires_on else ""
        add("expired", "failing", f"expired{when}: every call with it is refused",
            f"Failure mode B (expired): roll it (`/cftoken roll {name}`); the roll moves expires_on forward.",
            "roll")
    elif record.expires_on is not None and record.expires_on - now < timedelta(days=EXPIRY_WARNING_DAYS):
        add("expiring", "warning", f"expires {utc_stamp(record.expires_on)} ({days_text(record.expires_on, now)})",
            f"Roll it before it expires (`/cftoken roll {name}`).", "roll")
    zones = zone_differences(facts.token, record, inventory)
    if zones:
        over = zones_over_only(compare_zones(facts.token, record, inventory))
        add("zones", "warning" if over else "failing", f"Zones: {zones}",
            fix_policy(facts.token, "zone resources match the inventory"))
    permissions = permission_differences(facts.token, record, inventory)
    if permissions:
        over = permissions_over_only(compare_permissions(facts.token, record, inventory))
        add("permissions", "warning" if over else "failing", f"Permissions: {permissions}",
            fix_policy(facts.token, f"permission groups are exactly {', '.join(facts.token.permissions)}"))
    ips = ip_differences(facts.token, record)
    if ips:
        add("ip", "failing", f"IP condition: {ips}", fix_policy(facts.token, "request_ip condition matches"))


def _health(facts: HealthFacts, found: list[Problem], sees: frozenset[str], at: dict[str, datetime],
            expires_on: datetime | None) -> Health:
    record = facts.record
    return Health(
        checked_at=facts.now, source=facts.source, state=state_of(found, known="cloudflare" in at),
        expires_on=expires_on if facts.record_read else parse_timestamp(facts.expires_at_text),
        summary=summary_of(found, expires_on, facts.now), problems=tuple(found), sees=sees, facts_at=at,
        last_used_on=record.last_used_on if record else None, bot_used_at=facts.bot_used_at,
    )


def carry(previous: Health | None, current: Health) -> Health:
    """`current`, plus each earlier problem of a kind `current` could not see (kept with its own age)."""
    if previous is None:
        return current
    kept = tuple(p for p in previous.problems if p.kind not in current.sees)
    facts_at = {**previous.facts_at, **current.facts_at}
    problems = current.problems + kept
    last_used, bot_used = current.last_used_on or previous.last_used_on, current.bot_used_at or previous.bot_used_at
    return current.model_copy(update={
        "problems": problems, "facts_at": facts_at, "state": state_of(problems, known="cloudflare" in facts_at),
        "summary": summary_of(problems, current.expires_on, current.checked_at),
        "last_used_on": last_used, "bot_used_at": bot_used,
        "expires_on": current.expires_on if "cloudflare" in current.facts_at else previous.expires_on,
    })


ROLL_FIXES = frozenset({"value", "expired", "expiring", "vault_missing"})  # what a verified roll clears
ROLL_HELPS = ROLL_FIXES | {"companions"}  # a roll also rewrites the companions: offered for these


def after_roll(previous: Health | None, now: datetime, expires_on: datetime | None) -> Health:
    """Health right after a roll verified the new value: what a roll fixes is cleared, the rest is kept."""
    fixed = set(ROLL_FIXES)
    current = Health(checked_at=now, source="roll", state="healthy", expires_on=expires_on,
                     sees=frozenset(fixed), facts_at={"value": now})
    merged = carry(previous, current)
    state = "healthy" if merged.state == "unknown" and not merged.problems else merged.state  # the roll read it
    return merged.model_copy(update={"expires_on": expires_on, "state": state})


def revoked_health(now: datetime, revoked: RevokedByBot, name: str) -> Health:
    """Health once the bot revoked the token."""
    problem = Problem(kind="revoked", severity="revoked", detail=revoked_text(revoked), next_step=provision_step(name),
                      action="none", seen_at=now, seen_by="revoke")
    return Health(checked_at=now, source="revoke", state="revoked", problems=(problem,), sees=ALL_KINDS,
                  facts_at={"vault": now}, summary=revoked_text(revoked))


def state_of(problems: Iterable[Problem], *, known: bool = True) -> State:
    severities = {p.severity for p in problems}
    for severity in _SEVERITY_ORDER:
        if severity in severities:
            return severity
    return "healthy" if known else "unknown"


def summary_of(problems: tuple[Problem, ...] | list[Problem], expires_on: datetime | None, now: datetime) -> str:
    """One line: the worst problem (and how many more), or, when all is well, the expiry."""
    if not problems:
        return f"active, {days_text(expires_on, now)}"
    worst = sorted(problems, key=lambda p: _SEVERITY_ORDER.index(p.severity))[0]
    more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{worst.detail}{more}"


def revoked_text(revoked: RevokedByBot) -> str:
    when = f" on {revoked.on.astimezone(UTC):%Y-%m-%d}" if revoked.on else ""
    incident = f", incident {revoked.incident_url}" if revoked.incident_url else ", incident not opened yet"
    return f"revoked by `{revoked.request_id}`{when}{incident}"


def provision_step(name: str) -> str:
    return (f"Provision a replacement for {name} (`/cftoken provision {name}`, or Provision replacement on the "
            "revoke's message) and clean up its consumers; nothing else will make this token work again.")


def fix_policy(token: Token, what: str) -> str:
    return (f"Failure mode A: edit {token.name}'s policy in the dashboard ({DASHBOARD}) so its {what} — or "
            "update the inventory if the change was intended.")


def parse_revoked(placeholder: str | None) -> RevokedByBot | None:
    """The bot's placeholder `REVOKED <when> by cftoken request <id>` read back, or None."""
    match = re.match(r"^REVOKED (\S+) by cftoken request (\S+)", placeholder or "")
    if match is None:
        return RevokedByBot("unknown request", None) if (placeholder or "").startswith("REVOKED ") else None
    return RevokedByBot(match[2], parse_timestamp(match[1]))


def companion_drift(facts: HealthFacts) -> list[str]:
    """Where __EXPIRES_AT, __TOKEN_ID and __SCOPES disagree with Cloudflare and the inventory."""
    name, record, found = facts.token.name, facts.record, []
    cloudflare = record.expires_on if record else None
    ours = parse_timestamp(facts.expires_at_text)
    if record is not None:
        if facts.expires_at_text and ours is None:
            found.append(f"{name}__EXPIRES_AT {facts.expires_at_text!r} is not an ISO-8601 time")
        elif ours is None and cloudflare is not None:
            found.append(f"{name}__EXPIRES_AT is missing; Cloudflare says {utc_stamp(cloudflare)}")
        elif ours is not None and cloudflare is None:
            found.append(f"{name}__EXPIRES_AT says {utc_stamp(ours)}; Cloudflare has no expiry")
        elif ours and cloudflare and abs(ours - cloudflare) > timedelta(minutes=1):
            found.append(f"{name}__EXPIRES_AT says {utc_stamp(ours)}; Cloudflare says {utc_stamp(cloudflare)}")
    expected_id = facts.value_token_id or (record.id if record else None) or facts.token.token_id
    if not facts.token_id_text:
        found.append(f"{name}__TOKEN_ID is missing" + (f"; it should be {expected_id}" if expected_id else ""))
    elif facts.value_token_id and facts.token_id_text != facts.value_token_id:
        found.append(f"{name}__TOKEN_ID is {facts.token_id_text} but the vault's value belongs to token "
                     f"{facts.value_token_id}")
    if not facts.scopes_text:
        found.append(f"{name}__SCOPES is missing; it should be {escape(repr(facts.token.scope))}")
    return found


def days_text(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "no expiry"
    if moment <= now:
        ago = (now - moment).days
        return f"expired {ago} days ago" if ago > 1 else "expired"
    days = (moment - now).days
    return f"{days} days left" if days != 1 else "1 day left"


