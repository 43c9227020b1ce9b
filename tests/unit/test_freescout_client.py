"""FreeScout client edge cases against `httpx.MockTransport`: payloads, id reading, paging and error mapping."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from domain.errors import RateLimited, ServiceUnavailable, TicketError, UnexpectedResponse
from workers.clients.freescout import FreeScoutClient
from workers.clients.http import RetryPolicy

KEY = "unit-secret-key-77"
BASE = "https://help.example.org"


def make_client(handler: Callable[[httpx.Request], httpx.Response], *, base_url: str = BASE) -> FreeScoutClient:
    return FreeScoutClient(base_url=base_url, api_key=SecretStr(KEY), mailbox_id=4, user_id=9,
                           transport=httpx.MockTransport(handler), retry=RetryPolicy.instant())


def created(conversation_id: int = 35, **headers: str) -> httpx.Response:
    return httpx.Response(201, json={"id": conversation_id, "number": 1035},
                          headers={"Resource-ID": str(conversation_id), **headers})


def listing(conversations: list[dict[str, Any]], *, number: int = 1, total_pages: int = 1) -> httpx.Response:
    page = {"size": "100", "totalElements": len(conversations), "totalPages": total_pages, "number": number}
    return httpx.Response(200, json={"_embedded": {"conversations": conversations}, "page": page})


def conversation(conversation_id: int, subject: str = "s", tags: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"id": conversation_id, "number": conversation_id + 1000, "subject": subject,
            "_embedded": {"threads": [], "tags": [{"id": n, "name": name} for n, name in enumerate(tags)]}}


def error_400(*errors: tuple[str, str]) -> httpx.Response:
    return httpx.Response(400, json={"message": "Error occurred", "_embedded": {"errors": [
        {"path": path, "message": message, "source": "JSON"} for path, message in errors]}})


def test_create_incident_posts_an_active_note_conversation_with_the_key_in_the_header_only() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return created()

    with make_client(handler) as client:
        client.create_incident(subject="Token revoked", body="details", tags=[])

    [request] = seen
    assert (request.method, request.url.path) == ("POST", "/api/conversations")
    assert json.loads(request.content) == {
        "type": "email", "mailboxId": 4, "subject": "Token revoked", "customer": {"email": "sre-bot@cftoken.invalid"},
        "threads": [{"type": "note", "text": "details", "user": 9}], "imported": False, "status": "active",
    }
    assert request.headers["X-FreeScout-API-Key"] == KEY
    assert KEY not in str(request.url)


def test_create_incident_then_puts_the_tags() -> None:
    seen: list[tuple[str, str, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path, request.content))
        return created() if request.method == "POST" else httpx.Response(204)

    with make_client(handler) as client:
        client.create_incident(subject="s", body="b", tags=["cftoken", "req-1"])

    assert seen[1] == ("PUT", "/api/conversations/35/tags", b'{"tags":["cftoken","req-1"]}')


def test_the_id_comes_from_resource_id_even_when_the_body_disagrees() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"id": 7, "number": 8}, headers={"Resource-ID": "42"})

    with make_client(handler) as client:
        ticket = client.create_incident(subject="s", body="b", tags=[])

    assert (ticket.id, ticket.number, ticket.url) == (42, 8, f"{BASE}/conversation/42")


def test_without_resource_id_the_body_id_is_used() -> None:
    with make_client(lambda request: httpx.Response(201, json={"id": 12, "number": 1012})) as client:
        ticket = client.create_incident(subject="s", body="b", tags=[])

    assert ticket.id == 12


def test_a_201_with_no_id_anywhere_raises_unexpected_response() -> None:
    with make_client(lambda request: httpx.Response(201, text="ok")) as client, pytest.raises(UnexpectedResponse):
        client.create_incident(subject="s", body="b", tags=[])


def test_a_subdirectory_base_url_is_kept_for_the_api_and_the_ticket_link() -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        return created(5)

    with make_client(handler, base_url="https://example.org/help/") as client:
        ticket = client.create_incident(subject="s", body="b", tags=[])

    assert paths == ["/help/api/conversations"]
    assert ticket.url == "https://example.org/help/conversation/5"


def test_a_400_names_every_field_path_the_server_reported() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return error_400(("mailboxId", "Mailbox not found"), ("customer.first_name", "Customer first name or email"))

    with make_client(handler) as client, pytest.raises(TicketError) as caught:
        client.create_incident(subject="s", body="b", tags=[])

    assert "mailboxId: Mailbox not found" in str(caught.value)
    assert "customer.first_name" in str(caught.value)


def test_a_401_raises_ticket_error_pointing_at_the_api_key_setting() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"message": "Not Authorized"})

    with make_client(handler) as client, pytest.raises(TicketError) as caught:
        client.find_by_subject("s")

    assert str(caught.value) == "FreeScout rejected the API key: check FREESCOUT_API_KEY"
    assert caught.value.service == "freescout"


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(403, json={"message": "Forbidden"}), TicketError),
        (httpx.Response(404, json={"message": "Not Found", "_embedded": {"errors": []}}), TicketError),
        (httpx.Response(405, json="Method Not Allowed"), UnexpectedResponse),
        (httpx.Response(301, headers={"Location": "https://elsewhere.example.org/api/conversations"}),
         UnexpectedResponse),
        (httpx.Response(200, json={}), UnexpectedResponse),
    ],
    ids=["403", "404", "405", "301", "200-instead-of-201"],
)
def test_other_answers_map_to_typed_errors(response: httpx.Response, error: type[Exception]) -> None:
    with make_client(lambda request: response) as client, pytest.raises(error):
        client.add_note(1, "x")


def test_a_429_on_create_raises_rate_limited_without_a_retry() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(429, headers={"Retry-After": "5"}, json={"message": "Too Many Attempts."})

    with make_client(handler) as client, pytest.raises(RateLimited) as caught:
        client.create_incident(subject="s", body="b", tags=[])

    assert calls == ["POST"]
    assert caught.value.retry_after == 5


def test_a_timeout_maps_to_service_unavailable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    with make_client(handler) as client, pytest.raises(ServiceUnavailable):
        client.find_by_subject("s")


def test_a_tagging_outage_after_create_is_logged_and_the_ticket_returned(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return created(35) if request.method == "POST" else httpx.Response(503)

    with caplog.at_level(logging.WARNING), make_client(handler) as client:
        ticket = client.create_incident(subject="s", body="b", tags=["req-1"])

    assert ticket.id == 35
    assert "conversation 35 left untagged" in caplog.text


def test_find_by_subject_follows_pages_until_a_match_and_stops_there() -> None:
    pages = {
        "1": listing([conversation(30, "a"), conversation(29, "b")], number=1, total_pages=3),
        "2": listing([conversation(28, "wanted"), conversation(27, "wanted")], number=2, total_pages=3),
    }
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["page"])
        return pages[request.url.params["page"]]

    with make_client(handler) as client:
        found = client.find_by_subject("wanted")

    assert found is not None and found.id == 28
    assert asked == ["1", "2"]


def test_find_by_subject_stops_at_the_last_page_and_on_an_empty_page() -> None:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params["page"])
        page = request.url.params["page"]
        return listing([conversation(1, "x")] if page == "1" else [], number=int(page), total_pages=5)

    with make_client(handler) as client:
        found = client.find_by_subject("missing")

    assert found is None
    assert asked == ["1", "2"]


def test_find_by_subject_matches_the_subject_exactly() -> None:
    answer = listing([conversation(2, "Cloudflare token revoked: dns-edit-2"),
                      conversation(1, "Cloudflare token revoked: dns-edit")])

    with make_client(lambda request: answer) as client:
        found = client.find_by_subject("Cloudflare token revoked: dns-edit")

    assert found is not None and found.id == 1


def test_a_listing_that_is_not_json_raises_unexpected_response() -> None:
    with make_client(lambda request: httpx.Response(200, text="<html>login</html>")) as client:
        with pytest.raises(UnexpectedResponse):
            client.find_by_subject("s")


def test_repr_shows_where_but_not_the_key() -> None:
    with make_client(lambda request: httpx.Response(204)) as client:
        shown = repr(client)

    assert BASE in shown
    assert KEY not in shown
