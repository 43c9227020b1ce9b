"""Read-only pre-flight checks, declared once per operation (its `checks`): the real pre-flight raises at the first
that fails (`stop_at_first`), the dry run runs them all and shows each result (`results`). So a check has one
wording, in both. The checks several operations make (the vault's value, the token's state at Cloudflare, the
quota) are here; an operation's own are in its module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from domain.cloudflare_tokens import CfToken
from domain.dry_run_plan import CheckResult
from domain.errors import CftokenError, TokenCompromised, TokenDisabled, TokenNotFound, TokenRevoked
from domain.health import EXPOSED
from domain.inventory import Token
from domain.provision_plan import Plan
from domain.timestamps import utc_stamp
from domain.vault import Vault, token_id_of
from workers.clients.cloudflare import CloudflareClient
from workers.operations import minting

NO_MANAGEMENT = "not checked: no working management token"
NO_PLAN = "not checked: the declaration cannot be created"


@dataclass
class Reads:
    """What a pre-flight has read so far; a check may add what it read (the token as Cloudflare has it)."""

    token: Token
    vault: Vault | None = None
    cloudflare: CloudflareClient | None = None
    plan: Plan | None = None
    current: CfToken | None = None  # the token at Cloudflare, once a check has read it
    quota_used: int | None = None


@dataclass(frozen=True)
class PreflightCheck:
    """One read-only check: `run` says what it found, or raises the error that stops the operation."""

    label: str  # "{name}" stands for the token's name
    run: Callable[[Reads], str]
    needs: Literal["vault", "cloudflare", "plan"] | None = None  # not made in a dry run when this could not be read

    def title(self, token: Token) -> str:
        return self.label.format(name=token.name)


def stop_at_first(checks: Sequence[PreflightCheck], reads: Reads) -> None:
    """The real pre-flight: every check in order; the first failure's error stops the operation."""
    for check in checks:
        check.run(reads)


def results(checks: Sequence[PreflightCheck], reads: Reads) -> list[CheckResult]:
    """The dry run: every check, each result kept (a failure does not hide the checks after it)."""
    found = []
    for check in checks:
        missing = _missing(check, reads)
        if missing is not None:
            if missing:
                found.append(CheckResult(check.title(reads.token), None, missing))
            continue
        try:
            found.append(CheckResult(check.title(reads.token), True, check.run(reads)))
        except CftokenError as exc:
            found.append(CheckResult(check.title(reads.token), False, str(exc)))
    return found


def _missing(check: PreflightCheck, reads: Reads) -> str | None:
    """Why `check` cannot be made ('' to leave it out silently), or None when it can."""
    if check.needs == "vault" and reads.vault is None:
        return ""  # the vault check above already says why
    if check.needs == "cloudflare" and reads.cloudflare is None:
        return NO_MANAGEMENT
    if check.needs == "plan" and (reads.plan is None or reads.cloudflare is None):
        return NO_MANAGEMENT if reads.cloudflare is None else NO_PLAN
    return None


def not_revoked(reads: Reads) -> str:
    """The vault does not hold a REVOKED placeholder: a roll writes nothing over a revoke."""
    assert reads.vault is not None
    name = reads.token.name
    if reads.vault.revoked(name):
        raise TokenRevoked(f"the vault holds a REVOKED placeholder for {name}: it was revoked, so a roll writes "
                           f"nothing; `/cftoken provision {name}` makes a new token")
    return "present" if reads.vault.values.get(name) is not None else "missing: the roll stores the new value"


def usable(reads: Reads) -> str:
    """The vault's token at Cloudflare is neither marked compromised nor disabled (a roll cannot fix either)."""
    assert reads.vault is not None and reads.cloudflare is not None
    name, token_id = reads.token.name, token_id_of(reads.token, reads.vault)
    try:
        current = reads.cloudflare.get_token(token_id)  # also proves the management token works
    except TokenNotFound as exc:
        raise TokenNotFound(f"{exc} (deleted outside the bot): a roll cannot bring it back; `/cftoken provision "
                            f"{name}` makes a replacement", service=exc.service) from None
    if current.status == EXPOSED:
        raise TokenCompromised(f"{name} is marked compromised at Cloudflare (status revoked (exposed)); a roll would "
                               "not make it work: revoke it instead")
    if current.status == "disabled":
        raise TokenDisabled(f"{name} is disabled at Cloudflare; a roll would not make it work")
    reads.current = current
    expires = utc_stamp(current.expires_on) if current.expires_on else "never"
    return f"token {token_id} is {current.status}, expires {expires}"


def quota(reads: Reads) -> str:
    """Cloudflare has room for one more token of the owner's kind (50 per user, 500 per account)."""
    assert reads.cloudflare is not None
    reads.quota_used = minting.check_quota(reads.cloudflare)
    return minting.quota_text(reads.cloudflare, reads.quota_used) + ": room for one more"


VAULT_VALUE = PreflightCheck("vault value {name}", not_revoked, needs="vault")
AT_CLOUDFLARE = PreflightCheck("token {name} at Cloudflare", usable, needs="cloudflare")
