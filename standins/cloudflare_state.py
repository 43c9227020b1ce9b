"""Cloudflare stand-in data: token and zone records, secret values, permission groups and policy checks.

Plain functions over plain dicts, no I/O and no locking: `standins.cloudflare` owns the lock and the routes.
Records keep datetimes internally; `public_token` renders them as the API shows them (never the value).
"""

from __future__ import annotations

import re
import secrets
import string
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from standins.base import iso

TOKENS_WRITE = "686d18d5ac6c441c867cbf6771e58a0a"
TOKENS_READ = "0cc3a61731504c89b99ec1be78b77aa0"
# Account API Tokens Write / Read: granted on com.cloudflare.api.account.<id>; the ids are the stand-in's own
# (Cloudflare's are unconfirmed: read them from GET /accounts/{id}/tokens/permission_groups).
ACCOUNT_TOKENS_WRITE = "5bc3f8b21c554832afc660159ab75fa4"
ACCOUNT_TOKENS_READ = "0f45d4b4b3d14d4c8e2c4f8f6a8e9c1d"
USER_RESOURCE = "com.cloudflare.api.user."
ACCOUNT_RESOURCE = "com.cloudflare.api.account."
STATUSES = ("active", "disabled", "expired")  # what PUT /user/tokens/{id} accepts
EXPOSED = "revoked (exposed)"  # reached only through Cloudflare's secret scanning (test and world controls)
ALL_STATUSES = (*STATUSES, EXPOSED)
DNS_READERS = ("4755a26eedb94da69e1066d98aa820be", "82e64a83756745bbbb1c9c2701bf816b")  # DNS Write, DNS Read
WAF_READERS = ("fb6778dc191143babbfaa57993f1d275", "dbc512b354774852af2b5a5f4ba3d470")  # Zone WAF Write, Read

# The ruleset phases Cloudflare's OpenAPI enumerates (cloudflare-python 5.x `types/rulesets/phase.py`).
PHASES = (
    "ddos_l4", "ddos_l7", "http_config_settings", "http_custom_errors", "http_log_custom_fields", "http_ratelimit",
    "http_request_cache_settings", "http_request_dynamic_redirect", "http_request_firewall_custom",
    "http_request_firewall_managed", "http_request_late_transform", "http_request_origin", "http_request_redirect",
    "http_request_sanitize", "http_request_sbfm", "http_request_select_configuration", "http_request_transform",
    "http_response_compression", "http_response_firewall_managed", "http_response_headers_transform",
    "magic_transit", "magic_transit_ids_managed", "magic_transit_managed",
)

_ZONE_SCOPE = "com.cloudflare.api.account.zone"
_ACCOUNT_SCOPE = "com.cloudflare.api.account"
DEFAULT_PERMISSION_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Zone WAF Write", "fb6778dc191143babbfaa57993f1d275", (_ZONE_SCOPE,)),
    ("Zone WAF Read", "dbc512b354774852af2b5a5f4ba3d470", (_ZONE_SCOPE,)),
    ("DNS Write", "4755a26eedb94da69e1066d98aa820be", (_ZONE_SCOPE,)),
    ("DNS Read", "82e64a83756745bbbb1c9c2701bf816b", (_ZONE_SCOPE,)),
    ("Zone Read", "c8fed203ed3043cba015a93ad1616f1f", (_ZONE_SCOPE,)),
    ("Pages Write", "8d28297797f24fb8a0c332fe0866ec89", (_ACCOUNT_SCOPE,)),
    ("Pages Read", "e247aedd66bd41cc9193af0213416666", (_ACCOUNT_SCOPE,)),
    ("API Tokens Write", TOKENS_WRITE, ("com.cloudflare.api.user",)),
    ("API Tokens Read", TOKENS_READ, ("com.cloudflare.api.user",)),
    ("Access: Apps and Policies Write", "959972745952452f8be2452be8cbb9f2", (_ACCOUNT_SCOPE,)),
    ("Account API Tokens Write", ACCOUNT_TOKENS_WRITE, (_ACCOUNT_SCOPE,)),
    ("Account API Tokens Read", ACCOUNT_TOKENS_READ, (_ACCOUNT_SCOPE,)),
)
# The category GET /accounts/{id}/tokens/permission_groups shows for each group (api-contracts.md 1.3).
CATEGORIES = {"Zone WAF": "app_security", "DNS": "dns_and_zones", "Zone": "dns_and_zones",
              "Pages": "developer_platform", "Access": "cloudflare_one_and_zero_trust",
              "Account API": "account_and_billing"}

_ALPHANUMERIC = string.ascii_letters + string.digits
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})\Z")
EXPIRED_LISTED = timedelta(days=30)  # how long an expired token stays in an include_expired list (unconfirmed)


class Invalid(ValueError):
    """A request body field that Cloudflare would reject; the message names the field."""


def new_id() -> str:
    """A Cloudflare-style identifier: 32 lowercase hex characters."""
    return secrets.token_hex(16)


def new_value(prefix: str = "cfut_") -> str:
    """A scannable token value: cfut_ (user) or cfat_ (account) + 40 alphanumerics + an 8-hex checksum
    (53 chars, within 40–80)."""
    body = legacy_value()
    return f"{prefix}{body}{zlib.crc32(body.encode()):08x}"


def legacy_value() -> str:
    """A pre-2026 value, user or account alike: 40 alphanumerics that say nothing about the kind."""
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(40))


def category(group_name: str) -> str:
    """The permission group's category as the account listing shows it ("other" when not known)."""
    return next((found for start, found in CATEGORIES.items() if group_name.startswith(start)), "other")


def policy(*group_ids: str, resource: str = USER_RESOURCE + "*", effect: str = "allow") -> dict[str, Any]:
    """A policy granting `group_ids` on one resource key; the default resource is the user."""
    return {"effect": effect, "resources": {resource: "*"}, "permission_groups": [{"id": g} for g in group_ids]}


def parse_time(value: Any, field: str) -> datetime | None:
    """An ISO-8601 timestamp (or datetime, or None) as an aware UTC datetime."""
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if value is not None else None
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise Invalid(f"{field}: expected an RFC 3339 date-time such as 2026-01-01T00:00:00Z, not {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"{field}: {value!r} is not an ISO-8601 timestamp") from None
    return moment.replace(tzinfo=moment.tzinfo or UTC).astimezone(UTC)


def normalise_policies(raw: Any, group_names: dict[str, str]) -> list[dict[str, Any]]:
    """Validate policies and fill in what Cloudflare adds: a policy id and each group's name."""
    if not isinstance(raw, list) or not raw:
        raise Invalid("policies: at least one policy is required")
    policies = []
    for index, item in enumerate(raw):
        groups = item.get("permission_groups") if isinstance(item, dict) else None
        if not isinstance(groups, list) or not groups or not isinstance(item.get("resources"), dict):
            raise Invalid(f"policies[{index}]: resources and permission_groups are required")
        if item.get("effect", "allow") not in ("allow", "deny"):
            raise Invalid(f"policies[{index}].effect: must be allow or deny")
        if not all(isinstance(group, dict) and isinstance(group.get("id"), str) for group in groups):
            raise Invalid(f"policies[{index}].permission_groups: every group needs an id")
        policies.append({
            "id": item.get("id") or new_id(),
            "effect": item.get("effect", "allow"),
            "resources": item["resources"],
            "permission_groups": [{"id": g["id"], "name": group_names.get(g["id"], g.get("name"))}
                                  for g in groups],
        })
    return policies


def normalise_condition(raw: Any) -> dict[str, Any] | None:
    """Accept `request.ip` (how-to docs, cloudflare-go) or `request_ip` (API reference); store `request_ip`."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise Invalid("condition: must be an object")
    ip = raw.get("request_ip", raw.get("request.ip"))
    if ip is None and isinstance(raw.get("request"), dict):
        ip = raw["request"].get("ip")
    return {"request_ip": ip} if ip is not None else {}


def token_record(name: Any, policies: list[dict[str, Any]], now: datetime, **fields: Any) -> dict[str, Any]:
    """A new stored token (without its value)."""
    if not isinstance(name, str) or not name.strip():
        raise Invalid("name: required")
    status = fields.get("status", "active")
    if status not in STATUSES:
        raise Invalid(f"status: must be one of {', '.join(STATUSES)}")
    return {
        "id": fields.get("token_id") or new_id(), "name": name, "status": status,
        "issued_on": now, "modified_on": now, "last_used_on": None,
        "not_before": parse_time(fields.get("not_before"), "not_before"),
        "expires_on": parse_time(fields.get("expires_on"), "expires_on"),
        "policies": policies, "condition": normalise_condition(fields.get("condition")),
    }


def public_token(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The token as GET /user/tokens/{id} shows it at `now`; optional fields are left out when unset.

    An active token whose expires_on has passed shows `expired`, as Cloudflare's own process marks it.
    """
    shown: dict[str, Any] = {}
    for key, value in record.items():
        if key.startswith("_"):  # the stand-in's own bookkeeping (which account owns the token)
            continue
        if value is None and key in ("not_before", "expires_on", "last_used_on", "condition"):
            continue
        shown[key] = iso(value) if isinstance(value, datetime) else value
    if record["status"] == "active" and record["expires_on"] is not None and record["expires_on"] <= now:
        shown["status"] = "expired"
    return shown


def listed(record: dict[str, Any], now: datetime, *, with_expired: bool) -> bool:
    """Whether GET /user/tokens (or an account's) lists the token: an expired one only with include_expired=true,
    and only within EXPIRED_LISTED of its expiry (or, expired by an update, of that update)."""
    if public_token(record, now)["status"] != "expired":
        return True
    expired_at = record["expires_on"] if record["status"] == "active" else record["modified_on"]
    return with_expired and (expired_at is None or now - expired_at <= EXPIRED_LISTED)


def refusal_reason(record: dict[str, Any], now: datetime) -> str | None:
    """Why a known token may not authenticate now (for debugging only; Cloudflare always says 1000)."""
    if record["status"] != "active":
        return record["status"]
    if record["expires_on"] is not None and record["expires_on"] <= now:
        return "expired"
    if record["not_before"] is not None and record["not_before"] > now:
        return "not yet valid"
    return None


def grants(record: dict[str, Any], group_ids: tuple[str, ...], account_id: str | None = None) -> bool:
    """Whether the token's policies allow one of `group_ids` on a user resource, or with `account_id` on that
    account (its own key or all accounts); explicit deny wins."""
    keys = (f"{ACCOUNT_RESOURCE}{account_id}", f"{ACCOUNT_RESOURCE}*") if account_id else ()
    allowed = denied = False
    for item in record["policies"]:
        on_resource = any(key in keys if account_id else key.startswith(USER_RESOURCE) for key in item["resources"])
        has_group = any(group["id"] in group_ids for group in item["permission_groups"])
        if on_resource and has_group:
            denied = denied or item["effect"] == "deny"
            allowed = allowed or item["effect"] == "allow"
    return allowed and not denied


def zone_ids_in(resources: dict[str, Any]) -> list[str]:
    """The specific zone ids a resources map names (nested account maps included; wildcards are not ids)."""
    found = []
    for key, value in resources.items():
        if isinstance(value, dict):
            found += zone_ids_in(value)
        elif key.startswith(_ZONE_SCOPE + ".") and not key.endswith(".*"):
            found.append(key.removeprefix(_ZONE_SCOPE + "."))
    return found


def may_read_zone(record: dict[str, Any], zone: dict[str, Any], scopes: dict[str, list[str]]) -> bool:
    """Whether a token's allow policies reach `zone` with a zone-scoped group: the zone, all zones, or its account."""
    zone_key, account_key = f"{_ZONE_SCOPE}.{zone['id']}", f"{_ACCOUNT_SCOPE}.{zone['account']['id']}"
    for item in record["policies"]:
        zone_groups = any(_ZONE_SCOPE in scopes.get(group["id"], ()) for group in item["permission_groups"])
        if item["effect"] != "allow" or not zone_groups:
            continue
        resources = item["resources"]
        if zone_key in resources or f"{_ZONE_SCOPE}.*" in resources or f"{_ACCOUNT_SCOPE}.*" in resources:
            return True
        nested = resources.get(account_key)
        if nested == "*" or (isinstance(nested, dict) and (f"{_ZONE_SCOPE}.*" in nested or zone_key in nested)):
            return True
    return False


def zone_access(record: dict[str, Any], zone_id: str, account_id: str, group_ids: tuple[str, ...]) -> str | None:
    """Why the token may not use `group_ids` on the zone: "zone" (not in its resources), "permission", or None.

    Explicit deny wins over allow, as Cloudflare evaluates policies.
    """
    covers_zone = allowed = denied = False
    for item in record["policies"]:
        if not _covers(item["resources"], zone_id, account_id):
            continue
        has_group = any(group["id"] in group_ids for group in item["permission_groups"])
        if item["effect"] == "allow":
            covers_zone = True
            allowed = allowed or has_group
        elif has_group:
            denied = True
    if not covers_zone:
        return "zone"
    return None if allowed and not denied else "permission"


def _covers(resources: dict[str, Any], zone_id: str, account_id: str) -> bool:
    """Whether a policy's resources include the zone: itself, all zones, or its account (whole or all zones)."""
    zone_key = f"com.cloudflare.api.account.zone.{zone_id}"
    for key, value in resources.items():
        if key in (zone_key, "com.cloudflare.api.account.zone.*"):
            return True
        if key in (f"com.cloudflare.api.account.{account_id}", "com.cloudflare.api.account.*"):
            if value == "*" or (isinstance(value, dict) and _covers(value, zone_id, account_id)):
                return True
    return False


def zone_record(name: str, zone_id: str, account_id: str, now: datetime) -> dict[str, Any]:
    """A zone as GET /zones shows it (the fields the bot and the SDK read, plus a few for realism)."""
    return {
        "id": zone_id, "name": name, "status": "active", "paused": False, "type": "full",
        "development_mode": 0, "name_servers": ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"],
        "original_name_servers": [], "original_registrar": None, "original_dnshost": None,
        "created_on": iso(now), "modified_on": iso(now), "activated_on": iso(now),
        "account": {"id": account_id, "name": "Stand-in account"},
        "owner": {"id": None, "name": None, "type": "user"},
        "meta": {"step": 2, "phishing_detected": False}, "permissions": [],
        "plan": {"id": "0feeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "name": "Free Website"},
    }


def entrypoint_record(phase: str, rules: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """A zone's entry point ruleset for `phase`, as GET …/phases/{phase}/entrypoint shows it (cloudflare-python 5.x
    `PhaseGetResponse`): Cloudflare creates it with the phase's first rule."""
    return {
        "id": new_id(), "name": "default", "description": "", "kind": "zone", "version": "1", "phase": phase,
        "last_updated": iso(now),
        "rules": [{"id": new_id(), "version": "1", "action": "block", "expression": "true", "enabled": True,
                   "last_updated": iso(now), **rule} for rule in rules],
    }
