"""Contract tests: the stand-in's account-owned tokens (/accounts/{account_id}/tokens…) refuse and answer what
Cloudflare does (api-contracts.md "Account-owned tokens" 1.1–1.7), driven with plain httpx over real HTTP."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from standins import cloudflare_state as state
from standins.cloudflare import ACCOUNT_TOKEN_QUOTA, CloudflareStandIn
from tests.integration.cloudflare_fixtures import standin_fixtures

pytestmark = pytest.mark.integration

ACCOUNT = "01a7362d577a6c3019a474fd6f485823"
OTHER_ACCOUNT = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
BASE = f"/accounts/{ACCOUNT}/tokens"
PAGES_WRITE = "8d28297797f24fb8a0c332fe0866ec89"
PAGES_POLICY = state.policy(PAGES_WRITE, resource=f"com.cloudflare.api.account.{ACCOUNT}")
ACCOUNT_VALUE = re.compile(r"^cfat_[A-Za-z0-9]{40}[0-9a-f]{8}$")
LEGACY = re.compile(r"^[A-Za-z0-9]{40}$")
INVALID = {"success": False, "errors": [{"code": 1000, "message": "Invalid API Token"}], "messages": [],
           "result": None}

server, standin = standin_fixtures()


@pytest.fixture
def api(standin: CloudflareStandIn):
    with httpx.Client(base_url=standin.url + "/client/v4") as client:
        yield client


@pytest.fixture
def manager(standin: CloudflareStandIn) -> dict[str, str]:
    """An account token holding Account API Tokens Write on the account."""
    value = standin.add_token("CF_ACCOUNT_MGMT", account_id=ACCOUNT, policies=[
        state.policy(state.ACCOUNT_TOKENS_WRITE, resource=f"com.cloudflare.api.account.{ACCOUNT}")])[1]
    return bearer(value)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def add_account_token(standin: CloudflareStandIn, name: str = "PAGES", **fields) -> tuple[str, str]:
    return standin.add_token(name, account_id=ACCOUNT, policies=[PAGES_POLICY], **fields)


def test_an_account_token_verifies_at_its_account_and_is_invalid_at_the_user_verify(standin, api):
    token_id, value = add_account_token(standin, value=state.legacy_value())

    own = api.get(f"{BASE}/verify", headers=bearer(value))
    user = api.get("/user/tokens/verify", headers=bearer(value))

    assert own.status_code == 200 and own.json()["result"] == {"id": token_id, "status": "active"}
    assert (user.status_code, user.json()) == (401, INVALID)


def test_a_user_token_is_invalid_at_the_account_verify(standin, api):
    _, value = standin.add_token("USER", policies=[PAGES_POLICY])

    response = api.get(f"{BASE}/verify", headers=bearer(value))

    assert (response.status_code, response.json()) == (401, INVALID)


def test_create_answers_the_token_with_a_cfat_value_and_creator_metadata(standin, api):
    user_manager = standin.add_token("CF_ACCESS_MGMT", policies=[state.policy(
        state.ACCOUNT_TOKENS_WRITE, resource=f"com.cloudflare.api.account.{ACCOUNT}")])[1]

    response = api.post(BASE, headers=bearer(user_manager), json={"name": "PAGES", "policies": [PAGES_POLICY]})

    result = response.json()["result"]
    assert response.status_code == 200 and ACCOUNT_VALUE.match(result["value"])
    assert result["creator_email_at_creation"] == standin.user_email
    assert api.get(f"{BASE}/verify", headers=bearer(result["value"])).status_code == 200
    assert "value" not in api.get(f"{BASE}/{result['id']}", headers=bearer(user_manager)).json()["result"]


def test_roll_accepts_no_body_an_empty_object_or_any_json_and_answers_a_bare_cfat_string(standin, api, manager):
    token_id, legacy = add_account_token(standin, value=state.legacy_value())
    values = []

    for body in (b"", b"{}", b'["anything"]'):
        response = api.put(f"{BASE}/{token_id}/value", headers=manager, content=body)
        assert response.status_code == 200
        values.append(response.json()["result"])

    assert all(isinstance(value, str) and ACCOUNT_VALUE.match(value) for value in values)
    assert LEGACY.match(legacy) and standin.value_of(token_id) == values[-1]
    assert api.get(f"{BASE}/verify", headers=bearer(legacy)).status_code == 401


def test_update_then_delete_answers_the_token_then_only_its_id(standin, api, manager):
    token_id, _ = add_account_token(standin)
    body = {"name": "PAGES", "policies": [PAGES_POLICY], "status": "disabled"}

    updated = api.put(f"{BASE}/{token_id}", headers=manager, json=body).json()["result"]
    deleted = api.delete(f"{BASE}/{token_id}", headers=manager)
    again = api.delete(f"{BASE}/{token_id}", headers=manager)

    assert updated["status"] == "disabled"
    assert deleted.json()["result"] == {"id": token_id}
    assert again.status_code == 404 and again.json()["errors"][0]["code"] == 7003


def test_a_token_is_seen_only_through_its_owners_path(standin, api, manager):
    user_token, _ = standin.add_token("USER", policies=[PAGES_POLICY])
    account_token, _ = add_account_token(standin)
    user_manager = bearer(standin.add_token("CF_ACCESS_MGMT", policies=[state.policy(state.TOKENS_WRITE)])[1])

    assert api.get(f"{BASE}/{user_token}", headers=manager).status_code == 404
    assert api.get(f"/user/tokens/{account_token}", headers=user_manager).status_code == 404
    listed = {token["id"] for token in api.get(BASE, headers=manager).json()["result"]}
    assert account_token in listed and user_token not in listed


def test_a_management_token_without_account_api_tokens_write_gets_403_naming_the_documentation(standin, api):
    token_id, _ = add_account_token(standin)
    user_manager = bearer(standin.add_token("CF_ACCESS_MGMT", policies=[state.policy(state.TOKENS_WRITE)])[1])
    reader = bearer(standin.add_token("READER", account_id=ACCOUNT, policies=[state.policy(
        state.ACCOUNT_TOKENS_READ, resource=f"com.cloudflare.api.account.{ACCOUNT}")])[1])

    create = api.post(BASE, headers=user_manager, json={"name": "X", "policies": [PAGES_POLICY]})
    roll = api.put(f"{BASE}/{token_id}/value", headers=reader)

    for response in (create, roll):
        assert response.status_code == 403
        error = response.json()["errors"][0]
        assert error["code"] == 9109 and error["documentation_url"].startswith("https://developers.cloudflare.com/")
    assert api.get(BASE, headers=reader).status_code == 200  # Read may list


def test_another_accounts_manager_is_refused(standin, api):
    token_id, _ = add_account_token(standin)
    elsewhere = bearer(standin.add_token("ELSEWHERE", account_id=OTHER_ACCOUNT, policies=[state.policy(
        state.ACCOUNT_TOKENS_WRITE, resource=f"com.cloudflare.api.account.{OTHER_ACCOUNT}")])[1])

    assert api.delete(f"{BASE}/{token_id}", headers=elsewhere).status_code == 403
    assert standin.token(token_id) is not None


@pytest.mark.parametrize("account_id", ["01a7362d577a6c3019a474fd6f48582", "01a7362d577a6c3019a474fd6f4858230"])
def test_an_account_id_that_is_not_32_characters_has_no_route(api, manager, account_id):
    response = api.get(f"/accounts/{account_id}/tokens", headers=manager)

    assert response.status_code == 404 and response.json()["errors"][0]["code"] == 7003


def test_the_list_pages_by_at_most_50_ignores_name_and_shows_expired_tokens_only_when_asked(standin, api, manager):
    expired_id, _ = add_account_token(standin, "OLD", expires_on=standin.clock.now() + timedelta(hours=1))
    for n in range(6):
        add_account_token(standin, f"T{n}")
    standin.clock.advance(timedelta(hours=2))

    plain = api.get(BASE, headers=manager, params={"name": "T0", "per_page": 50}).json()
    every = api.get(BASE, headers=manager, params={"include_expired": "true", "per_page": 5, "page": 2}).json()
    too_many = api.get(BASE, headers=manager, params={"per_page": 51})

    assert len(plain["result"]) == 7 and expired_id not in {token["id"] for token in plain["result"]}
    assert every["result_info"]["total_count"] == 8 and len(every["result"]) == 3
    assert too_many.status_code == 400


def test_the_account_quota_is_500_tokens_and_the_users_50_is_not_counted(standin, api, manager):
    for n in range(ACCOUNT_TOKEN_QUOTA - 1):
        add_account_token(standin, f"T{n}")
    for n in range(50):
        standin.add_token(f"U{n}", policies=[PAGES_POLICY])

    refused = api.post(BASE, headers=manager, json={"name": "ONE_MORE", "policies": [PAGES_POLICY]})

    assert refused.status_code == 400 and refused.json()["success"] is False
    assert len([t for t in standin.tokens() if t["name"] == "ONE_MORE"]) == 0


def test_permission_groups_answer_one_page_with_category_and_scopes(api, manager):
    response = api.get(f"{BASE}/permission_groups", headers=manager, params={"name": "Pages Write"})

    assert response.json()["result"] == [{"id": PAGES_WRITE, "name": "Pages Write", "category": "developer_platform",
                                          "is_selectable": True, "scopes": ["com.cloudflare.api.account"]}]
    assert "result_info" not in response.json()


def test_a_seeded_account_tokens_creator_metadata_shows_in_get_and_list(standin, api, manager):
    creator = {"creator_email_at_creation": "alice@example.com", "provisioner_type": "oauth", "provisioner_id": None}
    token_id, _ = add_account_token(standin, creator=creator)

    shown = api.get(f"{BASE}/{token_id}", headers=manager).json()["result"]

    assert {key: shown[key] for key in creator} == creator and "_account" not in shown
