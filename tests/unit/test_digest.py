"""The digest's pure decisions: which problems and fixes are new against the alert ledger, and the digest's key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.health import Health, Problem
from domain.inventory import load_inventory
from domain.settings import DEFAULT_INVENTORY
from workers.scan.digest import digest_key
from workers.scan.health_watch import LedgerWrite, alert_changes, fingerprint

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SHIPPED = load_inventory(DEFAULT_INVENTORY)
WAF, DNS = SHIPPED.find("CF_WAF_EDIT_RAXX_APP"), SHIPPED.find("CF_DNS_EDIT_GETRAXX_COM")
DISABLED = Problem(kind="disabled", severity="failing", detail="disabled at Cloudflare", next_step="verify it",
                   seen_at=NOW, seen_by="scan")


def health(state: str, *problems: Problem) -> Health:
    return Health(checked_at=NOW, source="scan", state=state, problems=problems)


def test_a_problem_is_new_until_its_fingerprint_is_in_the_ledger_and_a_gone_one_is_a_fix():
    healths = {WAF.name: health("failing", DISABLED), DNS.name: health("healthy")}

    alerts, fixed, writes = alert_changes([WAF, DNS], [{}, {"zones": "f" * 16}], healths)
    again, _, unchanged = alert_changes([WAF], [{"disabled": fingerprint(DISABLED)}], healths)

    assert [(a.token.name, a.problem.kind) for a in alerts] == [(WAF.name, "disabled")]
    assert [(f.token.name, f.kind) for f in fixed] == [(DNS.name, "zones")]
    assert writes == [LedgerWrite(WAF.name, "disabled", fingerprint(DISABLED)), LedgerWrite(DNS.name, "zones", None)]
    assert again == [] and unchanged == []


def test_a_revoked_token_forgets_its_problems_without_announcing_fixes():
    alerts, fixed, writes = alert_changes([WAF], [{"disabled": "f" * 16}], {WAF.name: health("revoked")})

    assert alerts == [] and fixed == []
    assert writes == [LedgerWrite(WAF.name, "disabled", None)]


def test_the_digest_key_is_the_same_for_the_same_scan_and_claims_and_new_for_another_scan_or_claim():
    writes = [LedgerWrite(WAF.name, "disabled", "a" * 16)]

    key = digest_key(NOW, ["cftoken:warned:X:1:7d"], writes)

    assert key.startswith("digest:") and key == digest_key(NOW, ["cftoken:warned:X:1:7d"], list(writes))
    assert key != digest_key(NOW + timedelta(microseconds=1), ["cftoken:warned:X:1:7d"], writes)
    assert key != digest_key(NOW, ["cftoken:warned:X:1:3d"], writes)
    assert key != digest_key(NOW, ["cftoken:warned:X:1:7d"], [LedgerWrite(WAF.name, "disabled", None)])
