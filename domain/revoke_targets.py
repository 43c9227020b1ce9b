"""What a revoke of a name deletes and what it leaves live (pure): the decision the real revoke, its dry run and its
approval message share, and the words they say it in.

The bot knows of a name's tokens from its own records: the vault's __TOKEN_ID, the old tokens Keep old kept
(domain/kept_tokens.py) and an open overlap roll's checkpoint (its old token, its twin, any twin made since its
intent). Cloudflare's list of tokens by that name is the only proof of what is live: a kept id is deleted only when
Cloudflare still lists it under the name, and a live token there that none of the records names is left alone and
said so, never deleted (the bot did not make it) and never passed over in silence (it may share the leak).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.cloudflare_tokens import CfToken
from domain.mrkdwn import mention
from domain.timestamps import slack_date

LIVE = "active"  # a disabled or expired token's value does not work: only an active one is left live
DASHBOARD = "delete it in the Cloudflare dashboard if it may share the leak"


@dataclass(frozen=True)
class Kept:
    """An old token an approver kept live with Keep old, as the signed kept-token record has it."""

    id: str
    request: str  # the overlap roll whose Keep old kept it
    at: datetime | None
    by: str | None  # who pressed Keep old; None in a record written before it was kept


@dataclass(frozen=True)
class Overlap:
    """An open overlap roll of the token, as its signed checkpoint has it (the revoke cancels it first)."""

    roll: str
    old_id: str | None
    twin_id: str | None
    intent_at: datetime | None  # when it asked Cloudflare for the twin; a twin issued since may be unrecorded


@dataclass(frozen=True)
class Known:
    """What Redis knows of a name's tokens besides the vault's __TOKEN_ID, read at `read_at`."""

    read_at: datetime
    kept: tuple[Kept, ...] = ()
    overlap: Overlap | None = None
    forged: bool = False  # a kept-token record cftoken did not sign was found and ignored

    @property
    def any(self) -> bool:
        return bool(self.kept or self.overlap)


@dataclass(frozen=True)
class Stranger:
    """A live token Cloudflare lists under the name that no record of the bot names: the revoke leaves it."""

    id: str
    issued_on: datetime | None


@dataclass(frozen=True)
class Targets:
    """The ids a revoke deletes (the vault's first) and the live namesakes it leaves, from one list by name."""

    token_id: str
    also: tuple[str, ...]
    strangers: tuple[Stranger, ...]


def decide(token_id: str, known: Known, listed: Sequence[CfToken], *, skew: timedelta) -> Targets:
    """The vault's token, an open overlap's old token and twins (issued since its intent, less `skew`), and each
    kept id Cloudflare still lists; every other live token in `listed` is a stranger."""
    listed_ids = {t.id for t in listed}
    also: list[str] = []
    overlap = known.overlap
    if overlap is not None:
        also += [i for i in (overlap.old_id, overlap.twin_id) if i]
        if overlap.intent_at is not None:
            since = overlap.intent_at - skew
            also += [t.id for t in listed if t.issued_on is None or t.issued_on >= since]
    also += [kept.id for kept in known.kept if kept.id in listed_ids]
    also = [i for i in dict.fromkeys(also) if i != token_id]
    deleting = {token_id, *also}
    strangers = tuple(Stranger(t.id, t.issued_on) for t in listed if t.status == LIVE and t.id not in deleting)
    return Targets(token_id, tuple(also), strangers)


def left_live_text(strangers: Sequence[Stranger], *, when: Callable[[datetime], str] = slack_date) -> str:
    """The warning for live tokens with the name the revoke leaves; "" when there are none."""
    if not strangers:
        return ""

    def issued(stranger: Stranger) -> str:
        return f"issued {when(stranger.issued_on)}" if stranger.issued_on else "issued at a time Cloudflare did not say"

    if len(strangers) == 1:
        (one,) = strangers
        return (f"A second live token with this name, {one.id}, {issued(one)}, is not known to the bot: the revoke "
                f"leaves it; {DASHBOARD}.")
    them = ", ".join(f"{s.id} ({issued(s)})" for s in strangers)
    return (f"{len(strangers)} other live tokens with this name, {them}, are not known to the bot: the revoke leaves "
            "them; delete them in the Cloudflare dashboard if they may share the leak.")


def kept_line(kept: Kept) -> str:
    """One kept old token as the approval message names it, from the record alone."""
    on = f" on {slack_date(kept.at)}" if kept.at else ""
    by = f" by {mention(kept.by)}" if kept.by else ""
    return f"Also deletes the old token {kept.id} kept{on}{by} (Keep old on `{kept.request}`)"


def overlap_line(overlap: Overlap) -> str:
    """An open overlap roll's tokens as the approval message names them, from its checkpoint alone."""
    old = f"the overlap's old token {overlap.old_id}" if overlap.old_id else "the overlap's old token"
    twin = f"its twin {overlap.twin_id}" if overlap.twin_id else "any twin it has created"
    return f"Also deletes {old} and {twin} (roll `{overlap.roll}`, which this revoke cancels first)"


def approval_lines(known: Known) -> list[str]:
    """What the approval message adds to "the token is deleted": each token the bot's records name, dated as Redis's
    knowledge (whether each is still live is Cloudflare's to say when the revoke runs)."""
    lines = [overlap_line(known.overlap)] if known.overlap else []
    lines += [kept_line(kept) for kept in known.kept]
    if lines:
        lines.append(f"_From the bot's records in Redis as of {slack_date(known.read_at)}; the revoke deletes each "
                     "one Cloudflare still lists under the name, and says so of any live token with the name it "
                     "does not know._")
    if known.forged:
        lines.append("A kept-token record in Redis that cftoken did not sign was ignored: the revoke acts on none of "
                     "its ids.")
    return lines


def why_deleted(token_id: str, targets: Targets, known: Known) -> str:
    """Which of the bot's records names `token_id`, in the words the plan uses."""
    if token_id == targets.token_id:
        return "the vault's __TOKEN_ID"
    kept = next((k for k in known.kept if k.id == token_id), None)
    if kept is not None:
        return kept_line(kept).removeprefix("Also deletes ")
    overlap = known.overlap
    roll = f"roll `{overlap.roll}`, which the revoke cancels first" if overlap else "an overlap roll"
    if overlap is not None and token_id == overlap.old_id:
        return f"the overlap's old token ({roll})"
    if overlap is not None and token_id == overlap.twin_id:
        return f"the overlap's twin ({roll})"
    return f"a token with the name issued since the overlap asked for its twin ({roll})"


def plan_lines(targets: Targets, known: Known) -> list[str]:
    """A revoke's dry run: every token it would delete and why, then each live namesake it would leave."""
    ids = (targets.token_id, *targets.also)
    lines = [f"Would delete {len(ids)} token{'s' if len(ids) > 1 else ''} at Cloudflare:",
             *(f"• {token_id}: {why_deleted(token_id, targets, known)}" for token_id in ids)]
    if targets.strangers:
        lines.append(f"⚠️ {left_live_text(targets.strangers)}")
    if known.forged:
        lines.append("⚠️ A kept-token record in Redis that cftoken did not sign is ignored: the revoke would act on "
                     "none of its ids.")
    return lines


def ticket_subject(name: str, revoke_id: str) -> str:
    """The subject of a revoke's FreeScout incident: the revoke opens it by it, a replacement's provisioning finds it
    by it to add its note."""
    return f"Cloudflare token revoked: {name} (cftoken request {revoke_id})"
