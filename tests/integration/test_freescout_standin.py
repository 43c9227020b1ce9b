"""Contract tests for the FreeScout stand-in, spoken to with plain httpx over real HTTP (api-contracts.md §3)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from standins.base import Clock
from standins.freescout import FreeScoutStandIn

pytestmark = pytest.mark.integration

KEY = "fs-contract-key"
USER_ID = 7


@pytest.fixture(scope="module")
def server() -> Iterator[FreeScoutStandIn]:
    """One server per module; `freescout` resets it for every test."""
    standin = FreeScoutStandIn(api_key=KEY)
    standin.add_mailbox(1, "Incidents", "incidents@example.org")
    standin.add_mailbox(2, "Support", "support@example.org")
    standin.add_user(USER_ID, "Sam", "Agent", "sam@example.org")
    with standin:
        yield standin


@pytest.fixture
def freescout(server: FreeScoutStandIn) -> FreeScoutStandIn:
    server.reset()
    server.tags_module = True
    return server


@pytest.fixture
def api(freescout: FreeScoutStandIn) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=freescout.url, headers={"X-FreeScout-API-Key": KEY}) as client:
        yield client


def conversation_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "email",
        "mailboxId": 1,
        "subject": "Cloudflare token revoked: dns-edit",
        "customer": {"email": "secops@example.org", "firstName": "Sec", "lastName": "Ops"},
        "threads": [{"type": "note", "text": "Token revoked by @alice via Slack", "user": USER_ID}],
        "imported": False,
        "status": "active",
    }
    body.update(overrides)
    return body


def create(api: httpx.Client, **overrides: Any) -> int:
    response = api.post("/api/conversations", json=conversation_body(**overrides))
    assert response.status_code == 201, response.text
    return int(response.headers["Resource-ID"])


def test_create_answers_201_with_resource_id_and_the_conversation_entity(api: httpx.Client) -> None:
    response = api.post("/api/conversations", json=conversation_body())

    assert response.status_code == 201
    entity = response.json()
    assert response.headers["Resource-ID"] == str(entity["id"])
    assert entity["number"] != entity["id"]
    assert entity["subject"] == "Cloudflare token revoked: dns-edit"
    assert entity["status"] == "active"
    assert entity["mailboxId"] == 1
    assert entity["customer"]["email"] == "secops@example.org"
    assert entity["createdBy"] == {"id": USER_ID, "type": "user", "firstName": "Sam", "lastName": "Agent",
                                   "email": "sam@example.org"}
    [thread] = entity["_embedded"]["threads"]
    assert (thread["type"], thread["body"]) == ("note", "Token revoked by @alice via Slack")


@pytest.mark.parametrize("field", ["subject", "type", "mailboxId", "customer", "threads"])
def test_create_without_a_required_field_answers_400_naming_it(api: httpx.Client, field: str) -> None:
    body = conversation_body()
    del body[field]

    response = api.post("/api/conversations", json=body)

    assert response.status_code == 400
    assert response.json() == {
        "message": "Error occurred",
        "_embedded": {"errors": [{"path": field, "message": f"`{field}` parameter is required", "source": "JSON"}]},
    }


def test_create_reports_only_the_first_missing_field_in_the_modules_order(api: httpx.Client) -> None:
    response = api.post("/api/conversations", json={"mailboxId": 1})

    assert [e["path"] for e in response.json()["_embedded"]["errors"]] == ["subject"]


def test_create_in_an_unknown_mailbox_answers_400_mailbox_not_found(api: httpx.Client) -> None:
    response = api.post("/api/conversations", json=conversation_body(mailboxId=99))

    assert response.status_code == 400
    assert response.json()["_embedded"]["errors"] == [
        {"path": "mailboxId", "message": "Mailbox not found", "source": "JSON"}
    ]


def test_create_with_threads_not_a_list_answers_400(api: httpx.Client) -> None:
    response = api.post("/api/conversations", json=conversation_body(threads="hello"))

    assert response.status_code == 400
    assert response.json()["_embedded"]["errors"][0]["path"] == "threads"


def test_note_without_a_known_user_is_refused_and_leaves_no_conversation(
    api: httpx.Client, freescout: FreeScoutStandIn
) -> None:
    response = api.post("/api/conversations", json=conversation_body(threads=[{"type": "note", "text": "x"}]))

    assert response.status_code == 400
    assert response.json()["_embedded"]["errors"] == [
        {"path": "user", "message": "`user` parameter is required", "source": "JSON"}
    ]
    assert freescout.conversations() == []


@pytest.mark.parametrize(
    ("headers", "params"),
    [({}, {}), ({"X-FreeScout-API-Key": "wrong"}, {}), ({}, {"api_key": "wrong"}),
     ({"X-FreeScout-API-Key": KEY}, {"api_key": "wrong"})],
    ids=["no-key", "wrong-header", "wrong-query", "wrong-query-wins-over-header"],
)
def test_missing_or_wrong_key_answers_401(
    freescout: FreeScoutStandIn, headers: dict[str, str], params: dict[str, str]
) -> None:
    response = httpx.get(f"{freescout.url}/api/conversations", headers=headers, params=params)

    assert response.status_code == 401
    assert response.json() == {"message": "Not Authorized"}


def test_key_is_accepted_as_api_key_query_parameter(freescout: FreeScoutStandIn) -> None:
    response = httpx.get(f"{freescout.url}/api/mailboxes", params={"api_key": KEY})

    assert response.status_code == 200


def test_unknown_conversation_answers_404_with_empty_errors(api: httpx.Client) -> None:
    for response in (
        api.get("/api/conversations/404"),
        api.post("/api/conversations/404/threads", json={"type": "note", "text": "x", "user": USER_ID}),
        api.put("/api/conversations/404/tags", json={"tags": ["a"]}),
    ):
        assert response.status_code == 404
        assert response.json() == {"message": "Not Found", "_embedded": {"errors": []}}


def test_wrong_method_answers_405(api: httpx.Client) -> None:
    response = api.delete("/api/mailboxes")

    assert response.status_code == 405
    assert response.json() == "Method Not Allowed"


def test_added_thread_answers_201_and_get_embeds_threads_newest_first(api: httpx.Client) -> None:
    conversation_id = create(api)

    response = api.post(f"/api/conversations/{conversation_id}/threads",
                        json={"type": "note", "text": "Consumers cleaned up", "user": USER_ID})
    fetched = api.get(f"/api/conversations/{conversation_id}").json()

    assert response.status_code == 201
    assert response.headers["Resource-ID"] == str(response.json()["id"])
    assert [t["body"] for t in fetched["_embedded"]["threads"]] == [
        "Consumers cleaned up", "Token revoked by @alice via Slack"
    ]
    assert fetched["threadsCount"] == 2


def test_user_reply_without_status_makes_the_conversation_pending(api: httpx.Client) -> None:
    conversation_id = create(api)

    api.post(f"/api/conversations/{conversation_id}/threads",
             json={"type": "message", "text": "On it", "user": USER_ID})

    assert api.get(f"/api/conversations/{conversation_id}").json()["status"] == "pending"


def test_thread_note_without_user_answers_400_naming_user(api: httpx.Client) -> None:
    conversation_id = create(api)

    response = api.post(f"/api/conversations/{conversation_id}/threads", json={"type": "note", "text": "x"})

    assert response.status_code == 400
    assert response.json()["_embedded"]["errors"][0]["path"] == "user"


def test_tags_put_replaces_the_full_set(api: httpx.Client, freescout: FreeScoutStandIn) -> None:
    conversation_id = create(api)

    first = api.put(f"/api/conversations/{conversation_id}/tags", json={"tags": ["cftoken", "Revoke "]})
    second = api.put(f"/api/conversations/{conversation_id}/tags", json={"tags": ["revoke", "req-42"]})

    assert (first.status_code, second.status_code) == (204, 204)
    assert second.content == b""
    tags = freescout.conversation(conversation_id)["_embedded"]["tags"]
    assert [tag["name"] for tag in tags] == ["revoke", "req-42"]


def test_get_embeds_tags_only_when_asked(api: httpx.Client) -> None:
    conversation_id = create(api)
    api.put(f"/api/conversations/{conversation_id}/tags", json={"tags": ["cftoken"]})

    plain = api.get(f"/api/conversations/{conversation_id}").json()
    tagged = api.get(f"/api/conversations/{conversation_id}", params={"embed": "tags"}).json()

    assert "tags" not in plain["_embedded"]
    assert [t["name"] for t in tagged["_embedded"]["tags"]] == ["cftoken"]
    assert tagged["_embedded"]["threads"] == []


def test_tags_put_without_the_tags_module_answers_400(api: httpx.Client, freescout: FreeScoutStandIn) -> None:
    freescout.tags_module = False
    conversation_id = create(api)

    response = api.put(f"/api/conversations/{conversation_id}/tags", json={"tags": ["cftoken"]})

    assert response.status_code == 400
    assert response.json() == {"message": "Tags module is not installed or not activated", "_embedded": {"errors": []}}


def test_list_filters_by_mailbox_status_customer_email_and_tag(api: httpx.Client) -> None:
    incident = create(api)
    create(api, mailboxId=2)
    closed = create(api, status="closed")
    other_customer = create(api, customer={"email": "someone@example.org"})
    api.put(f"/api/conversations/{incident}/tags", json={"tags": ["req-1"]})

    def ids(**params: Any) -> list[int]:
        return [c["id"] for c in api.get("/api/conversations", params=params).json()["_embedded"]["conversations"]]

    assert ids(mailboxId=1) == [other_customer, closed, incident]
    assert ids(mailboxId=1, status="closed") == [closed]
    assert ids(mailboxId=1, customerEmail="someone@example.org") == [other_customer]
    assert ids(mailboxId=1, tag="REQ-1") == [incident]
    assert ids(tag="unknown-tag") == []


def test_list_leaves_threads_out_unless_embedded(api: httpx.Client) -> None:
    create(api)

    plain = api.get("/api/conversations").json()["_embedded"]["conversations"][0]
    embedded = api.get("/api/conversations", params={"embed": "threads"}).json()["_embedded"]["conversations"][0]

    assert plain["_embedded"]["threads"] == []
    assert len(embedded["_embedded"]["threads"]) == 1


def test_list_pages_with_page_size_and_reports_the_page_block(api: httpx.Client) -> None:
    created = [create(api, subject=f"incident {n}") for n in range(5)]

    pages = [api.get("/api/conversations", params={"pageSize": 2, "page": n}).json() for n in (1, 2, 3, 4)]

    seen = [c["id"] for page in pages for c in page["_embedded"]["conversations"]]
    assert seen == list(reversed(created))
    assert pages[0]["page"] == {"size": 2, "totalElements": 5, "totalPages": 3, "number": 1}
    assert pages[3]["_embedded"]["conversations"] == []
    assert pages[3]["page"]["number"] == 4


def test_list_page_size_defaults_to_50(api: httpx.Client) -> None:
    create(api)

    page = api.get("/api/conversations").json()["page"]

    assert page == {"size": 50, "totalElements": 1, "totalPages": 1, "number": 1}


def test_list_ignores_the_tag_filter_without_the_tags_module(api: httpx.Client, freescout: FreeScoutStandIn) -> None:
    freescout.tags_module = False
    create(api)

    response = api.get("/api/conversations", params={"tag": "anything"})

    assert len(response.json()["_embedded"]["conversations"]) == 1


def test_mailboxes_and_users_list_what_was_seeded(api: httpx.Client) -> None:
    mailboxes = api.get("/api/mailboxes").json()
    users = api.get("/api/users").json()

    assert [(m["id"], m["name"], m["email"]) for m in mailboxes["_embedded"]["mailboxes"]] == [
        (1, "Incidents", "incidents@example.org"), (2, "Support", "support@example.org")
    ]
    assert [(u["id"], u["firstName"], u["email"]) for u in users["_embedded"]["users"]] == [
        (USER_ID, "Sam", "sam@example.org")
    ]
    assert mailboxes["page"]["totalElements"] == 2


def test_timestamps_come_from_the_stand_in_clock() -> None:
    clock = Clock()
    clock.advance(timedelta(days=400))
    before = clock.now().replace(microsecond=0)

    with FreeScoutStandIn(clock, api_key=KEY) as standin:
        standin.add_mailbox(1, "Incidents", "incidents@example.org")
        standin.add_user(USER_ID, "Sam", "Agent", "sam@example.org")
        entity = httpx.post(f"{standin.url}/api/conversations", json=conversation_body(),
                            headers={"X-FreeScout-API-Key": KEY}).json()

    created = datetime.strptime(entity["createdAt"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before <= created <= clock.now()


def test_rate_limit_fault_answers_429_with_retry_after(api: httpx.Client, freescout: FreeScoutStandIn) -> None:
    freescout.faults.fail_next("/api/conversations", 1, "429", retry_after=7)

    response = api.get("/api/conversations")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json() == {"message": "Too Many Attempts."}


def test_server_error_fault_answers_5xx_then_recovers(api: httpx.Client, freescout: FreeScoutStandIn) -> None:
    freescout.faults.fail_next("/api/conversations", 1, "503")

    failed = api.get("/api/conversations")
    recovered = api.get("/api/conversations")

    assert failed.status_code == 503
    assert failed.json() == {"message": "Service Unavailable"}
    assert recovered.status_code == 200


def test_list_filters_subject_with_sql_like_semantics(api: httpx.Client, freescout: FreeScoutStandIn) -> None:
    for subject in ("Token revoked: CF_DNS", "token REVOKED: cfxdns", "Refund", "100% done"):
        create(api, subject=subject)

    def subjects(value: str) -> list[str]:
        found = api.get("/api/conversations", params={"subject": value}).json()["_embedded"]["conversations"]
        return sorted(c["subject"] for c in found)

    assert subjects("revoked: CF_DNS") == ["Token revoked: CF_DNS", "token REVOKED: cfxdns"]
    assert subjects("revoked: CF\\_DNS") == ["Token revoked: CF_DNS"]
    assert subjects("Ref%d") == ["Refund"]
    assert subjects("nothing") == []


def test_a_deleted_conversation_is_still_listed_with_state_deleted(api: httpx.Client, freescout: FreeScoutStandIn) -> None:
    conversation_id = create(api, subject="gone")
    freescout.delete_conversation(conversation_id)

    (listed,) = api.get("/api/conversations").json()["_embedded"]["conversations"]

    assert (listed["id"], listed["state"]) == (conversation_id, "deleted")


@pytest.mark.parametrize("state", ["published", "2", "draft,published"])
def test_the_state_filter_leaves_deleted_conversations_out(api: httpx.Client, freescout: FreeScoutStandIn,
                                                           state: str) -> None:
    kept, gone = create(api, subject="kept"), create(api, subject="gone")
    freescout.delete_conversation(gone)

    listed = api.get("/api/conversations", params={"state": state}).json()["_embedded"]["conversations"]
    deleted = api.get("/api/conversations", params={"state": "deleted"}).json()["_embedded"]["conversations"]

    assert [c["id"] for c in listed] == [kept]
    assert [c["id"] for c in deleted] == [gone]


def test_a_note_by_a_user_that_does_not_exist_is_refused_and_no_conversation_is_left(
    api: httpx.Client, freescout: FreeScoutStandIn
) -> None:
    response = api.post("/api/conversations", json=conversation_body(threads=[{"type": "note", "text": "x", "user": 999}]))

    assert response.status_code == 400
    assert response.json() == {"message": "Error occurred", "_embedded": {"errors": [
        {"path": "user", "message": "`user` parameter is required", "source": "JSON"}]}}
    assert freescout.conversations() == []
