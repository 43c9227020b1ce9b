"""Which audit-log entries are changes to inventory tokens made outside the bot, and how they read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.cloudflare_audit import AuditEntry
from domain.token_activity import cause, change_of, outside_alert, outside_changes

T = datetime(2026, 12, 6, 10, 42, tzinfo=UTC)
DNS_ID, MGMT_ID = "6f4a364c8edccc31e365efdd12ec5adf", "a" * 32
NAMES = {DNS_ID: "CF_DNS"}


def write(method: str, uri: str, *, actor: str | None = None, status: int = 200, name: str | None = None,
          email: str | None = "alice@example.com") -> AuditEntry:
    return AuditEntry(id=f"{method}{uri}", time=T, method=method, uri=uri, status_code=status, actor_token_id=actor,
                      actor_context="api_token" if actor else "dash", actor_email=email, actor_ip="203.0.113.7",
                      name_sent=name, actor_token_name="CF_ACCESS_MGMT" if actor == MGMT_ID else None)


@pytest.mark.parametrize(("method", "uri", "kind"), [
    ("PUT", f"/user/tokens/{DNS_ID}/value", "roll"),
    ("PUT", f"/user/tokens/{DNS_ID}", "update"),
    ("DELETE", f"/user/tokens/{DNS_ID}", "delete"),
    ("PUT", f"/accounts/{'b' * 32}/tokens/{DNS_ID}/value", "roll"),
])
def test_writes_to_an_inventory_token_are_told_apart_by_method_and_uri(method, uri, kind):
    change = change_of(write(method, uri), NAMES, ["CF_DNS"])

    assert change is not None and (change.token, change.kind) == ("CF_DNS", kind)


def test_a_create_counts_only_under_an_inventory_name_and_failures_and_other_tokens_do_not_count():
    assert change_of(write("POST", "/user/tokens", name="CF_DNS"), NAMES, ["CF_DNS"]).kind == "create"
    assert change_of(write("POST", "/user/tokens", name="SOMETHING_ELSE"), NAMES, ["CF_DNS"]) is None
    assert change_of(write("PUT", f"/user/tokens/{DNS_ID}/value", status=403), NAMES, ["CF_DNS"]) is None
    assert change_of(write("PUT", f"/user/tokens/{'c' * 32}/value"), NAMES, ["CF_DNS"]) is None
    assert change_of(write("PATCH", f"/zones/{DNS_ID}/dns_records/x"), NAMES, ["CF_DNS"]) is None


def test_the_bots_own_management_token_is_not_outside_and_the_alert_names_who_where_and_the_fix():
    entries = [write("PUT", f"/user/tokens/{DNS_ID}/value", actor=MGMT_ID),
               write("PUT", f"/user/tokens/{DNS_ID}/value", email="<!channel>")]

    [change] = outside_changes(entries, NAMES, ["CF_DNS"], {MGMT_ID})

    alert = outside_alert(change)
    assert "CF_DNS was rolled at Cloudflare by &lt;!channel&gt; from `203.0.113.7`" in alert
    assert "`/cftoken roll CF_DNS` puts a working value in the vault" in alert
    assert cause(change, "(e.g.)").startswith(": CF_DNS was rolled") and cause(None, "(e.g.)") == " (e.g.)"
