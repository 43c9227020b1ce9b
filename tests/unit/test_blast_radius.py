"""The blast radius summary (pure): changes by action and resource, distinct IPs with first and last time, and one
line when the log could not be read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.blast_radius import incident_pages, plain_text, slack_lines, summarise, unavailable
from domain.cloudflare_audit import AuditEntry, parse_entry

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def entry(n: int, *, ip: str, zone: str = "getraxx.com", kind: str = "dns.record", action: str = "update",
          hours: int = 0) -> AuditEntry:
    return AuditEntry(id=f"e{n}", time=NOW - timedelta(hours=hours), action=action, actor_ip=ip,
                      actor_token_name="CF_DNS", resource_type=kind, zone_name=zone, method="PATCH",
                      uri=f"/zones/z/{n}", status_code=200)


def test_changes_are_counted_by_action_and_resource_and_ips_keep_their_first_and_last_time():
    entries = [entry(n, ip="198.51.100.7", hours=10 + n) for n in range(12)]
    entries.append(entry(99, ip="203.0.113.5", zone="raxx.app", kind="waf.rule", hours=1))

    radius = summarise(entries, token="CF_DNS", token_id="t", days=30, now=NOW, last_used_on=NOW)

    text = "\n".join(slack_lines(radius))
    assert "12 DNS record updates on getraxx.com, 1 WAF rule update on raxx.app" in text
    assert radius.first == NOW - timedelta(hours=21) and radius.last == NOW - timedelta(hours=1)
    [busy, once] = radius.ips
    assert (busy.address, busy.changes, busy.first, busy.last) == (
        "198.51.100.7", 12, NOW - timedelta(hours=21), NOW - timedelta(hours=10))
    assert (once.address, once.changes) == ("203.0.113.5", 1)
    assert "Distinct IP addresses (2)" in plain_text(radius) and "Last used (Cloudflare)" in plain_text(radius)


def test_an_unreadable_log_is_one_line_with_the_fix_and_text_from_cloudflare_is_escaped():
    radius = unavailable("CF_DNS", "the inventory names no audit_token", "Set audit_token.", days=30, now=NOW)
    hostile = summarise([entry(1, ip="<!channel>", zone="<https://evil|x>")], token="CF_DNS", token_id="t",
                        days=30, now=NOW, last_used_on=None)

    assert len(slack_lines(radius)) == 1 and "audit_token" in slack_lines(radius)[0]
    shown = "\n".join(slack_lines(hostile))
    assert "<!channel>" not in shown and "&lt;!channel&gt;" in shown and "<https://evil" not in shown


def test_no_changes_says_reads_are_not_recorded_and_the_incident_list_is_paged():
    quiet = summarise([], token="CF_DNS", token_id="t", days=30, now=NOW, last_used_on=None)
    busy = summarise([entry(n, ip="198.51.100.7") for n in range(120)], token="CF_DNS", token_id="t", days=30,
                     now=NOW, last_used_on=None)

    assert "no changes made with it (reads are not recorded)" in slack_lines(quiet)[0]
    pages = incident_pages(busy)
    assert len(pages) == 3 and pages[2].startswith("Audit log entries 101–120 of 120")


def test_an_entry_without_an_id_or_time_is_skipped_and_optional_parts_may_be_missing():
    assert parse_entry({"action": {"time": "2026-01-01T00:00:00Z"}}) is None
    assert parse_entry({"id": "x", "action": {"time": "yesterday"}}) is None
    bare = parse_entry({"id": "x", "action": {"time": "2026-01-01T00:00:00Z"}})
    assert bare is not None and bare.who == "unknown" and bare.succeeded
