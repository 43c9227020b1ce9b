"""What verify works on and what it reports: the facts fetched about one token (never a token value), one line of
the report (`Check`), and the report (`Diagnosis`). The decisions are workers/verify/diagnosis.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from domain.cloudflare_tokens import CfToken, Verification
from domain.errors import CftokenError
from domain.health import Health, Probe, RevokedByBot
from domain.inventory import Token
from domain.token_activity import TokenActivity, TokenChange

Status = Literal["ok", "skip", "warn", "fail"]  # skip: deliberately not checked, nothing wrong found or implied
State = Literal["healthy", "warning", "failing", "revoked", "compromised", "unknown"]


@dataclass(frozen=True)
class Facts:
    """What verify fetched about one token; never a token value."""

    token: Token
    now: datetime
    vault_path: str
    vault_environment: str
    vault_error: CftokenError | None = None  # the folder itself could not be listed
    value_present: bool = False
    expires_at_text: str | None = None
    scopes_text: str | None = None
    token_id_text: str | None = None
    verification: Verification | CftokenError | None = None  # None: not attempted (no value)
    management_missing: bool = False
    management: CfToken | CftokenError | None = None  # None: not attempted
    token_id: str | None = None
    revoked: RevokedByBot | None = None  # the vault holds the bot's REVOKED placeholder
    probes: tuple[Probe, ...] | None = None  # None: not run (no working value, or no probe for this token)
    probe_error: CftokenError | None = None  # a probe could not be made (outage), not a refusal
    bot_used_at: datetime | None = None  # the bot's own previous use of the value
    is_management: bool = False  # the bot's own management token: every change and check uses it
    named: tuple[CfToken, ...] | CftokenError | None = None  # Cloudflare's tokens with this name; None: not listed
    overlapping: bool = False  # an overlap rotation (or provision) of the token is under way
    kept: tuple[str, ...] = ()  # old tokens an approver kept live with Keep old
    activity: TokenActivity | CftokenError | None = None  # Cloudflare's audit log for the token; None: not read
    outside_change: TokenChange | None = None  # the newest write to the token by someone other than the bot
    value_kind: str | None = None  # the kind the vault's value proved to be: its prefix, or the verify that took it


@dataclass(frozen=True)
class Check:
    status: Status
    title: str
    detail: str
    next_step: str | None = None


@dataclass(frozen=True)
class Diagnosis:
    token_name: str
    state: State
    checks: tuple[Check, ...]
    summary: str
    checked_at: datetime
    expires_on: datetime | None = None
    health: Health | None = None
