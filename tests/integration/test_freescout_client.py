"""The FreeScout client against the FreeScout stand-in over real HTTP: ids, tags, lookups, retries and errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from domain.errors import RateLimited, ServiceUnavailable, TicketError
from standins.freescout import FreeScoutStandIn
from workers.clients.freescout import FreeScoutClient, Ticket
from workers.clients.http import RetryPolicy

pytestmark = pytest.mark.integration

KEY = "fs-secret-key-5f0c2a"
USER_ID = 3
SUBJECT = "Cloudflare token revoked: dns-edit"


@pytest.fixture(scope="module")
def server() -> Iterator[FreeScoutStandIn]:
    """One server per module; `freescout` resets it for every test."""
    standin = FreeScoutStandIn(api_key=KEY)
    standin.add_mailbox(1, "Incidents", "incidents@example.org")
    standin.add_mailbox(2, "Support", "support@example.org")
    standin.add_user(USER_ID, "cftoken", "Bot", "bot@example.org")
    with standin:
        yield standin


@pytest.fixture
def freescout(server: FreeScoutStandIn) -> FreeScoutStandIn:
    server.reset()
    server.tags_module = True
    return server


def make_client(standin: FreeScoutStandIn, *, key: str = KEY, mailbox_id: int = 1,
                retry: RetryPolicy | None = None) -> FreeScoutClient:
    return FreeScoutClient(base_url=standin.url, api_key=SecretStr(key), mailbox_id=mailbox_id, user_id=USER_ID,
                           retry=retry or RetryPolicy.instant())


@pytest.fixture
def client(freescout: FreeScoutStandIn) -> Iterator[FreeScoutClient]:
    with make_client(freescout) as client:
        yield client


def test_create_incident_reads_the_id_from_resource_id_and_builds_the_url(
    client: FreeScoutClient, freescout: FreeScoutStandIn
) -> None:
    ticket = client.create_incident(subject=SUBJECT, body="Token 9a7 revoked by @alice", tags=["cftoken", "req-1"])

    [stored] = freescout.conversations()
    url = f"{freescout.url}/conversation/{stored['id']}"
    assert ticket == Ticket(id=stored["id"], number=stored["number"], url=url, subject=SUBJECT)
    assert ticket.number != ticket.id


def test_create_incident_opens_an_active_conversation_with_one_note_by_the_bot_user(
    client: FreeScoutClient, freescout: FreeScoutStandIn
) -> None:
    ticket = client.create_incident(subject=SUBJECT, body="Token 9a7 revoked by @alice", tags=["cftoken", "req-1"])

    stored = freescout.conversation(ticket.id)
    assert stored["status"] == "active"
    assert stored["customer"]["email"] == "sre-bot@cftoken.invalid"
    assert [(t["type"], t["body"], t["createdBy"]["id"]) for t in stored["_embedded"]["threads"]] == [
        ("note", "Token 9a7 revoked by @alice", USER_ID)
    ]
    assert [tag["name"] for tag in stored["_embedded"]["tags"]] == ["cftoken", "req-1"]


def test_create_incident_in_an_unknown_mailbox_raises_ticket_error_naming_the_field(
    freescout: FreeScoutStandIn,
) -> None:
    with make_client(freescout, mailbox_id=99) as client, pytest.raises(TicketError) as caught:
        client.create_incident(subject=SUBJECT, body="x", tags=[])

    assert "mailboxId" in str(caught.value)


def test_a_bad_api_key_raises_ticket_error_pointing_at_the_setting(freescout: FreeScoutStandIn) -> None:
    with make_client(freescout, key="not-the-key") as client, pytest.raises(TicketError) as caught:
        client.create_incident(subject=SUBJECT, body="x", tags=[])

    assert "FREESCOUT_API_KEY" in str(caught.value)
    assert "not-the-key" not in str(caught.value)
    assert freescout.conversations() == []


def test_create_incident_is_not_retried_on_a_server_error(client: FreeScoutClient, freescout: FreeScoutStandIn) -> None:
    freescout.faults.fail_next("/api/conversations", 1, "503", method="POST")

    with pytest.raises(ServiceUnavailable):
        client.create_incident(subject=SUBJECT, body="x", tags=[])

    assert freescout.count("POST", "/api/conversations") == 1
    assert freescout.conversations() == []


def test_create_incident_is_not_retried_after_a_dropped_connection(
    client: FreeScoutClient, freescout: FreeScoutStandIn
) -> None:
    freescout.faults.fail_next("/api/conversations", 1, "drop", method="POST")

    with pytest.raises(ServiceUnavailable):
        client.create_incident(subject=SUBJECT, body="x", tags=[])

    assert freescout.count("POST", "/api/conversations") == 1


def test_tags_are_retried_through_a_server_error_burst(client: FreeScoutClient, freescout: FreeScoutStandIn) -> None:
    freescout.faults.fail_next("/api/conversations/1/tags", 2, "500")

    ticket = client.create_incident(subject=SUBJECT, body="x", tags=["req-1"])

    assert freescout.count("PUT", "/api/conversations/1/tags") == 3
    assert [t["name"] for t in freescout.conversation(ticket.id)["_embedded"]["tags"]] == ["req-1"]


def test_set_tags_replaces_the_whole_set(client: FreeScoutClient, freescout: FreeScoutStandIn) -> None:
    ticket = client.create_incident(subject=SUBJECT, body="x", tags=["cftoken", "req-1"])

    client.set_tags(ticket.id, ["cftoken", "resolved"])

    assert [t["name"] for t in freescout.conversation(ticket.id)["_embedded"]["tags"]] == ["cftoken", "resolved"]


def test_an_absent_tags_module_is_logged_and_the_ticket_still_returned(
    client: FreeScoutClient, freescout: FreeScoutStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    freescout.tags_module = False

    with caplog.at_level(logging.WARNING, logger="workers.clients.freescout"):
        ticket = client.create_incident(subject=SUBJECT, body="x", tags=["req-1"])

    assert freescout.conversation(ticket.id)["_embedded"]["tags"] == []
    assert "Tags module" in caplog.text
    assert freescout.count("POST", "/api/conversations") == 1


def test_add_note_appends_a_note_by_the_bot_user(client: FreeScoutClient, freescout: FreeScoutStandIn) -> None:
    ticket = client.create_incident(subject=SUBJECT, body="first", tags=[])

    client.add_note(ticket.id, "Consumers cleaned up")

    threads = freescout.conversation(ticket.id)["_embedded"]["threads"]
    assert [(t["type"], t["body"], t["createdBy"]["id"]) for t in threads] == [
        ("note", "Consumers cleaned up", USER_ID), ("note", "first", USER_ID)
    ]


def test_add_note_is_retried_through_server_errors_and_a_rate_limit(
    client: FreeScoutClient, freescout: FreeScoutStandIn
) -> None:
    ticket = client.create_incident(subject=SUBJECT, body="first", tags=[])
    freescout.faults.fail_next(f"/api/conversations/{ticket.id}/threads", 2, "502")
    freescout.faults.fail_next(f"/api/conversations/{ticket.id}/threads", 1, "429", retry_after=1)

    client.add_note(ticket.id, "second")

    assert freescout.count("POST", f"/api/conversations/{ticket.id}/threads") == 4
    assert freescout.conversation(ticket.id)["threadsCount"] == 2


def test_add_note_to_an_unknown_conversation_raises_ticket_error(client: FreeScoutClient) -> None:
    with pytest.raises(TicketError, match="not found"):
        client.add_note(404, "x")


def test_find_by_subject_asks_the_server_to_filter_by_subject(client: FreeScoutClient, freescout: FreeScoutStandIn) -> None:
    oldest = client.create_incident(subject="Cloudflare token revoked: zone-read", body="x", tags=[])
    for n in range(150):
        client.create_incident(subject=f"other incident {n}", body="x", tags=[])
    requests_before = freescout.count("GET", "/api/conversations")

    found = client.find_by_subject("Cloudflare token revoked: zone-read")

    assert found == oldest
    assert freescout.count("GET", "/api/conversations") - requests_before == 1
    assert client.find_by_subject("Cloudflare token revoked: nothing") is None


def test_find_by_subject_takes_only_the_exact_subject_not_a_like_match(
    client: FreeScoutClient, freescout: FreeScoutStandIn
) -> None:
    wanted = client.create_incident(subject="revoked CF_DNS_EDIT [req-1]", body="x", tags=[])
    client.create_incident(subject="revoked CF_DNS_EDIT [req-1] (again)", body="x", tags=[])  # newer, contains it
    client.create_incident(subject="revoked CFxDNSxEDIT [req-1]", body="x", tags=[])  # `_` matches any character

    assert client.find_by_subject("revoked CF_DNS_EDIT [req-1]") == wanted


def test_find_by_subject_ignores_a_deleted_conversation(client: FreeScoutClient, freescout: FreeScoutStandIn) -> None:
    kept = client.create_incident(subject=SUBJECT, body="x", tags=[])
    deleted = client.create_incident(subject=SUBJECT, body="x", tags=[])
    freescout.delete_conversation(deleted.id)

    assert client.find_by_subject(SUBJECT) == kept
    freescout.delete_conversation(kept.id)
    assert client.find_by_subject(SUBJECT) is None


def test_find_by_subject_asks_the_server_for_published_conversations_only(
        client: FreeScoutClient, freescout: FreeScoutStandIn) -> None:
    kept = client.create_incident(subject=SUBJECT, body="x", tags=[])
    for _ in range(150):  # an agent deleted a page and a half of retried tickets since
        freescout.delete_conversation(client.create_incident(subject=SUBJECT, body="x", tags=[]).id)
    before = freescout.count("GET", "/api/conversations")

    assert client.find_by_subject(SUBJECT) == kept
    assert freescout.count("GET", "/api/conversations") - before == 1  # not two pages of deleted ones first


def test_mailboxes_and_users_list_what_the_key_sees(client: FreeScoutClient) -> None:
    assert 1 in client.mailboxes()
    assert client.users() == {USER_ID: "bot@example.org"}


def test_find_is_retried_through_a_server_error_burst_and_honours_retry_after(freescout: FreeScoutStandIn) -> None:
    sleeps: list[float] = []
    retry = RetryPolicy(attempts=4, sleep=sleeps.append)
    with make_client(freescout, retry=retry) as client:
        ticket = client.create_incident(subject=SUBJECT, body="x", tags=["req-1"])
        freescout.faults.fail_next("/api/conversations", 2, "500", method="GET")
        freescout.faults.fail_next("/api/conversations", 1, "429", retry_after=3, method="GET")

        found = client.find_by_subject(SUBJECT)

    assert found == ticket
    assert len(sleeps) == 3
    assert sleeps[-1] >= 3


def test_a_rate_limit_outlasting_the_attempts_raises_rate_limited(
    client: FreeScoutClient, freescout: FreeScoutStandIn
) -> None:
    freescout.faults.fail_next("/api/conversations", 4, "429", retry_after=2, method="GET")

    with pytest.raises(RateLimited) as caught:
        client.find_by_subject(SUBJECT)

    assert caught.value.retry_after == 2


def test_dropped_connections_map_to_service_unavailable(client: FreeScoutClient, freescout: FreeScoutStandIn) -> None:
    freescout.faults.fail_next("/api/conversations", 4, "drop", method="GET")

    with pytest.raises(ServiceUnavailable):
        client.find_by_subject(SUBJECT)

    assert freescout.count("GET", "/api/conversations") == 4


def test_the_api_key_never_appears_in_logs_errors_or_repr(
    freescout: FreeScoutStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    freescout.faults.fail_next("/api/conversations", 2, "503", method="GET")
    freescout.faults.fail_next("/api/conversations", 1, "drop", method="POST")
    errors: list[Exception] = []

    with caplog.at_level(logging.DEBUG), make_client(freescout) as client:
        client.find_by_subject(SUBJECT)
        for attempt in (lambda: client.create_incident(subject=SUBJECT, body="x", tags=[]),
                        lambda: client.add_note(999, "x")):
            try:
                attempt()
            except (ServiceUnavailable, TicketError) as exc:
                errors.append(exc)
        shown = repr(client)

    assert len(errors) == 2
    assert "HTTP Request:" in caplog.text and "503" in caplog.text  # httpx's own request logs were captured
    assert KEY not in caplog.text
    assert all(KEY not in str(error) and KEY not in repr(error) for error in errors)
    assert KEY not in shown
