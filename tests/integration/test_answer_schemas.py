"""The stand-ins' answers are checked against the services' own schemas during every test (standins/answer_schemas.py,
hooked in tests/conftest.py): a deliberately wrong answer shape is caught and fails the test that caused it."""

from __future__ import annotations

import httpx
import pytest

from standins import answer_schemas
from standins import cloudflare_state as state
from standins.base import Request, Response
from standins.cloudflare import CloudflareStandIn, ok
from tests import conftest
from tests.integration.cloudflare_fixtures import standin_fixtures

pytestmark = pytest.mark.integration
RAXX_APP = "f12dbb5cac57d5591a5058874498a6d1"
TOKEN_ID = "ed17574386854bf78a67040be0a770b0"
TOKEN = {"id": TOKEN_ID, "name": "CF_WAF_EDIT_RAXX_APP", "status": "active", "issued_on": "2026-10-02T09:12:00Z",
         "modified_on": "2026-10-02T09:12:00Z", "expires_on": "2027-01-01T00:00:00Z",
         "policies": [{"id": "f267e341f3dd4697bd3b9f71dd96247f", "effect": "allow",
                       "resources": {f"com.cloudflare.api.account.zone.{RAXX_APP}": "*"},
                       "permission_groups": [{"id": "fb6778dc191143babbfaa57993f1d275", "name": "Zone WAF Write"}]}]}
RULESET = {"id": "2f2feab2026849078ba485f918791bdc", "name": "default", "kind": "zone", "version": "1",
           "phase": "http_ratelimit", "last_updated": "2026-10-02T09:12:00Z", "rules": []}
PAGE = {"page": 1, "per_page": 50, "count": 1, "total_count": 1, "total_pages": 1}


def envelope(result, **extra) -> dict:
    return {"success": True, "errors": [], "messages": [], "result": result, **extra}


def failure(code: int, message: str) -> dict:
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


def problems(method: str, path: str, status: int, body) -> list[str]:
    return list(answer_schemas.cloudflare_problems(method, "/client/v4" + path, status, body))


@pytest.mark.parametrize(("method", "path", "status", "body"), [
    ("GET", "/user/tokens", 200, envelope([TOKEN], result_info=PAGE)),
    ("GET", f"/user/tokens/{TOKEN_ID}", 200, envelope({**TOKEN, "status": "revoked (exposed)"})),
    ("PUT", f"/user/tokens/{TOKEN_ID}/value", 200, envelope("cfut_" + "a" * 40 + "0badc0de")),
    ("GET", "/user/tokens/verify", 200, envelope({"id": TOKEN_ID, "status": "active"})),
    ("GET", f"/zones/{RAXX_APP}/rulesets/phases/http_ratelimit/entrypoint", 200, envelope(RULESET)),
    ("GET", f"/zones/{RAXX_APP}/rulesets/phases/http_ratelimit/entrypoint", 404,
     failure(10003, "could not find entrypoint ruleset in the http_ratelimit phase")),
    ("GET", "/user/tokens", 429, failure(971, "Please wait and consider throttling your request speed")),
], ids=["list", "get, revoked (exposed)", "roll", "verify", "entrypoint", "no entrypoint", "throttled"])
def test_cloudflares_documented_answers_fit(method, path, status, body):
    assert problems(method, path, status, body) == []


@pytest.mark.parametrize(("method", "path", "status", "body", "caught"), [
    ("GET", "/user/tokens", 200, envelope([{k: v for k, v in TOKEN.items() if k != "policies"}], result_info=PAGE),
     "'policies' is a required property"),
    ("GET", f"/user/tokens/{TOKEN_ID}", 200, envelope({**TOKEN, "expires_on": "2027-01-01"}), "date-time"),
    ("GET", f"/user/tokens/{TOKEN_ID}", 200, envelope({**TOKEN, "status": "paused"}), "'paused' is not one of"),
    ("PUT", f"/user/tokens/{TOKEN_ID}/value", 200, envelope({"value": "cfut_x"}), "is not of type 'string'"),
    ("GET", "/user/tokens/verify", 200, envelope({"id": TOKEN_ID}), "'status' is a required property"),
    ("GET", f"/zones/{RAXX_APP}/rulesets/phases/http_ratelimit/entrypoint", 200,
     envelope({**RULESET, "phase": "http_ratelimits"}), "'http_ratelimits' is not one of"),
    ("GET", "/zones", 200, envelope([{"name": "raxx.app"}], result_info=PAGE), "'id' is a required property"),
    ("GET", f"/user/tokens/{TOKEN_ID}", 404, {"success": True, "errors": [], "messages": [], "result": None},
     "True is not one of [False]"),
    ("DELETE", f"/accounts/{'a' * 32}/tokens/{TOKEN_ID}", 200, envelope({}), "'id' is a required property"),
    ("GET", f"/accounts/{'a' * 32}/logs/audit", 200, envelope([{"actor": {"context": "telepathy"}}]),
     "'telepathy' is not one of"),
], ids=["token without policies", "date-only expiry", "unknown status", "roll result not a string",
        "verify without status", "unknown phase", "zone without id", "404 claiming success",
        "account delete without id", "audit actor context"])
def test_a_wrong_answer_shape_is_caught_naming_where(method, path, status, body, caught):
    found = problems(method, path, status, body)

    assert any(caught in problem for problem in found), found


server, standin = standin_fixtures({"raxx.app": RAXX_APP})


class BrokenStandIn(CloudflareStandIn):
    """A stand-in whose entry point answer lost its `kind` and `rules`: what a careless edit could do."""

    def _entrypoint(self, request: Request, caller: dict) -> Response:
        return ok({key: value for key, value in RULESET.items() if key not in ("kind", "rules")})


def test_a_stand_in_answering_off_schema_fails_the_test_during_which_it_answered():
    broken = BrokenStandIn().start()
    try:
        broken.add_zone("raxx.app", RAXX_APP)
        _, value = broken.add_token("WAF", policies=[state.policy(
            state.WAF_READERS[0], resource=f"com.cloudflare.api.account.zone.{RAXX_APP}")])
        hook = conftest.pytest_runtest_call(item=None)
        next(hook)  # the test's call begins

        answer = httpx.get(f"{broken.url}/client/v4/zones/{RAXX_APP}/rulesets/phases/http_ratelimit/entrypoint",
                           headers={"Authorization": f"Bearer {value}"})

        assert answer.status_code == 200  # the answer itself is not changed: the suite is told
        with pytest.raises(AssertionError, match="'kind' is a required property") as failed:
            hook.send(None)  # the test's call ends: the hook fails it
        assert "off its schema" in str(failed.value) and "rulesets/phases/http_ratelimit/entrypoint" in str(failed.value)
    finally:
        broken.stop()
    assert answer_schemas.take_mismatches() == []  # the hook claimed the mismatch


def test_the_seeded_stand_in_answers_every_covered_path_within_its_schema(standin):
    """Each path the bot uses, answered by the real stand-in (the hook would fail this test otherwise)."""
    mgmt = standin.add_token("MGMT", policies=[state.policy(state.TOKENS_WRITE)])[1]
    waf = standin.add_token("WAF", policies=[state.policy(
        state.WAF_READERS[0], "c8fed203ed3043cba015a93ad1616f1f", "4755a26eedb94da69e1066d98aa820be",
        resource=f"com.cloudflare.api.account.zone.{RAXX_APP}")])
    headers = {"Authorization": f"Bearer {mgmt}"}
    with httpx.Client(base_url=standin.url + "/client/v4", headers=headers) as api:
        created = api.post("/user/tokens", json={"name": "NEW", "policies": [{"effect": "allow", "resources": {
            f"com.cloudflare.api.account.zone.{RAXX_APP}": "*"}, "permission_groups": [
            {"id": "c8fed203ed3043cba015a93ad1616f1f"}]}], "expires_on": "2027-01-01T00:00:00Z"}).json()["result"]
        answers = [api.get("/user/tokens/verify"), api.get("/user/tokens", params={"include_expired": "true"}),
                   api.get(f"/user/tokens/{created['id']}"), api.put(f"/user/tokens/{created['id']}/value", json={}),
                   api.get("/user/tokens/permission_groups"), api.get("/zones", params={"name": "raxx.app"}),
                   api.delete(f"/user/tokens/{created['id']}"), api.get(f"/user/tokens/{created['id']}"),
                   api.get("/user/tokens/verify", headers={"Authorization": "Bearer nope"})]
        probes = {"Authorization": f"Bearer {waf[1]}"}
        answers += [api.get(f"/zones/{RAXX_APP}/dns_records", params={"per_page": 1}, headers=probes),
                    api.get(f"/zones/{RAXX_APP}/rulesets/phases/http_ratelimit/entrypoint", headers=probes)]
        standin.set_entrypoint(RAXX_APP)
        answers.append(api.get(f"/zones/{RAXX_APP}/rulesets/phases/http_ratelimit/entrypoint", headers=probes))

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 200, 200, 404, 401, 200, 404, 200]
    assert answer_schemas.take_mismatches() == []


MESSAGE = {"type": "message", "ts": "1796546013.000100", "user": "U0CFTBOT1", "text": "hi", "bot_id": "B0CFTBOT1"}


@pytest.mark.parametrize(("path", "body", "caught"), [
    ("/api/chat.postMessage", {"ok": True, "channel": "C0SRE0001", "message": MESSAGE}, "'ts' is a required property"),
    ("/api/chat.postMessage", {"ok": True, "channel": "C0SRE0001", "ts": "now", "message": MESSAGE},
     "does not match"),
    ("/api/chat.update", {"ok": True, "channel": "C0SRE0001", "ts": MESSAGE["ts"], "message": MESSAGE},
     "'text' is a required property"),
    ("/api/users.info", {"ok": True, "user": {"id": "U0ALICE01", "name": "alice"}}, "is a required property"),
    ("/api/usergroups.users.list", {"ok": True, "users": ["alice"]}, "does not match"),
    ("/api/conversations.members", {"ok": True, "members": ["U0ALICE01"]}, "'response_metadata' is a required"),
    ("/api/auth.test", {"ok": True, "url": "https://x.slack.com/", "team": "x", "user": "bot", "team_id": "T0X"},
     "'user_id' is a required property"),
    ("/api/chat.postMessage", {"ok": False}, "'error' is a required property"),
], ids=["post without ts", "post with a made-up ts", "update without text", "user without profile",
        "usergroup of names", "members without cursor", "auth.test without user_id", "error without error"])
def test_a_wrong_slack_answer_shape_is_caught(path, body, caught):
    found = list(answer_schemas.slack_problems(path, body))

    assert any(caught in problem for problem in found), found


def test_the_slack_stand_ins_answers_fit_slacks_published_schemas(world):
    """users.info (with the profile fields Slack's schema requires), auth.test, a usergroup, members, an error."""
    headers = {"Authorization": f"Bearer {world.slack.bot_token}"}
    with httpx.Client(base_url=world.slack.url + "/api/", headers=headers) as api:
        answers = [api.get("users.info", params={"user": "U0ALICE01"}), api.get("auth.test"),
                   api.post("chat.postMessage", json={"channel": "C0SRE0001", "text": "hello"}),
                   api.get("users.info", params={"user": "U0NOBODY1"})]

    assert [a.json()["ok"] for a in answers] == [True, True, True, False]
    assert answer_schemas.take_mismatches() == []
    assert list(answer_schemas.slack_problems("/api/users.info", {
        **answers[0].json(), "user": {k: v for k, v in answers[0].json()["user"].items() if k != "updated"}}))
