"""Contract tests: drive the Cloudflare stand-in with plain httpx over real HTTP, as api-contracts.md §1 says."""

from __future__ import annotations

import re
from datetime import timedelta

import httpx
import pytest

from standins import cloudflare_state as state
from standins.base import Clock, iso
from standins.cloudflare import CloudflareStandIn
from tests.integration.cloudflare_fixtures import standin_fixtures

pytestmark = pytest.mark.integration

WAF_WRITE = "fb6778dc191143babbfaa57993f1d275"
ZONE_POLICY = state.policy(WAF_WRITE, resource="com.cloudflare.api.account.zone.f12dbb5cac57d5591a5058874498a6d1")
ROLLED = re.compile(r"^cfut_[A-Za-z0-9]{40}[0-9a-f]{8}$")


server, standin = standin_fixtures()


@pytest.fixture
def clock(standin: CloudflareStandIn) -> Clock:
    return standin.clock


@pytest.fixture
def mgmt(standin: CloudflareStandIn) -> str:
    """Value of a management token (API Tokens Write on the user)."""
    return standin.add_token("CF_ACCESS_MGMT", policies=[state.policy(state.TOKENS_WRITE)])[1]


@pytest.fixture
def api(standin: CloudflareStandIn):
    with httpx.Client(base_url=standin.url + "/client/v4") as client:
        yield client


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def first_error(response: httpx.Response) -> dict:
    return response.json()["errors"][0]


def test_verify_answers_for_the_bearer_in_cloudflares_envelope(standin, api):
    token_id, value = standin.add_token("WAF", policies=[ZONE_POLICY], expires_on="2031-01-01T00:00:00Z")

    response = api.get("/user/tokens/verify", headers=bearer(value))

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"success", "errors", "messages", "result"}
    assert body["success"] is True and body["errors"] == []
    assert body["result"] == {"id": token_id, "status": "active", "expires_on": "2031-01-01T00:00:00Z"}
    assert body["messages"] == [{"code": 10000, "message": "This API Token is valid and active", "type": None}]


def test_a_failure_envelope_has_no_result_and_no_messages(api):
    response = api.get("/user/tokens/verify", headers=bearer("cfut_" + "x" * 48))

    assert response.status_code == 401
    assert response.json() == {"success": False, "errors": [{"code": 1000, "message": "Invalid API Token"}],
                               "messages": [], "result": None}


def test_list_pages_through_every_token_and_answers_empty_past_the_end(standin, api, mgmt):
    ids = {standin.add_token(f"T{n}", policies=[ZONE_POLICY])[0] for n in range(11)}
    ids |= {token["id"] for token in standin.tokens() if token["name"] == "CF_ACCESS_MGMT"}

    pages = [api.get("/user/tokens", params={"page": page, "per_page": 5}, headers=bearer(mgmt)).json()
             for page in (1, 2, 3, 4)]

    assert [len(page["result"]) for page in pages] == [5, 5, 2, 0]
    assert {token["id"] for page in pages for token in page["result"]} == ids
    assert pages[3]["result_info"] == {"page": 4, "per_page": 5, "count": 0, "total_count": 12, "total_pages": 3}
    assert all("value" not in token for page in pages for token in page["result"])


def test_list_defaults_to_twenty_per_page(standin, api, mgmt):
    for n in range(24):
        standin.add_token(f"T{n}", policies=[ZONE_POLICY])

    body = api.get("/user/tokens", headers=bearer(mgmt)).json()

    assert len(body["result"]) == 20
    assert body["result_info"]["per_page"] == 20 and body["result_info"]["total_count"] == 25


@pytest.mark.parametrize("per_page", ["51", "4", "many"])
def test_list_refuses_a_per_page_outside_5_to_50(api, mgmt, per_page):
    response = api.get("/user/tokens", params={"per_page": per_page}, headers=bearer(mgmt))

    assert response.status_code == 400
    assert response.json()["success"] is False


def test_create_shows_the_value_once_and_get_never_does(standin, api, mgmt):
    standin.add_zone("raxx.app", "f12dbb5cac57d5591a5058874498a6d1")
    body = {"name": "NEW", "policies": [ZONE_POLICY], "expires_on": "2031-02-01T00:00:00Z"}

    created = api.post("/user/tokens", json=body, headers=bearer(mgmt)).json()["result"]
    fetched = api.get(f"/user/tokens/{created['id']}", headers=bearer(mgmt)).json()["result"]

    assert ROLLED.match(created["value"])
    assert "value" not in fetched
    assert fetched["policies"][0]["permission_groups"] == [{"id": WAF_WRITE, "name": "Zone WAF Write"}]
    assert re.fullmatch(r"[0-9a-f]{32}", created["id"])
    assert api.get("/user/tokens/verify", headers=bearer(created["value"])).status_code == 200


def test_roll_returns_a_new_value_kills_the_old_one_at_once_and_keeps_the_id(standin, api, mgmt, clock):
    token_id, old = standin.add_token("WAF", policies=[ZONE_POLICY])
    clock.advance(timedelta(minutes=3))

    response = api.put(f"/user/tokens/{token_id}/value", json={}, headers=bearer(mgmt))

    new = response.json()["result"]
    assert response.status_code == 200 and ROLLED.match(new) and new != old
    assert first_error(api.get("/user/tokens/verify", headers=bearer(old)))["code"] == 1000
    assert api.get("/user/tokens/verify", headers=bearer(new)).json()["result"]["id"] == token_id
    assert standin.value_of(token_id) == new
    assert standin.token(token_id)["modified_on"] == iso(clock.now())


def _deleted(standin, api, mgmt):
    token_id, value = standin.add_token("GONE", policies=[ZONE_POLICY])
    assert api.delete(f"/user/tokens/{token_id}", headers=bearer(mgmt)).json()["result"] == {"id": token_id}
    return value


def _rolled_away(standin, api, mgmt):
    token_id, value = standin.add_token("OLD", policies=[ZONE_POLICY])
    api.put(f"/user/tokens/{token_id}/value", json={}, headers=bearer(mgmt))
    return value


def _disabled(standin, api, mgmt):
    token_id, value = standin.add_token("OFF", policies=[ZONE_POLICY])
    standin.set_status(token_id, "disabled")
    return value


def _expired(standin, api, mgmt):
    past = standin.clock.now() - timedelta(seconds=1)
    return standin.add_token("OLD", policies=[ZONE_POLICY], expires_on=past)[1]


def _not_yet_valid(standin, api, mgmt):
    future = standin.clock.now() + timedelta(hours=1)
    return standin.add_token("SOON", policies=[ZONE_POLICY], not_before=future)[1]


def _removed(standin, api, mgmt):
    token_id, value = standin.add_token("REVOKED", policies=[ZONE_POLICY])
    standin.remove(token_id)
    return value


@pytest.mark.parametrize("make", [_deleted, _rolled_away, _disabled, _expired, _not_yet_valid, _removed])
def test_an_unusable_token_fails_with_401_code_1000(standin, api, mgmt, make):
    value = make(standin, api, mgmt)

    response = api.get("/user/tokens/verify", headers=bearer(value))

    assert response.status_code == 401
    assert first_error(response) == {"code": 1000, "message": "Invalid API Token"}


def test_a_token_stops_working_when_the_clock_passes_expires_on(standin, api, clock):
    value = standin.add_token("T", policies=[ZONE_POLICY], expires_on=clock.now() + timedelta(days=1))[1]
    assert api.get("/user/tokens/verify", headers=bearer(value)).status_code == 200

    clock.advance(timedelta(days=1, seconds=1))

    assert api.get("/user/tokens/verify", headers=bearer(value)).status_code == 401


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer two words"])
def test_a_malformed_authorization_header_is_400_code_6003_with_chain_6111(api, header):
    response = api.get("/user/tokens/verify", headers={"Authorization": header})

    assert response.status_code == 400
    error = first_error(response)
    assert error["code"] == 6003 and error["error_chain"][0]["code"] == 6111


@pytest.mark.parametrize("path", ["/user/tokens/verify", "/user/tokens", "/zones"])
def test_no_authorization_header_is_400_code_9106_as_cloudflare_answers(api, path):
    response = api.get(path)

    assert response.status_code == 400
    assert response.json() == {"success": False, "result": None, "messages": [], "errors": [
        {"code": 9106, "message": "Missing X-Auth-Key, X-Auth-Email or Authorization headers"}]}


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/user/tokens"), ("GET", "/user/tokens/{id}"), ("PUT", "/user/tokens/{id}/value"),
    ("DELETE", "/user/tokens/{id}"), ("POST", "/user/tokens"), ("PUT", "/user/tokens/{id}"),
])
def test_a_token_without_api_tokens_permission_gets_403_code_9109(standin, api, method, path):
    token_id, value = standin.add_token("WAF", policies=[ZONE_POLICY])
    body = {"name": "X", "policies": [ZONE_POLICY], "status": "active"}

    response = api.request(method, path.format(id=token_id), headers=bearer(value), json=body)

    assert response.status_code == 403
    assert first_error(response) == {"code": 9109, "message": "Unauthorized to access requested resource",
                                     "documentation_url": "https://developers.cloudflare.com/api/resources/user/"}
    assert standin.value_of(token_id) == value


def test_api_tokens_read_may_get_but_not_roll(standin, api):
    reader = standin.add_token("READER", policies=[state.policy(state.TOKENS_READ)])[1]
    token_id, _ = standin.add_token("WAF", policies=[ZONE_POLICY])

    got = api.get(f"/user/tokens/{token_id}", headers=bearer(reader))
    rolled = api.put(f"/user/tokens/{token_id}/value", json={}, headers=bearer(reader))

    assert got.status_code == 200 and rolled.status_code == 403


def test_api_tokens_write_on_an_account_resource_grants_nothing(standin, api):
    value = standin.add_token("X", policies=[state.policy(state.TOKENS_WRITE, resource="com.cloudflare.api.account.*")])[1]

    assert api.get("/user/tokens", headers=bearer(value)).status_code == 403


def test_an_explicit_deny_beats_an_allow(standin, api):
    policies = [state.policy(state.TOKENS_WRITE), state.policy(state.TOKENS_WRITE, effect="deny")]
    value = standin.add_token("X", policies=policies)[1]

    assert api.get("/user/tokens", headers=bearer(value)).status_code == 403


def test_any_valid_token_may_list_permission_groups_and_zones(standin, api):
    standin.add_zone("raxx.app", "f12dbb5cac57d5591a5058874498a6d1")
    value = standin.add_token("WAF", policies=[ZONE_POLICY])[1]

    groups = api.get("/user/tokens/permission_groups", headers=bearer(value)).json()["result"]
    zones = api.get("/zones", params={"name": "raxx.app"}, headers=bearer(value)).json()

    by_name = {group["name"]: group for group in groups}
    assert by_name["Zone WAF Write"] == {"id": WAF_WRITE, "name": "Zone WAF Write",
                                         "scopes": ["com.cloudflare.api.account.zone"]}
    assert by_name["API Tokens Write"]["id"] == state.TOKENS_WRITE
    assert [zone["id"] for zone in zones["result"]] == ["f12dbb5cac57d5591a5058874498a6d1"]
    assert zones["result_info"]["total_count"] == 1


def test_zones_by_an_unknown_name_is_an_empty_list(standin, api, mgmt):
    standin.add_zone("raxx.app", "f12dbb5cac57d5591a5058874498a6d1")

    body = api.get("/zones", params={"name": "example.com"}, headers=bearer(mgmt)).json()

    assert body["success"] is True and body["result"] == []


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("PUT", ""), ("DELETE", ""), ("PUT", "/value")])
def test_an_unknown_token_id_answers_404_with_7003_and_7000(api, mgmt, method, suffix):
    missing = "0" * 32
    body = {"name": "X", "policies": [ZONE_POLICY], "status": "active"}

    response = api.request(method, f"/user/tokens/{missing}{suffix}", headers=bearer(mgmt), json=body)

    assert response.status_code == 404
    assert [error["code"] for error in response.json()["errors"]] == [7003, 7000]
    assert missing in first_error(response)["message"]


def test_a_malformed_json_body_is_400(standin, api, mgmt):
    token_id, _ = standin.add_token("WAF", policies=[ZONE_POLICY])

    response = api.put(f"/user/tokens/{token_id}", content=b"{not json", headers=bearer(mgmt))

    assert response.status_code == 400 and response.json()["success"] is False


def test_update_is_a_full_replace_and_echoes_request_ip(standin, api, mgmt, clock):
    token_id, value = standin.add_token("WAF", policies=[ZONE_POLICY], expires_on="2031-01-01T00:00:00Z")
    clock.advance(timedelta(minutes=1))
    body = {"name": "RENAMED", "policies": [ZONE_POLICY], "status": "disabled",
            "condition": {"request.ip": {"in": ["199.27.128.0/21"]}}}

    result = api.put(f"/user/tokens/{token_id}", json=body, headers=bearer(mgmt)).json()["result"]

    assert result["name"] == "RENAMED" and result["status"] == "disabled"
    assert "expires_on" not in result
    assert result["condition"] == {"request_ip": {"in": ["199.27.128.0/21"]}}
    assert result["modified_on"] == iso(clock.now()) != result["issued_on"]
    assert standin.value_of(token_id) == value


def test_update_without_status_is_refused(standin, api, mgmt):
    token_id, _ = standin.add_token("WAF", policies=[ZONE_POLICY])

    response = api.put(f"/user/tokens/{token_id}", json={"name": "X", "policies": [ZONE_POLICY]},
                       headers=bearer(mgmt))

    assert response.status_code == 400
    assert standin.token(token_id)["name"] == "WAF"


def test_last_used_on_moves_whenever_the_token_authenticates(standin, api, clock):
    token_id, value = standin.add_token("WAF", policies=[ZONE_POLICY])
    assert "last_used_on" not in standin.token(token_id)

    api.get("/user/tokens/verify", headers=bearer(value))
    first = standin.token(token_id)["last_used_on"]
    clock.advance(timedelta(hours=2))
    api.get("/zones", headers=bearer(value))

    assert first != standin.token(token_id)["last_used_on"] == iso(clock.now())


def test_the_rate_limit_is_per_user_across_its_tokens_with_retry_after_until_the_window_passes(standin, api, clock):
    standin.reset(rate_limit=2)
    value = standin.add_token("WAF", policies=[ZONE_POLICY])[1]
    other = standin.add_token("OTHER", policies=[ZONE_POLICY])[1]

    statuses = [api.get("/user/tokens/verify", headers=bearer(value)).status_code for _ in range(3)]
    limited = api.get("/user/tokens/verify", headers=bearer(value))
    other_status = api.get("/user/tokens/verify", headers=bearer(other)).status_code
    clock.advance(timedelta(minutes=5))
    after = api.get("/user/tokens/verify", headers=bearer(value)).status_code

    assert statuses == [200, 200, 429]
    assert first_error(limited)["code"] == 971 and 1 <= int(limited.headers["retry-after"]) <= 300
    assert other_status == 429  # 1,200 per 5 minutes per user: every token of the user shares it
    assert after == 200


def test_fault_429_speaks_cloudflare_with_retry_after(standin, api, mgmt):
    standin.faults.fail_next("/client/v4/user/tokens", 1, "429", retry_after=7)

    response = api.get("/user/tokens", headers=bearer(mgmt))

    assert response.status_code == 429 and response.headers["retry-after"] == "7"
    assert response.json()["success"] is False and first_error(response)["code"] == 971


def test_fault_5xx_speaks_cloudflare_then_the_next_call_succeeds(standin, api, mgmt):
    standin.faults.fail_next("/client/v4/user/tokens", 1, "502")

    failed = api.get("/user/tokens", headers=bearer(mgmt))
    recovered = api.get("/user/tokens", headers=bearer(mgmt))

    assert failed.status_code == 502 and failed.json()["result"] is None and failed.json()["errors"]
    assert recovered.status_code == 200


def test_an_unknown_route_answers_7003(api, mgmt):
    response = api.get("/user/nothing-here", headers=bearer(mgmt))

    assert response.status_code == 404 and first_error(response)["code"] == 7003
