"""The provisioning plan decided from the inventory alone: what the approval message shows is what is created."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import CannotProvision
from domain.inventory import Inventory, load_inventory
from domain.provision_messages import plan_text
from domain.provision_plan import plan_provisioning
from domain.settings import DEFAULT_INVENTORY

SHIPPED = load_inventory(DEFAULT_INVENTORY)
ACCOUNT = "01a7362d577a6c3019a474fd6f485823"


def with_token(**fields) -> Inventory:
    """The shipped inventory plus one declared token (and, optionally, the account id)."""
    account = fields.pop("account_id", None)
    token = {"name": "CF_NEW_TOKEN", "scope": "new", "cadence_days": 30, **fields}
    data = SHIPPED.model_dump(by_alias=True)
    data["tokens"] = [*data["tokens"], token]
    data["account_id"] = account
    if account is None:  # without an account id no token may be account-owned
        data["tokens"] = [{**declared, "owner": "user"} for declared in data["tokens"]]
    return Inventory.model_validate(data)


def test_a_zone_token_gets_one_policy_on_its_zones_with_group_ids_only_and_no_policy_id():
    inventory = with_token(zones=["raxx.io", "raxx.app"], permissions=["DNS Write", "Zone Read"])

    plan = plan_provisioning(inventory.find("CF_NEW_TOKEN"), inventory)

    assert plan.policies() == [{
        "effect": "allow",
        "resources": {"com.cloudflare.api.account.zone.f3d1b89d86d1aa63a003f2826a8f841c": "*",
                      "com.cloudflare.api.account.zone.f12dbb5cac57d5591a5058874498a6d1": "*"},
        "permission_groups": [{"id": "4755a26eedb94da69e1066d98aa820be"}, {"id": "c8fed203ed3043cba015a93ad1616f1f"}],
    }]
    assert plan.expires_on(datetime(2026, 1, 1, 12, 0, 0, 500, tzinfo=UTC)) == datetime(2026, 1, 31, 12, tzinfo=UTC)


def test_account_level_groups_go_on_the_account_and_zone_groups_on_all_zones():
    inventory = with_token(zones=["*"], permissions=["Pages Write", "Zone Read"], account_id=ACCOUNT)

    plan = plan_provisioning(inventory.find("CF_NEW_TOKEN"), inventory)

    assert [policy["resources"] for policy in plan.policies()] == [
        {"com.cloudflare.api.account.zone.*": "*"}, {f"com.cloudflare.api.account.{ACCOUNT}": "*"},
    ]


def test_account_level_permissions_need_the_inventorys_account_id():
    inventory = with_token(zones=[], permissions=["Pages Read"])

    with pytest.raises(CannotProvision, match="no account_id"):
        plan_provisioning(inventory.find("CF_NEW_TOKEN"), inventory)


def test_zone_permissions_without_zones_cannot_be_created():
    inventory = with_token(zones=[], permissions=["DNS Write"])

    with pytest.raises(CannotProvision, match="lists no zones"):
        plan_provisioning(inventory.find("CF_NEW_TOKEN"), inventory)


def test_the_management_token_cannot_mint_itself():
    with pytest.raises(CannotProvision, match="cannot mint itself"):
        plan_provisioning(SHIPPED.management, SHIPPED)


def test_the_approval_text_names_zones_groups_expiry_condition_and_the_four_secrets():
    inventory = with_token(zones=["raxx.io"], permissions=["DNS Read"],
                           condition={"request_ip": {"in": ["203.0.113.0/24"], "not_in": ["203.0.113.7/32"]}})

    text = plan_text(inventory.find("CF_NEW_TOKEN"), inventory)

    assert "raxx.io (`f3d1b89d86d1aa63a003f2826a8f841c`)" in text
    assert "DNS Read (`82e64a83756745bbbb1c9c2701bf816b`)" in text
    assert "30 days after it is created" in text
    assert "only from 203.0.113.0/24; not from 203.0.113.7/32" in text
    assert "`CF_NEW_TOKEN`, `CF_NEW_TOKEN__EXPIRES_AT`, `CF_NEW_TOKEN__SCOPES`, `CF_NEW_TOKEN__TOKEN_ID`" in text
    assert plan_provisioning(inventory.find("CF_NEW_TOKEN"), inventory).condition == {
        "request_ip": {"in": ["203.0.113.0/24"], "not_in": ["203.0.113.7/32"]}}
