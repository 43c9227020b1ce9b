"""`cftoken check`'s token health: every inventory token verified read-only, one line each, as verify sees it.

The facts are fetched by verify's own `gather_facts` (the vault's value verified at Cloudflare, the management
token's view of the token against the inventory's policy, the token's job probe: GETs only) and decided by
verify's own `diagnose`; nothing is changed anywhere and no status is recorded. A token's health never fails the
check: only what blocks every operation does (the management token, the vault, Slack: preflight.live_check).
"""

from __future__ import annotations

from domain.errors import CftokenError
from domain.settings import WorkerSettings
from workers.cli.check import RETRY
from workers.clients.infisical import InfisicalClient
from workers.services import build_services
from workers.verify.diagnosis import diagnose
from workers.verify.report import Diagnosis
from workers.verify.verification import gather_facts

ICONS = {"healthy": "ok", "warning": "WARNING", "failing": "FAILING", "revoked": "revoked", "compromised":
         "COMPROMISED", "unknown": "unknown"}


def token_health(settings: WorkerSettings, vault: InfisicalClient | None = None) -> list[str]:
    """One line per inventory token with its health, or one line saying why none could be checked (through
    `vault` when given: the check's own logged-in client, so the whole check logs in once)."""
    services = build_services(settings, retry=RETRY, infisical=vault)
    try:
        try:
            services.read_vault()
        except CftokenError as exc:
            return [f"token health not checked: the vault could not be read ({exc})"]
        return [health_line(diagnose(gather_facts(services, token), services.inventory))
                for token in services.inventory.tokens]
    finally:
        services.close()


def health_line(diagnosis: Diagnosis) -> str:
    """`NAME: state — summary`, and the worst check's next step when something is wrong."""
    line = f"{diagnosis.token_name}: {ICONS.get(diagnosis.state, diagnosis.state)} — {diagnosis.summary}"
    worst = next((c for c in diagnosis.checks if c.status == "fail"), None) or next(
        (c for c in diagnosis.checks if c.status == "warn"), None)
    if diagnosis.state != "healthy" and worst is not None and worst.next_step:
        line += f" → {worst.next_step}"
    return line
