"""Cloudflare client edge cases against httpx.MockTransport: every error-mapping row, paging, bodies, retries."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from domain.cloudflare_tokens import CfToken
from domain.errors import (
    ManagementTokenInvalid,
    NotAuthorized,
    RateLimited,
    ServiceUnavailable,
    TokenInvalid,
    TokenNotFound,
    UnexpectedResponse,
)
from workers.clients.cloudflare import CloudflareClient
from workers.clients.http import RetryPolicy

BASE = "https://api.cloudflare.test/client/v4"
MGMT = SecretStr("cfut_MANAGEMENTmanagementMANAGEMENTmanage1234abcd")
SUBJECT = SecretStr("cfut_SUBJECTsubjectSUBJECTsubjectSUBJECTsu9876fedc")
TOKEN_ID = "d0cf0adeda107092f6e8c0646460f8f8"
TOKEN = {
    "id": TOKEN_ID, "name": "CF_WAF_EDIT_RAXX_APP", "status": "active", "issued_on": "2026-01-01T00:00:00Z",
    "modified_on": "2026-01-02T00:00:00Z", "not_before": "2026-01-01T00:00:00Z",
    "expires_on": "2026-04-01T00:00:00Z", "condition": {"request_ip": {"in": ["199.27.128.0/21"]}},
    "policies": [{"id": "f267e341f3dd4697bd3b9f71dd96247f", "effect": "allow",
                  "resources": {"com.cloudflare.api.account.zone.f12dbb5cac57d5591a5058874498a6d1": "*"},
                  "permission_groups": [{"id": "fb6778dc191143babbfaa57993f1d275", "name": "Zone WAF Write",
                                         "meta": {"key": "k", "value": "v"}}]}],
    "some_future_field": True,
}


def envelope(result: object, **extra: object) -> dict:
    return {"success": True, "errors": [], "messages": [], "result": result, **extra}


def failure(*codes: tuple[int, str]) -> dict:
    return {"success": False, "errors": [{"code": c, "message": m} for c, m in codes], "messages": [],
            "result": None}


class Recorder:
    """A MockTransport handler that records requests and answers with a fixed or computed response."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


def make(answer: Callable[[httpx.Request], httpx.Response], *, management: SecretStr | None = MGMT,
         attempts: int = 1) -> tuple[CloudflareClient, Recorder]:
    recorder = Recorder(answer)
    client = CloudflareClient(base_url=BASE, management_token=management, transport=httpx.MockTransport(recorder),
                              retry=RetryPolicy.instant(attempts))
    return client, recorder


def replying(status: int, body: object = None, **headers: str) -> Callable[[httpx.Request], httpx.Response]:
    if isinstance(body, str):
        return lambda request: httpx.Response(status, text=body, headers=headers)
    return lambda request: httpx.Response(status, json=body, headers=headers)


CALLS: dict[str, Callable[[CloudflareClient], object]] = {
    "verify": lambda cf: cf.verify(SUBJECT),
    "get_token": lambda cf: cf.get_token(TOKEN_ID),
    "roll": lambda cf: cf.roll(TOKEN_ID),
    "delete_token": lambda cf: cf.delete_token(TOKEN_ID),
    "list_tokens": lambda cf: cf.list_tokens(),
    "zone_by_name": lambda cf: cf.zone_by_name("raxx.app"),
    "permission_groups": lambda cf: cf.permission_groups(),
}


@pytest.mark.parametrize(("call", "status", "body", "expected"), [
    ("verify", 401, failure((1000, "Invalid API Token")), TokenInvalid),
    ("verify", 400, failure((1000, "Invalid API token")), TokenInvalid),
    ("verify", 401, "", TokenInvalid),
    ("get_token", 401, failure((1000, "Invalid API Token")), ManagementTokenInvalid),
    ("roll", 403, failure((1000, "Invalid API Token")), ManagementTokenInvalid),
    ("list_tokens", 401, "", ManagementTokenInvalid),
    ("roll", 403, failure((9109, "Unauthorized to access requested resource")), NotAuthorized),
    ("zone_by_name", 403, failure((10000, "Authentication error")), NotAuthorized),
    ("verify", 400, failure((10000, "Authentication error")), NotAuthorized),
    ("delete_token", 403, "<html>forbidden</html>", NotAuthorized),
    ("get_token", 404, failure((7003, "Could not route to /user/tokens/x"), (7000, "No route")), TokenNotFound),
    ("roll", 400, failure((7003, "Could not route to /user/tokens/x/value")), TokenNotFound),
    ("delete_token", 404, "", TokenNotFound),
    ("zone_by_name", 404, failure((7003, "Could not route to /zones")), UnexpectedResponse),
    ("update", 400, failure((6003, "Invalid request headers")), UnexpectedResponse),
    ("permission_groups", 200, failure((1001, "odd")), UnexpectedResponse),
    ("get_token", 200, "not json at all", UnexpectedResponse),
    ("list_tokens", 429, failure((971, "Please wait")), RateLimited),
    ("get_token", 503, failure((10001, "Internal error")), ServiceUnavailable),
])
def test_each_cloudflare_answer_maps_to_its_typed_error(call, status, body, expected):
    client, _ = make(replying(status, body))
    act = CALLS.get(call) or (lambda cf: cf.update_token(CfToken.model_validate(TOKEN), expires_on=None))

    with pytest.raises(expected) as caught:
        act(client)

    assert type(caught.value) is expected and caught.value.service == "cloudflare"


def test_an_unexpected_answer_names_the_code_and_cloudflares_message():
    client, _ = make(replying(400, failure((6003, "Invalid request headers"))))

    with pytest.raises(UnexpectedResponse) as caught:
        client.get_token(TOKEN_ID)

    assert "6003" in str(caught.value) and "Invalid request headers" in str(caught.value)
    assert "HTTP 400" in str(caught.value) and "Bearer" not in str(caught.value)


def test_a_transport_error_raises_service_unavailable():
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, recorder = make(refuse, attempts=3)

    with pytest.raises(ServiceUnavailable):
        client.verify(SUBJECT)

    assert len(recorder.requests) == 3


def test_without_a_management_token_management_calls_raise_and_send_nothing():
    client, recorder = make(replying(200, envelope(TOKEN)), management=None)

    with pytest.raises(ManagementTokenInvalid, match="no management token"):
        client.get_token(TOKEN_ID)

    assert recorder.requests == []


def test_verify_sends_the_token_under_test_and_other_calls_send_the_management_token():
    client, recorder = make(lambda request: httpx.Response(
        200, json=envelope({"id": TOKEN_ID, "status": "active"} if request.url.path.endswith("verify") else TOKEN)))

    client.verify(SUBJECT)
    client.get_token(TOKEN_ID)

    assert [r.headers["authorization"] for r in recorder.requests] == [
        f"Bearer {SUBJECT.get_secret_value()}", f"Bearer {MGMT.get_secret_value()}"]
    assert str(recorder.requests[0].url) == BASE + "/user/tokens/verify"
    assert "authorization" not in client._http.headers


def test_repr_shows_only_the_base_url():
    client, _ = make(replying(200, envelope(None)))

    assert repr(client) == f"CloudflareClient(base_url='{BASE}')"
    assert MGMT.get_secret_value() not in repr(vars(client))


def test_get_token_parses_timestamps_and_ignores_unknown_fields():
    client, _ = make(replying(200, envelope(TOKEN)))

    token = client.get_token(TOKEN_ID)

    assert token.expires_on == datetime(2026, 4, 1, tzinfo=UTC) and token.last_used_on is None
    assert token.policies[0].permission_groups[0].name == "Zone WAF Write"


def test_a_result_that_breaks_the_contract_raises_without_echoing_it():
    client, _ = make(replying(200, envelope({"id": TOKEN_ID, "name": "cfut_LOOKS_LIKE_A_SECRET"})))

    with pytest.raises(UnexpectedResponse) as caught:
        client.get_token(TOKEN_ID)

    assert "status" in str(caught.value) and "cfut_LOOKS_LIKE_A_SECRET" not in str(caught.value)


@pytest.mark.parametrize("result", [None, "", {"value": "x"}])
def test_a_roll_without_a_string_value_is_unexpected(result):
    client, _ = make(replying(200, envelope(result)))

    with pytest.raises(UnexpectedResponse):
        client.roll(TOKEN_ID)


def test_roll_puts_an_empty_object_and_returns_the_value_as_a_secret():
    client, recorder = make(replying(200, envelope("cfut_NEWVALUE")))

    value = client.roll(TOKEN_ID)

    assert value.get_secret_value() == "cfut_NEWVALUE"
    assert recorder.requests[0].method == "PUT" and json.loads(recorder.requests[0].content) == {}
    assert recorder.requests[0].url.path == f"/client/v4/user/tokens/{TOKEN_ID}/value"


def test_a_token_id_is_escaped_into_one_path_segment():
    client, recorder = make(replying(200, envelope(TOKEN)))

    client.get_token("../zones")

    assert recorder.requests[0].url.raw_path == b"/client/v4/user/tokens/..%2Fzones"


def test_list_tokens_requests_pages_of_fifty_until_a_short_page():
    pages = {1: [TOKEN] * 50, 2: [TOKEN] * 50, 3: [TOKEN] * 3}
    client, recorder = make(lambda request: httpx.Response(200, json=envelope(
        pages[int(request.url.params["page"])], result_info={"page": 1, "per_page": 50})))

    tokens = client.list_tokens()

    assert len(tokens) == 103
    assert [(r.url.params["page"], r.url.params["per_page"]) for r in recorder.requests] == [
        ("1", "50"), ("2", "50"), ("3", "50")]


def test_every_list_asks_for_recently_expired_tokens_too_and_filters_a_name_itself():
    """Cloudflare leaves expired tokens out of GET /user/tokens unless include_expired=true (SDK 5.9), and its list
    has no name filter: without both, an expired token would read as deleted and a taken name as free."""
    other = {**TOKEN, "id": "f" * 32, "name": "CF_OTHER", "status": "expired"}
    client, recorder = make(replying(200, envelope([{**TOKEN, "status": "expired"}, other])))

    named = client.list_tokens(name=TOKEN["name"])
    every = client.list_tokens()

    assert [token.status for token in named] == ["expired"] and len(every) == 2
    assert all(r.url.params["include_expired"] == "true" and "name" not in r.url.params for r in recorder.requests)
    assert all(int(r.url.params["per_page"]) <= 50 for r in recorder.requests)


def test_list_tokens_stops_at_an_empty_page():
    client, recorder = make(lambda request: httpx.Response(200, json=envelope(
        [TOKEN] * 50 if request.url.params["page"] == "1" else [])))

    assert len(client.list_tokens()) == 50
    assert len(recorder.requests) == 2


def test_update_token_sends_a_full_replace_with_the_new_expiry():
    client, recorder = make(replying(200, envelope(TOKEN)))

    client.update_token(CfToken.model_validate(TOKEN), expires_on=datetime(2026, 7, 1, 9, 30, tzinfo=UTC))

    sent = json.loads(recorder.requests[0].content)
    assert recorder.requests[0].method == "PUT"
    assert sent == {
        "name": "CF_WAF_EDIT_RAXX_APP", "status": "active", "not_before": "2026-01-01T00:00:00Z",
        "expires_on": "2026-07-01T09:30:00Z", "condition": {"request_ip": {"in": ["199.27.128.0/21"]}},
        "policies": [{"effect": "allow", "resources": TOKEN["policies"][0]["resources"],
                      "permission_groups": [{"id": "fb6778dc191143babbfaa57993f1d275"}]}],
    }


def test_zone_by_name_asks_for_the_exact_name_and_returns_none_when_absent():
    client, recorder = make(replying(200, envelope([], result_info={"page": 1, "per_page": 20})))

    assert client.zone_by_name("raxx.app") is None
    assert recorder.requests[0].url.params["name"] == "raxx.app"


@pytest.mark.parametrize(("call", "sent"), [("verify", 4), ("get_token", 4), ("delete_token", 4), ("roll", 1)])
def test_only_idempotent_calls_are_retried_on_5xx(call, sent):
    client, recorder = make(replying(502, failure((10001, "Internal error"))), attempts=4)

    with pytest.raises(ServiceUnavailable):
        CALLS[call](client)

    assert len(recorder.requests) == sent


def test_create_token_is_sent_once_on_5xx():
    client, recorder = make(replying(500, failure((10001, "Internal error"))), attempts=4)
    policy = CfToken.model_validate(TOKEN).policies

    with pytest.raises(ServiceUnavailable):
        client.create_token("NEW", policy)

    assert len(recorder.requests) == 1


def test_create_token_without_a_value_is_unexpected():
    client, _ = make(replying(200, envelope(TOKEN)))

    with pytest.raises(UnexpectedResponse, match="no value"):
        client.create_token("NEW", CfToken.model_validate(TOKEN).policies)


def test_the_client_closes_its_connection_pool():
    client, _ = make(replying(200, envelope(TOKEN)))

    with client:
        client.get_token(TOKEN_ID)

    assert client._http.is_closed
