"""Contract tests for what POST /user/tokens refuses, GET /user/tokens?name= and which zones GET /zones shows."""

from __future__ import annotations

import httpx
import pytest

from standins import cloudflare_state as state
from standins.cloudflare import USER_TOKEN_QUOTA, CloudflareStandIn
from tests.integration.cloudflare_fixtures import standin_fixtures

pytestmark = pytest.mark.integration

RAXX_APP, RAXX_IO = "f12dbb5cac57d5591a5058874498a6d1", "f3d1b89d86d1aa63a003f2826a8f841c"
ACCOUNT = "01a7362d577a6c3019a474fd6f485823"
DNS_WRITE, ZONE_READ, PAGES_READ = (
    "4755a26eedb94da69e1066d98aa820be", "c8fed203ed3043cba015a93ad1616f1f", "e247aedd66bd41cc9193af0213416666",
)


server, standin = standin_fixtures({"raxx.app": RAXX_APP, "raxx.io": RAXX_IO})


@pytest.fixture
def mgmt(standin: CloudflareStandIn) -> str:
    return standin.add_token("CF_ACCESS_MGMT", policies=[state.policy(state.TOKENS_WRITE)])[1]


@pytest.fixture
def api(standin: CloudflareStandIn):
    with httpx.Client(base_url=standin.url + "/client/v4", headers={}) as client:
        yield client


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def dns_policy(zone_id: str = RAXX_IO) -> dict:
    return state.policy(DNS_WRITE, ZONE_READ, resource=f"com.cloudflare.api.account.zone.{zone_id}")


def create(api: httpx.Client, mgmt: str, **body) -> httpx.Response:
    return api.post("/user/tokens", json={"name": "CF_DNS_EDIT_RAXX_IO", "policies": [dns_policy()], **body},
                    headers=bearer(mgmt))


def test_a_policy_carrying_an_id_is_refused_as_cloudflare_refuses_it(api, mgmt):
    response = create(api, mgmt, policies=[{**dns_policy(), "id": "beefcafe1337beefcafe1337beefcafe"}])

    assert response.status_code == 400
    assert response.json() == {"success": False, "result": None, "messages": [], "errors": [
        {"code": 1001, "message": "Reusing existing policies is not supported by token creation"}]}


def test_a_name_over_120_characters_is_refused_and_120_is_accepted(api, mgmt):
    assert create(api, mgmt, name="N" * 121).status_code == 400
    assert create(api, mgmt, name="N" * 120).status_code == 200


def test_the_51st_user_token_is_refused(standin, api, mgmt):
    for n in range(USER_TOKEN_QUOTA - 1):
        standin.add_token(f"T{n}", policies=[dns_policy()])

    refused = create(api, mgmt)

    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == 1001
    assert "50" in refused.json()["errors"][0]["message"]
    assert len(standin.tokens()) == USER_TOKEN_QUOTA


def test_unknown_permission_groups_and_zones_are_refused(api, mgmt):
    unknown_group = create(api, mgmt, policies=[state.policy("0" * 32, resource=f"com.cloudflare.api.account.zone.{RAXX_IO}")])
    unknown_zone = create(api, mgmt, policies=[dns_policy("a" * 32)])

    assert unknown_group.status_code == 400 and "0" * 32 in unknown_group.json()["errors"][0]["message"]
    assert unknown_zone.status_code == 400 and "a" * 32 in unknown_zone.json()["errors"][0]["message"]


def test_the_list_ignores_name_and_unknown_parameters_as_the_sdks_list_has_no_name_filter(standin, api, mgmt):
    """api-contracts.md round three: SDK 5.9's list takes only direction, include_expired, page and per_page."""
    wanted = {standin.add_token("CF_DNS_EDIT_RAXX_IO", policies=[dns_policy()])[0] for _ in range(2)}
    other = standin.add_token("CF_DNS_EDIT_RAXX_IO_OLD", policies=[dns_policy()])[0]

    body = api.get("/user/tokens", params={"name": "CF_DNS_EDIT_RAXX_IO", "colour": "blue"},
                   headers=bearer(mgmt)).json()

    assert body["success"] is True and wanted | {other} <= {token["id"] for token in body["result"]}


@pytest.mark.parametrize("field", ["expires_on", "not_before"])
@pytest.mark.parametrize("when", ["2027-01-01", "2027-01-01 00:00:00", "tomorrow", 1798761600])
def test_a_timestamp_that_is_not_a_date_time_is_refused_on_create_and_update(standin, api, mgmt, field, when):
    token_id, _ = standin.add_token("CF_DNS_EDIT_RAXX_IO", policies=[dns_policy()])
    body = {"name": "CF_DNS_EDIT_RAXX_IO", "policies": [dns_policy()], field: when}

    created = api.post("/user/tokens", json=body, headers=bearer(mgmt))
    updated = api.put(f"/user/tokens/{token_id}", json={**body, "status": "active"}, headers=bearer(mgmt))

    for response in (created, updated):
        assert response.status_code == 400 and response.json()["errors"][0]["code"] == 1001
        assert field in response.json()["errors"][0]["message"]
    assert api.post("/user/tokens", json={**body, field: "2027-01-01T00:00:00Z"},
                    headers=bearer(mgmt)).status_code == 200


def test_zones_lists_only_the_zones_the_calling_token_may_read(standin, api):
    one_zone = standin.add_token("DNS", policies=[dns_policy(RAXX_IO)])[1]
    all_zones = standin.add_token("ALL", policies=[state.policy(ZONE_READ, resource="com.cloudflare.api.account.zone.*")])[1]
    account = standin.add_token("ACCT", policies=[state.policy(
        ZONE_READ, resource=f"com.cloudflare.api.account.{ACCOUNT}")])[1]
    pages_only = standin.add_token("PAGES", policies=[state.policy(
        PAGES_READ, resource=f"com.cloudflare.api.account.{ACCOUNT}")])[1]
    tokens_only = standin.add_token("MGMT", policies=[state.policy(state.TOKENS_WRITE)])[1]

    def names(value: str, **params) -> list[str]:
        return sorted(zone["name"] for zone in api.get("/zones", params=params, headers=bearer(value)).json()["result"])

    assert names(one_zone) == ["raxx.io"]
    assert names(one_zone, name="raxx.app") == []
    assert names(all_zones) == ["raxx.app", "raxx.io"]
    assert names(account) == ["raxx.app", "raxx.io"]
    assert names(pages_only) == []  # account-scoped groups reach no zone
    assert names(tokens_only) == []
