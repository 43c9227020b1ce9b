"""Typed errors that map every service answer to the runbook's failure modes.

    CftokenError                      base; `str(e)` is safe to show (never holds a secret value)
    ├── ServiceUnavailable            5xx, timeouts, refused or dropped connections (any service)
    ├── RateLimited                   429 anywhere; `.retry_after` seconds
    ├── TokenInvalid                  Cloudflare 1000 for the token under test         (failure mode B)
    ├── NotAuthorized                 Cloudflare 9109 / 10000 / 403: scope or zone     (failure mode A)
    ├── ManagementTokenInvalid        Cloudflare 1000 / 401 for the management token   (failure mode D)
    ├── TokenNotFound                 Cloudflare has no token with that id (7003 / 404)
    ├── VaultSecretMissing            Infisical 404: no secret at path P in env E      (failure mode C)
    ├── VaultAccessDenied             Infisical 401 / 403: vault credentials rejected
    ├── VaultWriteHeld                Infisical answered a write with a pending approval
    ├── TicketError                   FreeScout refused the request (4xx)
    └── UnexpectedResponse            an answer that matches no contract
"""

from __future__ import annotations


class CftokenError(Exception):
    """Base class. Messages are written for the on-call engineer and never contain a token value."""

    runbook = ""  # the runbook's next step, shown under the message

    def __init__(self, message: str, *, service: str = "") -> None:
        super().__init__(message)
        self.service = service


class ServiceUnavailable(CftokenError):
    runbook = "The service did not answer; the bot retried. Try again in a few minutes or check its status page."


class RateLimited(CftokenError):
    runbook = "Rate limited: wait and try again."

    def __init__(self, message: str, *, service: str = "", retry_after: float = 0.0) -> None:
        super().__init__(message, service=service)
        self.retry_after = retry_after


class TokenInvalid(CftokenError):
    runbook = "Failure mode B: check __EXPIRES_AT, then roll the token (`/cftoken roll NAME`)."


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


class VaultSecretMissing(CftokenError):
    runbook = "Failure mode C: confirm the path and env; restore the secret from Infisical's history or re-provision."

    def __init__(self, name: str, path: str, environment: str) -> None:
        super().__init__(
            f"secret {name} is missing at {path} in environment {environment}", service="infisical"
        )
        self.name, self.path, self.environment = name, path, environment


class VaultAccessDenied(CftokenError):
    runbook = "The vault rejected the bot's machine identity: check INFISICAL_CLIENT_ID/SECRET and its permissions."


class VaultWriteHeld(CftokenError):
    runbook = "A secret-approval policy holds writes to this folder: approve the change in Infisical."


class TicketError(CftokenError):
    runbook = "FreeScout refused the ticket: check FREESCOUT_URL, FREESCOUT_API_KEY and FREESCOUT_MAILBOX_ID."


class UnexpectedResponse(CftokenError):
    runbook = "An answer matched no known contract; the log has the reference."
