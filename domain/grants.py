"""A token's grants at Cloudflare against the inventory (pure): its zones or account, its permission groups and its
IP condition, compared once; health's problems, verify's report and `cftoken inventory diff` word the result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from domain.cloudflare_tokens import CfToken
from domain.inventory import Inventory, Token

ZONE_PREFIX = "com.cloudflare.api.account.zone."
ALL_ZONES_KEY = ZONE_PREFIX + "*"
_ACCOUNT_KEY = re.compile(r"^com\.cloudflare\.api\.account\.[0-9a-f]{32}$")


@dataclass(frozen=True)
class ZoneComparison:
    """A token's zone (or account) grants against the inventory: the one comparison verify, the scan and
    `inventory diff` word their own way. Names are sorted; a zone the inventory does not know is its id."""

    declared: Literal["zones", "all", "account", "none"]  # listed zones, all zones, account-level groups, nothing
    every: bool = False  # the allow policies grant all zones
    granted: tuple[str, ...] = ()
    expected: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    wanted: tuple[str, ...] = ()  # account-level groups the inventory declares
    ungranted: tuple[str, ...] = ()  # of those, the ones not granted on the account
    where: str = ""  # "account <id>", or "an account" when the inventory names none


@dataclass(frozen=True)
class PermissionComparison:
    """A token's permission groups against the inventory's, by name (Cloudflare's name for one it does not know)."""

    missing: tuple[str, ...]
    extra: tuple[str, ...]


def account_level_wanted(token: Token, inventory: Inventory) -> tuple[str, ...]:
    """The account-level groups (Pages, Access) a token without zones declares."""
    return tuple(name for name in token.permissions if inventory.is_account_level(name))


def compare_zones(token: Token, view: CfToken, inventory: Inventory) -> ZoneComparison:
    """Failure mode A, zones: what the allow policies grant against what the inventory declares."""
    if not token.zones:
        wanted = account_level_wanted(token, inventory)
        if not wanted:
            return ZoneComparison("none")
        granted = _account_grants(view, inventory.account_id)
        where = f"account {inventory.account_id}" if inventory.account_id else "an account"
        return ZoneComparison("account", wanted=wanted, where=where,
                              ungranted=tuple(n for n in wanted if inventory.permission_groups[n] not in granted))
    granted, every = granted_zones(view)

    def names(ids: frozenset[str]) -> tuple[str, ...]:
        return tuple(sorted(inventory.zone_name(item) for item in ids))

    if token.all_zones:
        return ZoneComparison("all", every=every, granted=names(granted))
    expected = inventory.zone_ids(token)
    return ZoneComparison("zones", every=every, granted=names(granted), expected=names(expected),
                          missing=names(expected - granted), extra=names(granted - expected))


def _account_grants(view: CfToken, account_id: str | None) -> frozenset[str]:
    """Group ids the allow policies grant on an account resource (the inventory's account, or any)."""
    granted: set[str] = set()
    for policy in view.policies:
        for key in policy.resources if policy.effect == "allow" else ():
            if _ACCOUNT_KEY.match(key) and account_id in (None, key.rsplit(".", 1)[1]):
                granted |= {group.id for group in policy.permission_groups}
    return frozenset(granted)


def compare_permissions(token: Token, view: CfToken, inventory: Inventory) -> PermissionComparison:
    """Failure mode A, permission groups: the allow policies' groups against the inventory's."""
    cloudflare_names = {g.id: g.name for p in view.policies for g in p.permission_groups if g.name}
    granted = frozenset(g.id for p in view.policies if p.effect == "allow" for g in p.permission_groups)
    expected = inventory.permission_ids(token)

    def name_of(group_id: str) -> str:
        known = inventory.permission_name(group_id)
        return cloudflare_names.get(group_id, group_id) if known == group_id else known

    return PermissionComparison(tuple(sorted(map(name_of, expected - granted))),
                                tuple(sorted(map(name_of, granted - expected))))


def zone_differences(token: Token, view: CfToken, inventory: Inventory) -> str:
    """Failure mode A, zones, as the scan words it: '' when the grants are exactly the inventory's."""
    found = compare_zones(token, view, inventory)
    if found.declared == "none":
        return ""
    if found.declared == "account":
        return f"{', '.join(found.ungranted)} not granted on {found.where}" if found.ungranted else ""
    if found.declared == "all":
        return "" if found.every else f"grants only {', '.join(found.granted) or 'none'}; expected all zones"
    if found.every:
        return f"grants all zones; expected only {', '.join(found.expected)}"
    return differences_text(found.missing, found.extra)


def permission_differences(token: Token, view: CfToken, inventory: Inventory) -> str:
    """Failure mode A, permission groups: '' when the allow policies grant exactly the inventory's."""
    found = compare_permissions(token, view, inventory)
    return differences_text(found.missing, found.extra)


def ip_differences(token: Token, view: CfToken) -> str:
    """The token's request_ip condition against the inventory's, when the inventory declares one."""
    if token.condition is None:
        return ""
    condition = view.condition or {}
    ip = condition.get("request_ip") or condition.get("request.ip") or {}
    ip = ip if isinstance(ip, dict) else {}
    found = []
    for label, expected, granted in (
        ("allowed", frozenset(token.condition.request_ip.allowed), frozenset(ip.get("in") or ())),
        ("denied", frozenset(token.condition.request_ip.denied), frozenset(ip.get("not_in") or ())),
    ):
        if expected != granted:
            found.append(f"{label} ranges " + (differences(expected - granted, granted - expected, str)))
    return "; ".join(found)


def granted_zones(view: CfToken) -> tuple[frozenset[str], bool]:
    """Zone ids the allow policies grant, and whether they grant all zones (deny policies ignored)."""
    zones: set[str] = set()
    every = False
    for policy in view.policies:
        if policy.effect != "allow":
            continue
        for key, value in _resource_keys(policy.resources):
            if key == ALL_ZONES_KEY or (_ACCOUNT_KEY.match(key) and value == "*"):
                every = True
            elif key.startswith(ZONE_PREFIX):
                zones.add(key.removeprefix(ZONE_PREFIX))
    return frozenset(zones), every


def _resource_keys(resources: dict[str, Any]) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for key, value in resources.items():
        found += _resource_keys(value) if isinstance(value, dict) else [(key, value)]
    return found


def differences(missing: frozenset[str], extra: frozenset[str], name_of: Callable[[str], str]) -> str:
    return differences_text(tuple(sorted(map(name_of, missing))), tuple(sorted(map(name_of, extra))))


def zones_over_only(found: ZoneComparison) -> bool:
    """More zones than the inventory's and none missing: over-privileged (a warning: the token still does its job)."""
    return found.declared == "zones" and (found.every or (bool(found.extra) and not found.missing))


def permissions_over_only(found: PermissionComparison) -> bool:
    """More permission groups than the inventory's and none missing: over-privileged (a warning)."""
    return bool(found.extra) and not found.missing


def differences_text(missing: Iterable[str], extra: Iterable[str]) -> str:
    """'missing A, B; extra C' ('' when both are empty)."""
    parts = [f"{label} {', '.join(items)}" for label, items in (("missing", tuple(missing)), ("extra", tuple(extra)))
             if items]
    return "; ".join(parts)
