"""The Cloudflare stand-in's states that Cloudflare reaches by itself, and the job endpoints a probe calls, with the
real API's permission and zone enforcement (api-contracts.md, "Learned since the first round")."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from standins import cloudflare_state as state
from standins.cloudflare import CloudflareStandIn
from tests.integration.cloudflare_fixtures import standin_fixtures

pytestmark = pytest.mark.integration

RAXX_APP, GETRAXX = "f12dbb5cac57d5591a5058874498a6d1", "0bdcee38d1da2d021eb6166f0bd6204f"
ACCOUNT = "01a7362d577a6c3019a474fd6f485823"
WAF_WRITE, ZONE_READ, DNS_WRITE = state.WAF_READERS[0], "c8fed203ed3043cba015a93ad1616f1f", state.DNS_READERS[0]
ENTRYPOINT = "/zones/{}/rulesets/phases/http_ratelimit/entrypoint"


server, standin = standin_fixtures({"raxx.app": RAXX_APP, "getraxx.com": GETRAXX})


@pytest.fixture
def api(standin: CloudflareStandIn):
    with httpx.Client(base_url=standin.url + "/client/v4") as client:
        yield client


@pytest.fixture
def mgmt(standin: CloudflareStandIn) -> dict[str, str]:
    return {"Authorization": "Bearer " + standin.add_token("MGMT", policies=[state.policy(state.TOKENS_WRITE)])[1]}


def on_zone(zone_id: str, *groups: str) -> dict:
    return state.policy(*groups, resource=f"com.cloudflare.api.account.zone.{zone_id}")


def code(response: httpx.Response) -> int:
    return response.json()["errors"][0]["code"]


def test_revoked_exposed_is_reached_only_through_the_controls_and_refuses_the_value(standin, api, mgmt):
    token_id, value = standin.add_token("LEAKED", policies=[on_zone(RAXX_APP, WAF_WRITE)])
    current = api.get(f"/user/tokens/{token_id}", headers=mgmt).json()["result"]
    body = {"name": current["name"], "policies": current["policies"], "status": "revoked (exposed)"}

    refused = api.put(f"/user/tokens/{token_id}", headers=mgmt, json=body)
    standin.set_status(token_id, "revoked (exposed)")

    assert refused.status_code == 400 and code(refused) == 1001  # the update schema allows active|disabled|expired
    listed = {t["id"]: t for t in api.get("/user/tokens", headers=mgmt).json()["result"]}
    assert listed[token_id]["status"] == "revoked (exposed)"
    assert api.get(f"/user/tokens/{token_id}", headers=mgmt).json()["result"]["status"] == "revoked (exposed)"
    verify = api.get("/user/tokens/verify", headers={"Authorization": f"Bearer {value}"})
    assert verify.status_code == 401 and code(verify) == 1000


def test_an_active_token_past_expires_on_shows_expired_in_list_and_get(standin, api, mgmt):
    token_id, _ = standin.add_token("SOON", policies=[on_zone(RAXX_APP, ZONE_READ)],
                                    expires_on=standin.clock.now() + timedelta(hours=1))

    before = api.get(f"/user/tokens/{token_id}", headers=mgmt).json()["result"]["status"]
    standin.clock.advance(timedelta(hours=2))
    after = api.get(f"/user/tokens/{token_id}", headers=mgmt).json()["result"]["status"]
    listed = {t["id"]: t["status"] for t in api.get("/user/tokens", params={"include_expired": "true"},
                                                   headers=mgmt).json()["result"]}

    assert (before, after, listed[token_id]) == ("active", "expired", "expired")


def test_the_list_leaves_expired_tokens_out_unless_asked_and_then_only_recently_expired_ones(standin, api, mgmt):
    """SDK 5.9 `list()`: "Results include active, disabled, and recently-expired tokens when include_expired is set
    to true" (the window is unconfirmed; 30 days here)."""
    soon, _ = standin.add_token("SOON", policies=[on_zone(RAXX_APP, ZONE_READ)],
                                expires_on=standin.clock.now() + timedelta(hours=1))
    long_ago, _ = standin.add_token("LONG_AGO", policies=[on_zone(RAXX_APP, ZONE_READ)],
                                    expires_on=standin.clock.now() - timedelta(days=40))
    disabled, _ = standin.add_token("OFF", policies=[on_zone(RAXX_APP, ZONE_READ)], status="disabled")
    standin.clock.advance(timedelta(hours=2))

    def listed(**params) -> set[str]:
        return {t["id"] for t in api.get("/user/tokens", params=params, headers=mgmt).json()["result"]}

    plain, asked, asked_false = listed(), listed(include_expired="true"), listed(include_expired="false")

    assert soon not in plain and long_ago not in plain and disabled in plain and plain == asked_false
    assert soon in asked and long_ago not in asked and disabled in asked
    assert api.get(f"/user/tokens/{long_ago}", headers=mgmt).json()["result"]["status"] == "expired"


@pytest.mark.parametrize(
    ("policies", "path", "status", "error"),
    [
        ([on_zone(RAXX_APP, WAF_WRITE, ZONE_READ)], ENTRYPOINT.format(RAXX_APP), 404, 10003),  # allowed, no rule yet
        ([on_zone(RAXX_APP, WAF_WRITE)], ENTRYPOINT.format(GETRAXX), 403, 9109),  # zone outside its resources
        ([on_zone(RAXX_APP, DNS_WRITE, ZONE_READ)], ENTRYPOINT.format(RAXX_APP), 403, 10000),  # no WAF group
        ([on_zone(GETRAXX, DNS_WRITE)], f"/zones/{GETRAXX}/dns_records", 200, None),
        ([on_zone(GETRAXX, WAF_WRITE)], f"/zones/{GETRAXX}/dns_records", 403, 10000),
        ([on_zone(GETRAXX, DNS_WRITE)], f"/zones/{RAXX_APP}/dns_records", 403, 9109),
        ([state.policy(DNS_WRITE, resource="com.cloudflare.api.account.zone.*")], f"/zones/{RAXX_APP}/dns_records",
         200, None),
        ([{"effect": "allow", "resources": {f"com.cloudflare.api.account.{ACCOUNT}": {
            "com.cloudflare.api.account.zone.*": "*"}}, "permission_groups": [{"id": WAF_WRITE}]}],
         ENTRYPOINT.format(GETRAXX), 404, 10003),
        ([on_zone(RAXX_APP, WAF_WRITE), state.policy(WAF_WRITE, resource=f"com.cloudflare.api.account.zone.{RAXX_APP}",
                                                     effect="deny")], ENTRYPOINT.format(RAXX_APP), 403, 10000),
        ([on_zone(RAXX_APP, WAF_WRITE)], ENTRYPOINT.format("0" * 32), 403, 9109),  # unknown zone: same answer
    ],
    ids=["waf on its zone", "waf on another zone", "waf without a waf group", "dns on its zone",
         "dns without a dns group", "dns on another zone", "all zones", "account-wide", "deny wins",
         "unknown zone"],
)
def test_the_job_endpoints_enforce_zone_and_permission_like_cloudflare(standin, api, policies, path, status, error):
    _, value = standin.add_token("PROBED", policies=policies)

    response = api.get(path, params={"per_page": 1} if path.endswith("dns_records") else None,
                       headers={"Authorization": f"Bearer {value}"})

    assert response.status_code == status
    if error is None:
        assert response.json()["success"] is True
    else:
        assert code(response) == error and response.json()["result"] is None


def test_the_job_endpoints_refuse_a_dead_value_with_1000(standin, api):
    token_id, value = standin.add_token("GONE", policies=[on_zone(RAXX_APP, WAF_WRITE)])
    standin.set_status(token_id, "disabled")

    response = api.get(ENTRYPOINT.format(RAXX_APP), headers={"Authorization": f"Bearer {value}"})

    assert response.status_code == 401 and code(response) == 1000


def test_a_zone_without_rate_limiting_rules_has_no_entry_point_until_its_first_rule(standin, api):
    """Cloudflare answers 404 code 10003 for a phase that never had a rule; the entry point comes with the first."""
    _, value = standin.add_token("WAF", policies=[on_zone(RAXX_APP, WAF_WRITE, ZONE_READ)])
    bearer = {"Authorization": f"Bearer {value}"}

    before = api.get(ENTRYPOINT.format(RAXX_APP), headers=bearer)
    standin.set_entrypoint(RAXX_APP, "http_ratelimit", [{"description": "login burst", "action": "block"}])
    after = api.get(ENTRYPOINT.format(RAXX_APP), headers=bearer)

    assert before.status_code == 404 and before.json()["result"] is None
    assert before.json()["errors"] == [{"code": 10003,
                                        "message": "could not find entrypoint ruleset in the http_ratelimit phase"}]
    assert after.status_code == 200
    ruleset = after.json()["result"]
    assert (ruleset["phase"], ruleset["kind"]) == ("http_ratelimit", "zone")
    assert [rule["description"] for rule in ruleset["rules"]] == ["login burst"]
    other_phase = api.get(f"/zones/{RAXX_APP}/rulesets/phases/http_request_firewall_custom/entrypoint", headers=bearer)
    assert other_phase.status_code == 404 and code(other_phase) == 10003  # entry points are per phase


def test_a_phase_name_outside_cloudflares_enum_is_refused(standin, api):
    _, value = standin.add_token("WAF", policies=[on_zone(RAXX_APP, WAF_WRITE, ZONE_READ)])

    response = api.get(f"/zones/{RAXX_APP}/rulesets/phases/http_ratelimits/entrypoint",
                       headers={"Authorization": f"Bearer {value}"})

    assert response.status_code == 400 and response.json()["success"] is False
    assert "http_ratelimits" in response.json()["errors"][0]["message"]
    with pytest.raises(ValueError, match="unknown ruleset phase"):
        standin.set_entrypoint(RAXX_APP, "http_ratelimits")
