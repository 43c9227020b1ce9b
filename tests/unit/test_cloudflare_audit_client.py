"""The audit log reader: either cursor form, a bounded number of pages, both filter forms on the wire, and each
refusal in Cloudflare's words with the fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from domain.errors import AuditLogUnavailable
from workers.clients.cloudflare_audit import AuditLogClient
from workers.clients.http import RetryPolicy

NOW = datetime(2026, 12, 6, tzinfo=UTC)
ACCOUNT = "01a7362d577a6c3019a474fd6f485823"


def item(n: int) -> dict:
    return {"id": f"e{n}", "action": {"time": "2026-12-05T00:00:00Z", "type": "update"}, "actor": {}}


def client(handler) -> AuditLogClient:
    return AuditLogClient(base_url="https://cf.test/client/v4", token=SecretStr("v"), token_name="CF_AUDIT",
                          account_id=ACCOUNT, transport=httpx.MockTransport(handler), retry=RetryPolicy.instant())


@pytest.mark.parametrize("form", ["cursor", "cursors.after"])
def test_either_cursor_form_leads_to_the_next_page_and_an_empty_one_ends(form):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        page = int(request.url.params.get("cursor") or 0)
        more = page < 2
        info = {"count": "1"}
        if more:
            info.update({"cursor": str(page + 1)} if form == "cursor" else {"cursors": {"after": str(page + 1)}})
        elif form == "cursor":
            info["cursor"] = ""
        return httpx.Response(200, json={"success": True, "errors": [], "result": [item(page)], "result_info": info})

    with client(handler) as log:
        read = log.read(since=NOW - timedelta(days=30), before=NOW, filters={"actor_token_id.not": ["a", "b"]})

    assert [e.id for e in read.entries] == ["e0", "e1", "e2"] and read.complete
    assert seen[0].url.params.get_list("actor_token_id.not") == ["a", "b"]
    assert seen[0].url.params["since"] == "2026-11-06T00:00:00Z" and seen[0].url.params["before"] == \
        "2026-12-06T00:00:00Z"


def test_paging_is_bounded():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"success": True, "result": [item(0)],
                                         "result_info": {"cursors": {"after": "again"}}})

    with client(handler) as log:
        read = log.read(since=NOW - timedelta(days=1), before=NOW, max_pages=3)

    assert read.pages == 3 and not read.complete


def test_no_page_is_asked_for_once_the_time_budget_is_spent():
    now = [0.0]

    def handler(request: httpx.Request) -> httpx.Response:
        now[0] += 15.0  # a slow log: 15 s a page
        return httpx.Response(200, json={"success": True, "result": [item(0)],
                                         "result_info": {"cursors": {"after": "again"}}})

    log = AuditLogClient(base_url="https://cf.test/client/v4", token=SecretStr("v"), token_name="CF_AUDIT",
                         account_id=ACCOUNT, transport=httpx.MockTransport(handler), retry=RetryPolicy.instant(),
                         clock=lambda: now[0])
    with log:
        read = log.read(since=NOW - timedelta(days=1), before=NOW, budget_seconds=20)

    assert read.pages == 2 and not read.complete


@pytest.mark.parametrize(("status", "code", "says"), [
    (403, 9109, "needs Account Settings Read"), (401, 1000, "refused the audit token CF_AUDIT"),
    (404, 7003, "check the inventory's account_id")])
def test_a_refusal_says_why_in_cloudflares_words(status, code, says):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json={"success": False, "errors": [{"code": code, "message": "nope"}],
                                            "messages": [], "result": None})

    with client(handler) as log, pytest.raises(AuditLogUnavailable) as raised:
        log.read(since=NOW - timedelta(days=1), before=NOW)

    assert says in str(raised.value) and f"code {code}" in str(raised.value) and "nope" in str(raised.value)
