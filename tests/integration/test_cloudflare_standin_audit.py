"""Contract tests: the stand-in's Audit Logs v2 (`GET /accounts/{account_id}/logs/audit`) refuses and answers what
Cloudflare does (api-contracts.md "Audit Logs v2"), driven with plain httpx over real HTTP."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from standins import cloudflare_audit as audit
from standins import cloudflare_state as state
from standins.base import iso
from standins.cloudflare import CloudflareStandIn
from tests.integration.cloudflare_fixtures import standin_fixtures

pytestmark = pytest.mark.integration

ACCOUNT = audit.DEFAULT_ACCOUNT
LOG = f"/accounts/{ACCOUNT}/logs/audit"
ZONE = ("0bdcee38d1da2d021eb6166f0bd6204f", "getraxx.com")

server, standin = standin_fixtures({"getraxx.com": ZONE[0]})


@pytest.fixture
def api(standin: CloudflareStandIn):
    with httpx.Client(base_url=standin.url + "/client/v4") as client:
        yield client


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def reader(standin: CloudflareStandIn) -> dict[str, str]:
    """A user token with API Tokens Write and Account Settings Read (the bot's management token, say)."""
    return bearer(standin.add_token("CF_ACCESS_MGMT", policies=[
        state.policy(state.TOKENS_WRITE, resource=standin.user_resource),
        state.policy(audit.ACCOUNT_SETTINGS_READ, resource=f"com.cloudflare.api.account.{ACCOUNT}")])[1])


def window(standin: CloudflareStandIn, days: int = 1) -> dict[str, str]:
    now = standin.clock.now()
    return {"since": iso(now - timedelta(days=days)), "before": iso(now + timedelta(minutes=1))}


def test_since_and_before_are_required_in_cloudflares_error_envelope(standin, api, reader):
    for params in ({}, {"since": "2026-01-01"}, {"before": "2026-01-01"}):
        answer = api.get(LOG, params=params, headers=reader)

        assert answer.status_code == 400
        body = answer.json()
        assert body["success"] is False and body["result"] is None and body["messages"] == []
        assert body["errors"][0]["code"] >= 1000 and "required" in body["errors"][0]["message"]


def test_a_date_or_an_rfc3339_timestamp_is_accepted_anything_else_refused(standin, api, reader):
    assert api.get(LOG, params={"since": "2026-01-01", "before": "2099-01-01"}, headers=reader).status_code == 200
    assert api.get(LOG, params={"since": "2026-01-01T00:00:00Z", "before": "2099-01-01T10:00:00+02:00"},
                   headers=reader).status_code == 200
    for bad in ("yesterday", "2026-01-01 00:00:00", "2026-13-01", "1790000000"):
        assert api.get(LOG, params={"since": bad, "before": "2099-01-01"}, headers=reader).status_code == 400


def test_without_account_settings_read_the_log_is_refused_with_403(standin, api):
    value = standin.add_token("CF_WAF", policies=[state.policy(state.TOKENS_WRITE,
                                                               resource=standin.user_resource)])[1]

    answer = api.get(LOG, params=window(standin), headers=bearer(value))

    assert answer.status_code == 403 and answer.json()["errors"][0]["code"] == 9109


def test_writes_are_recorded_with_their_actor_and_reads_are_not(standin, api, reader):
    token_id, _ = standin.add_token("CF_DNS", policies=[state.policy(state.TOKENS_READ)])
    api.get(f"/user/tokens/{token_id}", headers=reader)
    api.get("/user/tokens", headers=reader)
    rolled = api.put(f"/user/tokens/{token_id}/value", json={}, headers=reader).json()["result"]

    entries = api.get(LOG, params=window(standin), headers=reader).json()["result"]

    assert len(entries) == 1, "reads (GET) are not recorded"
    (roll,) = entries
    assert roll["action"]["type"] == "update" and roll["action"]["result"] == "success"
    assert roll["raw"]["method"] == "PUT" and roll["raw"]["uri"] == f"/user/tokens/{token_id}/value"
    assert roll["raw"]["status_code"] == 200 and roll["resource"]["id"] == token_id
    assert roll["actor"]["context"] == "api_token" and roll["actor"]["token_name"] == "CF_ACCESS_MGMT"
    assert roll["actor"]["email"] == standin.user_email and roll["actor"]["ip_address"]
    assert rolled not in str(entries), "a rolled value never reaches the audit log"


def test_a_person_in_the_dashboard_is_recorded_by_email_and_ip_without_a_token(standin, api, reader):
    token_id, _ = standin.add_token("CF_DNS", policies=[state.policy(state.TOKENS_READ)])
    person = bearer(standin.dashboard_session("alice@example.com", ip="203.0.113.7"))

    assert api.put(f"/user/tokens/{token_id}/value", json={}, headers=person).status_code == 200
    assert api.delete(f"/user/tokens/{token_id}", headers=person).status_code == 200
    entries = api.get(LOG, params={**window(standin), "direction": "asc"}, headers=reader).json()["result"]

    assert [e["action"]["type"] for e in entries] == ["update", "delete"]
    assert all(e["actor"]["context"] == "dash" and e["actor"]["email"] == "alice@example.com"
               and e["actor"]["ip_address"] == "203.0.113.7" and "token_id" not in e["actor"] for e in entries)


def test_cursor_paging_emits_both_forms_and_ends_without_one(standin, api, reader):
    now = standin.clock.now()
    standin.seed_audit(*(audit.seeded("t" * 32, "CF_DNS", at=now - timedelta(minutes=n), ip="198.51.100.1",
                                      account_id=ACCOUNT, zone=ZONE) for n in range(7)))
    seen, cursor, pages = [], None, 0

    while True:
        params = {**window(standin), "limit": 3, **({"cursor": cursor} if cursor else {})}
        body = api.get(LOG, params=params, headers=reader).json()
        seen += body["result"]
        pages += 1
        info = body["result_info"]
        cursor = info.get("cursor")
        if not cursor:
            assert "cursors" not in info
            break
        assert info["cursors"] == {"after": cursor} and info["count"] == "3"

    assert pages == 3 and len({e["id"] for e in seen}) == 7
    assert [e["action"]["time"] for e in seen] == sorted((e["action"]["time"] for e in seen), reverse=True)
    bad = api.get(LOG, params={**window(standin), "cursor": "not-a-cursor"}, headers=reader)
    assert bad.status_code == 400
    assert api.get(LOG, params={**window(standin), "limit": 0}, headers=reader).status_code == 400
    assert api.get(LOG, params={**window(standin), "direction": "up"}, headers=reader).status_code == 400


def test_filters_in_both_forms_positive_repeatable_and_not(standin, api, reader):
    now = standin.clock.now()
    standin.seed_audit(
        audit.seeded("a" * 32, "CF_A", at=now, ip="198.51.100.1", account_id=ACCOUNT, zone=ZONE),
        audit.seeded("b" * 32, "CF_B", at=now, ip="198.51.100.2", account_id=ACCOUNT, zone=ZONE),
        audit.seeded("c" * 32, "CF_C", at=now, ip="198.51.100.3", account_id=ACCOUNT, zone=ZONE))

    def names(query: list[tuple[str, str]]) -> set[str]:
        params = [*window(standin).items(), *query]
        return {e["actor"]["token_name"] for e in api.get(LOG, params=params, headers=reader).json()["result"]}

    assert names([("actor_token_id", "a" * 32)]) == {"CF_A"}
    assert names([("actor_token_id", "a" * 32), ("actor_token_id", "c" * 32)]) == {"CF_A", "CF_C"}
    assert names([("actor_token_id.not", "a" * 32)]) == {"CF_B", "CF_C"}
    assert names([("actor_token_id.not", "a" * 32), ("actor_token_id.not", "b" * 32)]) == {"CF_C"}
    assert names([("actor_ip_address", "198.51.100.2")]) == {"CF_B"}


def test_entries_outside_since_and_before_are_left_out(standin, api, reader):
    now = standin.clock.now()
    standin.seed_audit(audit.seeded("a" * 32, "OLD", at=now - timedelta(days=40), ip="198.51.100.1",
                                    account_id=ACCOUNT, zone=ZONE))

    assert api.get(LOG, params=window(standin, days=30), headers=reader).json()["result"] == []
    assert len(api.get(LOG, params=window(standin, days=45), headers=reader).json()["result"]) == 1
