"""Pure text for provisioning: what the approval message says will be created, and the replacement button."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.actions import PROVISION_REPLACEMENT
from domain.errors import CannotProvision, CftokenError
from domain.inventory import Inventory, Token
from domain.mrkdwn import escape
from domain.provision_plan import Group, Plan, plan_provisioning

OPEN_STATES = ("pending", "approved", "queued", "running")
HEADINGS = {"succeeded": "Created at Cloudflare"}  # a provision that did not succeed only asked for it


def plan_text(token: Token | None, inventory: Inventory, state: str = "pending") -> str:
    """Exactly what a provision creates: zones and groups by name and id, expiry, condition, where it is stored;
    in the future tense while the request is open, in the past once it ended."""
    heading = "Will create at Cloudflare" if state in OPEN_STATES else HEADINGS.get(state, "Asked to create at "
                                                                                          "Cloudflare")
    if token is None:
        return f"*{heading}:* unknown (the token is no longer in the inventory)"
    try:
        plan = plan_provisioning(token, inventory)
    except CftokenError as exc:
        return f"*Cannot be created as declared:* {escape(str(exc))}"
    lines = _lines(plan)
    if state not in OPEN_STATES:
        lines = [line.replace("after it is created", "after it was created") for line in lines]
    return "\n".join([f"*{heading}* (user API token `" + escape(plan.name) + "`):", *lines])


def _lines(plan: Plan) -> list[str]:
    """The plan's lines; every name from the configuration or Cloudflare (zones, groups, ids, rules) escaped."""
    lines = []
    if plan.zone_groups:
        where = ("all zones (`com.cloudflare.api.account.zone.*`)" if plan.all_zones
                 else ", ".join(f"{escape(name)} (`{escape(zone_id)}`)" for name, zone_id in plan.zones))
        lines.append(f"• Zones: {where}")
        lines.append("• Zone permissions: " + _groups(plan.zone_groups))
    if plan.account_groups:
        lines.append(f"• Account `{escape(plan.account_id or '')}`: {_groups(plan.account_groups)}")
    lines.append(f"• Expiry: {plan.cadence_days} days after it is created (its rotation cadence)")
    if plan.condition:
        rule = plan.condition["request_ip"]
        denied = f"; not from {escape(', '.join(rule['not_in']))}" if rule.get("not_in") else ""
        lines.append(f"• Condition: only from {escape(', '.join(rule['in'])) or 'anywhere'}{denied}")
    else:
        lines.append("• Condition: none (usable from any IP address)")
    names = ", ".join(f"`{escape(name)}`" for name in plan.secret_names)
    lines.append(f"• Stored in the vault at `{escape(plan.vault_path)}` ({escape(plan.vault_environment)}): {names}")
    return lines


def _groups(groups: Sequence[Group]) -> str:
    return ", ".join(f"{escape(g.name)} (`{escape(g.id)}`)" for g in groups)


def replacement_button(request_id: str) -> dict[str, Any]:
    """The button on a finished revoke: opens a two-person provision request for the same declaration."""
    return {
        "type": "actions",
        "block_id": "replacement",
        "elements": [{
            "type": "button", "action_id": PROVISION_REPLACEMENT, "value": request_id, "style": "primary",
            "text": {"type": "plain_text", "text": "Provision replacement"},
        }],
    }


def replacement_offer(request_id: str, token: Token | None, inventory: Inventory) -> dict[str, Any]:
    """The finished revoke's offer: the button, or, when the declaration cannot be created, why and the fix."""
    try:
        if token is not None:
            plan_provisioning(token, inventory)
    except CannotProvision as exc:
        why = escape(str(exc))
        text = f"No replacement can be provisioned yet: {why} Then `/cftoken provision {token.name}`."
        return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
    return replacement_button(request_id)
