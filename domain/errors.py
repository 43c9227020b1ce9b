"""Every error cftoken raises, in one tree; each maps a service answer or a refusal to what the on-call reads.

    CftokenError                      base; `str(e)` is safe to show (never holds a secret); `.runbook` the next step
    ├── SettingsError                 a setting is missing or malformed (one line naming the variable)
    ├── InventoryError                the inventory file is unreadable or inconsistent
    ├── UsageError                    `/cftoken …` typed wrong; the message says what to type instead
    ├── Refused                       this person may not do this, here or now
    ├── ApproversUnavailable          Slack did not say in time who is in the approver group: nothing decided
    ├── Replayed                      this exact command already reached the bot: answered, not acted on twice
    ├── RequestNotFound               no request record has that id (never existed, long gone, or Redis lost it)
    ├── RequestClosed                 the request is past the state this needs; `.request` is its record
    ├── AlreadyOpen                   the token already has an open operation; `.request` is that one
    ├── ServiceUnavailable            5xx, timeouts, refused or dropped connections (any service)   [transient]
    ├── RateLimited                   429 anywhere; `.retry_after` seconds                           [transient]
    ├── SlackTokenRefused             Slack refuses the bot token itself (invalid_auth, token_revoked, …)
    ├── TokenBusy                     another worker holds the token's lock right now                [transient]
    ├── OperationLost                 another worker took this operation over (this one stands down)
    ├── RecordsLost                   Redis lost this operation's checkpoint or request record
    ├── RecordTampered                a record's integrity tag is missing or wrong: Redis was written by hand
    ├── TokenInvalid                  Cloudflare 1000 for the token under test         (failure mode B)
    ├── NotAuthorized                 Cloudflare 9109 / 10000 / 403: scope or zone     (failure mode A)
    ├── ManagementTokenInvalid        Cloudflare 1000 / 401 for the management token   (failure mode D)
    ├── TokenNotFound                 Cloudflare has no token with that id (7003 / 404)
    ├── TokenDisabled                 the token is disabled at Cloudflare: rolling it would not make it work
    ├── TokenRevoked                  the vault holds the bot's REVOKED placeholder: the token was revoked
    ├── RollLoop                      Cloudflare kept rejecting freshly rolled values
    ├── CannotProvision               the inventory's declaration cannot be created as it stands
    │   └── ManagementNotMinted       provision asked for the management token (an operator rotates it)
    ├── AlreadyProvisioned            provision asked for a token whose vault value is live
    ├── NameTaken                     Cloudflare already has a token with the name to provision
    ├── PreflightMismatch             a zone or permission-group id differs from Cloudflare's (names Cloudflare's)
    ├── QuotaExhausted                the user has Cloudflare's 50 user tokens already
    ├── NewTokenRejected              a just-created token does not verify, or its job call is refused
    ├── CreateLoop                    freshly created tokens kept losing their values
    ├── NoTokenId                     neither the inventory nor the vault's __TOKEN_ID names the token
    ├── SealBroken                    a sealed new value cannot be decrypted (CFTOKEN_SECRET_KEY changed?)
    ├── VaultSecretMissing            Infisical 404: no secret at path P in env E      (failure mode C)
    ├── VaultFolderMissing            Infisical 404: no folder P in env E (or no env E)  (failure mode C)
    ├── VaultAccessDenied             Infisical 401 / 403: vault credentials rejected
    │   └── VaultLoginBlocked         the identity is locked or its client secret spent: not logging in
    ├── VaultWriteHeld                Infisical answered a write with a pending approval
    ├── TicketError                   FreeScout refused the request (4xx)
    ├── AuditLogUnavailable           Cloudflare's audit log cannot be read (no account_id, no audit token, refused)
    └── UnexpectedResponse            an answer that matches no contract
        └── SlackRefused              Slack refused this one call (its message or channel); `.code` is Slack's

Anything else an operation raises is a bug: the worker logs it with a reference id and posts that id.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from domain.requests import Request


class CftokenError(Exception):
    """Base class. Messages are written for the on-call engineer and never contain a token value."""

    runbook = ""  # the runbook's next step, shown under the message

    def __init__(self, message: str, *, service: str = "") -> None:
        super().__init__(message)
        self.service = service

    def next_step(self, token: str = "") -> str:
        """The runbook step with the token's real name where the caller knows it (`NAME` only where none is)."""
        return _PLACEHOLDER.sub(token, self.runbook) if token else self.runbook


_PLACEHOLDER = re.compile(r"(?<![A-Za-z0-9_])NAME(?![A-Za-z0-9])")  # also the NAME in NAME__EXPIRES_AT


class SettingsError(CftokenError):
    """A setting is missing or malformed; the message is one line naming the variable; `.problems` one entry each."""

    runbook = "Set the variable (README 'Configuration'); `cftoken check` lists what is missing."

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.problems = problems or (message,)


class InventoryError(CftokenError):
    """The inventory file is unreadable or inconsistent; the message names the file, line and problem."""


class UsageError(CftokenError):
    """The command was typed wrong; the message says what to type instead."""


class Refused(CftokenError):
    """The person may not do this (here, or now); the message is a polite explanation."""


class ApproversUnavailable(CftokenError):
    """Slack did not say in time who is in the approver group; nothing was decided."""

    def __init__(self) -> None:
        super().__init__(
            "Could not check the approver group with Slack just now, so nothing was decided: no request was "
            "opened, approved or denied. Try again in a minute."
        )


class Replayed(CftokenError):
    """The same signed command (or trigger) arrived before; it was acted on then."""

    def __init__(self) -> None:
        super().__init__(
            "This exact /cftoken command already reached the bot (sent twice, or replayed) and was handled the "
            "first time, so nothing new was queued. Type the command again if you meant to run it again."
        )


class RequestNotFound(CftokenError):
    """No request has that id (never existed, long finished, a forged button value, or Redis lost it)."""


class RequestClosed(CftokenError):
    """The request is no longer in a state that allows this; `.request` is its current record."""

    def __init__(self, message: str, request: Request) -> None:
        super().__init__(message)
        self.request = request


class AlreadyOpen(CftokenError):
    """The token already has an open operation (pauses included); `.request` is that one."""

    def __init__(self, request: Request) -> None:
        super().__init__(f"A {request.action} of {request.token} is already open ({request.id}, {request.state}).")
        self.request = request


class ServiceUnavailable(CftokenError):
    runbook = "The service did not answer; the bot retried. Try again in a few minutes or check its status page."


class RateLimited(CftokenError):
    runbook = "Rate limited: wait and try again."

    def __init__(self, message: str, *, service: str = "", retry_after: float = 0.0) -> None:
        super().__init__(message, service=service)
        self.retry_after = retry_after


class TokenBusy(CftokenError):
    runbook = "Another operation on this token is running; this one resumes when it ends."


class OperationLost(CftokenError):
    runbook = "Another worker took over this operation (its lock expired); that worker finishes it."


class RecordsLost(CftokenError):
    runbook = (
        "Redis lost its data (see README 'Redis'): check the token with `/cftoken verify NAME` and roll it if the "
        "vault's value does not work."
    )


class TokenInvalid(CftokenError):
    runbook = "Failure mode B: check NAME__EXPIRES_AT, then roll the token (`/cftoken roll NAME`)."


class NotAuthorized(CftokenError):
    runbook = (
        "Failure mode A: confirm the right token for the zone; check policies[].resources and "
        "permission_groups with `/cftoken verify NAME`."
    )


class ManagementTokenInvalid(CftokenError):
    runbook = (
        "Failure mode D: CF_ACCESS_MGMT is expired or revoked. Escalate to an operator: it must be rotated "
        "in the Cloudflare dashboard (https://dash.cloudflare.com/profile/api-tokens), not by the bot."
    )


class TokenNotFound(CftokenError):
    runbook = "Cloudflare has no token with that id: check __TOKEN_ID and the inventory; provision a replacement."


class TokenDisabled(CftokenError):
    runbook = "Someone disabled it on purpose? Re-enable it in the Cloudflare dashboard, or revoke it."


class TokenRevoked(CftokenError):
    runbook = "The token was revoked: clean up its consumers and provision a replacement (runbook: provisioning)."


class TokenCompromised(CftokenError):
    runbook = (
        "Cloudflare deactivated it after secret scanning found it leaked; a roll cannot revive it. Revoke it "
        "(`/cftoken revoke NAME leaked`), clean up its consumers, then provision a replacement (runbook: "
        "Revocation, then the provisioning procedure)."
    )


class RollLoop(CftokenError):
    runbook = "Cloudflare kept rejecting freshly rolled values: check the token at the dashboard; escalate."


class CannotProvision(CftokenError):
    runbook = "Fix the token's declaration in the inventory (`cftoken check` validates it), then ask again."


class ManagementNotMinted(CannotProvision):
    runbook = ("Failure mode D: an operator rotates the management token in the Cloudflare dashboard "
               "(https://dash.cloudflare.com/profile/api-tokens); the bot never provisions or rolls it.")


class AlreadyProvisioned(CftokenError):
    runbook = "The token exists: use `/cftoken verify NAME` to check it, or `/cftoken roll NAME` for a new value."


class NameTaken(CftokenError):
    runbook = (
        "Its value is not in the vault, so nobody can use it: revoke it first (`/cftoken revoke NAME reason`), or "
        "restore the vault secret from Infisical's history if the token is still in use."
    )


class PreflightMismatch(CftokenError):
    runbook = "Correct the inventory to what Cloudflare has (the message names it), then ask again."


class QuotaExhausted(CftokenError):
    runbook = (
        "Delete user API tokens nobody uses (dashboard → My Profile → API Tokens), then ask again. "
        "Cloudflare allows 50 per user."
    )


class NewTokenRejected(CftokenError):
    runbook = "Check the new token in the Cloudflare dashboard; the bot retries every minute."


class CreateLoop(CftokenError):
    runbook = "Check the dashboard for tokens with this name and delete the extra ones; escalate."


class RecordTampered(CftokenError):
    """A request record or checkpoint whose integrity tag does not verify: never acted upon."""

    runbook = (
        "Someone wrote this record in Redis without the bot's key: nothing was done with it. If CFTOKEN_SECRET_KEY "
        "was just changed, set CFTOKEN_SECRET_KEY_PREVIOUS to the old value and run `cftoken reconcile`; otherwise "
        "check who has Redis access (see README 'Threat model'), then open the request again with `/cftoken …` if "
        "it is still needed."
    )

    def __init__(self, message: str, *, record_id: str, token: str = "") -> None:
        super().__init__(message)
        self.record_id, self.token = record_id, token  # the token is what the record claims: untrusted


class RecordReplayed(RecordTampered):
    """A genuinely tagged request record or checkpoint put back into Redis after it had run, or aimed at a token
    other than the one approved (domain/approval_binding.py): never acted upon."""

    runbook = (
        "A copy of an earlier record was put back into Redis (a replay): nothing was done with it. Check who has "
        "Redis access (see README 'Threat model'); to act on the token as it is now, ask again with `/cftoken …`."
    )


class NoTokenId(CftokenError):
    runbook = "Set the token's __TOKEN_ID companion in the vault (or token_id in the inventory)."


class SealBroken(CftokenError):
    runbook = "The sealed value cannot be opened (CFTOKEN_SECRET_KEY changed?): the rotation rolls again."


class VaultSecretMissing(CftokenError):
    runbook = "Failure mode C: confirm the path and env; restore the secret from Infisical's history or re-provision."

    def __init__(self, name: str, path: str, environment: str) -> None:
        super().__init__(
            f"secret {name} is missing at {path} in environment {environment}", service="infisical"
        )
        self.name, self.path, self.environment = name, path, environment


class VaultFolderMissing(CftokenError):
    """The vault folder itself (or its environment) does not exist: every token in it is unreachable, not missing."""

    runbook = ("Failure mode C for the whole folder: check INFISICAL_SECRET_PATH and INFISICAL_ENVIRONMENT (and the "
               "inventory's [vault] path and environment) against Infisical, or create the folder there; "
               "`cftoken check` names it.")

    def __init__(self, path: str, environment: str, said: str = "") -> None:
        quoted = f" (Infisical: {said})" if said else ""
        super().__init__(f"the vault folder {path} does not exist in environment {environment}{quoted}",
                         service="infisical")
        self.path, self.environment = path, environment


class VaultAccessDenied(CftokenError):
    runbook = "The vault rejected the bot's machine identity: check INFISICAL_CLIENT_ID/SECRET and its permissions."


class VaultLoginBlocked(VaultAccessDenied):
    """Infisical locked the identity's Universal Auth, or its client secret is used up or expired: logging in again
    would only burn attempts, so the bot does not until `until` (None: until the client secret is replaced)."""

    def __init__(self, message: str, *, fix: str, until: float | None) -> None:
        super().__init__(message, service="infisical")
        self.runbook, self.until = fix, until


class VaultWriteHeld(CftokenError):
    runbook = "A secret-approval policy holds writes to this folder: approve the change in Infisical."


class AuditLogUnavailable(CftokenError):
    """Cloudflare's audit log cannot be read; the message says why and `runbook` the fix. Never holds up a revoke."""

    runbook = ('Set account_id and audit_token = "NAME" in the inventory (a token with Account Settings Read, '
               "which may be the management token).")


class TicketError(CftokenError):
    runbook = "FreeScout refused the ticket: check FREESCOUT_URL, FREESCOUT_API_KEY and FREESCOUT_MAILBOX_ID."


class SlackTokenRefused(CftokenError):
    """Slack refuses the bot token itself (invalid_auth, token_revoked, account_inactive, not_authed): no call
    can pass until the token is fixed. `.code` is Slack's error code."""

    runbook = ("Copy the Bot User OAuth Token again into SLACK_BOT_TOKEN (reinstall the app if it was revoked); "
               "`cftoken check` confirms it. Nothing queued for the channel is lost meanwhile.")

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, service="slack")
        self.code = code


class UnexpectedResponse(CftokenError):
    runbook = ("The service answered in a way the bot does not know (the message above quotes its status and "
               "code): check the service's status page, then try again.")

    def __init__(self, message: str, *, service: str = "", status: int | None = None, code: int | None = None) -> None:
        super().__init__(message, service=service)
        self.status, self.code = status, code  # the service's own HTTP status and error code, where it gave them


class SlackRefused(UnexpectedResponse):
    """Slack refused this one call (invalid_blocks, msg_too_long, channel_not_found, …); `.code` is its code."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message, service="slack")
        self.code = code


TRANSIENT = (ServiceUnavailable, RateLimited, TokenBusy)  # errors that waiting and retrying can fix
