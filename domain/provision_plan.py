"""What provisioning a declared token will create, decided from the inventory alone (pure).

The approval message shows this plan, and the worker creates exactly it: zone-level permission groups on the
declared zones (or all zones), account-level ones (Pages, Access) on the inventory's account, an expiry one
cadence after the create, the declared IP condition, and the four vault secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.errors import CannotProvision, ManagementNotMinted
from domain.inventory import Inventory, Token

ZONE_RESOURCE = "com.cloudflare.api.account.zone."
ALL_ZONES_RESOURCE = ZONE_RESOURCE + "*"
ACCOUNT_RESOURCE = "com.cloudflare.api.account."
ZONE_SCOPE = "com.cloudflare.api.account.zone"
ACCOUNT_SCOPE = "com.cloudflare.api.account"
SECRETS = ("", "__EXPIRES_AT", "__SCOPES", "__TOKEN_ID")


@dataclass(frozen=True)
class Group:
    name: str
    id: str
    account_level: bool


@dataclass(frozen=True)
class Plan:
    """One token to create, as Cloudflare will be asked for it."""

    name: str
    zones: tuple[tuple[str, str], ...]  # (zone name, zone id); empty with all_zones or no zone-level groups
    all_zones: bool
    groups: tuple[Group, ...]
    account_id: str | None
    cadence_days: int
    condition: dict[str, Any] | None
    vault_path: str
    vault_environment: str
    scope: str

    @property
    def zone_groups(self) -> tuple[Group, ...]:
        return tuple(group for group in self.groups if not group.account_level)

    @property
    def account_groups(self) -> tuple[Group, ...]:
        return tuple(group for group in self.groups if group.account_level)

    @property
    def secret_names(self) -> tuple[str, ...]:
        return tuple(self.name + suffix for suffix in SECRETS)

    def expires_on(self, created_at: datetime) -> datetime:
        """One cadence after the create, to the second (Cloudflare keeps whole seconds)."""
        return (created_at + timedelta(days=self.cadence_days)).replace(microsecond=0)

    def policies(self) -> list[dict[str, Any]]:
        """The create body's policies: no policy ids (Cloudflare refuses reused policies), group ids only."""
        policies = []
        if self.zone_groups:
            resources = ({ALL_ZONES_RESOURCE: "*"} if self.all_zones
                         else {ZONE_RESOURCE + zone_id: "*" for _, zone_id in self.zones})
            policies.append(_policy(resources, self.zone_groups))
        if self.account_groups:
            assert self.account_id is not None  # plan_provisioning refuses otherwise
            policies.append(_policy({ACCOUNT_RESOURCE + self.account_id: "*"}, self.account_groups))
        return policies


def plan_provisioning(token: Token, inventory: Inventory) -> Plan:
    """The plan for `token`; CannotProvision when the declaration cannot be created as it stands."""
    if inventory.is_management(token):
        raise ManagementNotMinted(
            f"{token.name} is the management token: it mints the others and cannot mint itself. "
            "Create it in the Cloudflare dashboard (the 'Create additional tokens' template)."
        )
    groups = tuple(
        Group(name, inventory.permission_groups[name], inventory.is_account_level(name)) for name in token.permissions
    )
    if any(group.account_level for group in groups) and inventory.account_id is None:
        names = ", ".join(group.name for group in groups if group.account_level)
        raise CannotProvision(f"{token.name} asks for account-level permissions ({names}), but the inventory has "
                              "no account_id: add `account_id = \"<your Cloudflare account id>\"` at its top.")
    zone_level = [group for group in groups if not group.account_level]
    if zone_level and not token.zones:
        names = ", ".join(group.name for group in zone_level)
        raise CannotProvision(f"{token.name} asks for zone permissions ({names}) but lists no zones: "
                              'set zones = ["<zone>"] (or ["*"] for all zones).')
    zones = () if token.all_zones or not zone_level else tuple((zone, inventory.zones[zone]) for zone in token.zones)
    return Plan(
        name=token.name,
        zones=zones,
        all_zones=token.all_zones and bool(zone_level),
        groups=groups,
        account_id=inventory.account_id,
        cadence_days=token.cadence_days,
        condition=token.condition.as_cloudflare() if token.condition else None,
        vault_path=inventory.vault.path,
        vault_environment=inventory.vault.environment,
        scope=token.scope,
    )


def index_line(plan: Plan, token_id: str, expires_on: datetime, created_at: datetime) -> str:
    """The row to add to the rotation INDEX (docs/ops/runbooks/rotation/INDEX.md)."""
    where = "all zones" if plan.all_zones else ", ".join(name for name, _ in plan.zones) or "account"
    return (f"| {plan.name} | {token_id} | {plan.scope} | {where} | {plan.cadence_days} days | "
            f"created {created_at:%Y-%m-%d}, expires {expires_on:%Y-%m-%d} |")


def _policy(resources: dict[str, Any], groups: tuple[Group, ...]) -> dict[str, Any]:
    return {"effect": "allow", "resources": resources, "permission_groups": [{"id": group.id} for group in groups]}
