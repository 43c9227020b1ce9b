"""GET /metrics on the real web process: off unless CFTOKEN_METRICS_TOKEN is set, then only with that bearer
token; Prometheus text with each token's health, expiry and last check, and the operation counters."""

from __future__ import annotations

from datetime import timedelta
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from prometheus_client.parser import text_string_to_metric_families

from domain.clock import utc_now
from domain.health import Health, Problem
from domain.metrics import count_audit, count_operation
from domain.status import record_status
from standins.slack import SlackStandIn, seed
from tests.integration.test_web_process import web_process

pytestmark = pytest.mark.integration

METRICS_TOKEN = "metrics-scrape-token-0123456789abcdef"


def scrape(url: str, token: str | None = None) -> tuple[int, str, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urlopen(Request(url + "/metrics", headers=headers), timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read().decode()
    except HTTPError as error:
        return error.code, "", error.read().decode()


@pytest.fixture(scope="module")
def slack():
    standin = seed(SlackStandIn()).start()
    yield standin
    standin.stop()


def test_metrics_are_off_unless_a_token_is_set(redis_url, slack):
    with web_process(redis_url, slack.url) as (url, _):
        assert scrape(url, METRICS_TOKEN)[0] == 404


def test_metrics_need_the_bearer_token_and_expose_health_expiry_checks_and_operations(redis_url, redis_conn, slack):
    now = utc_now()
    problem = Problem(kind="disabled", severity="failing", detail="disabled at Cloudflare", next_step="re-enable",
                      seen_at=now, seen_by="scan")
    record_status(redis_conn, "CF_WAF_EDIT_RAXX_APP", Health(
        checked_at=now, source="scan", state="failing", expires_on=now + timedelta(days=10), problems=(problem,),
        facts_at={"value": now - timedelta(hours=3)}))
    count_operation(redis_conn, "roll", "succeeded")
    count_operation(redis_conn, "roll", "succeeded")
    count_operation(redis_conn, "revoke", "failed")

    with web_process(redis_url, slack.url, CFTOKEN_METRICS_TOKEN=METRICS_TOKEN) as (url, _):
        refused, wrong = scrape(url), scrape(url, "not-the-token")
        status, kind, text = scrape(url, METRICS_TOKEN)

    assert refused[0] == wrong[0] == 401 and "cftoken" not in refused[2] + wrong[2]
    assert status == 200 and kind.startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    waf = ("token", "CF_WAF_EDIT_RAXX_APP")
    assert samples[("cftoken_token_health", (("state", "failing"), waf))] == 1
    assert samples[("cftoken_token_health", (("state", "healthy"), waf))] == 0
    assert samples[("cftoken_token_health", (("state", "unknown"), ("token", "CF_PAGES_READ")))] == 1
    assert 9.9 * 86400 < samples[("cftoken_token_expiry_seconds", (waf,))] <= 10 * 86400
    assert samples[("cftoken_token_last_check_timestamp_seconds", (("source", "scan"), waf))] == now.timestamp()
    assert samples[("cftoken_token_value_verified_timestamp_seconds", (waf,))] == (
        now - timedelta(hours=3)).timestamp()
    assert samples[("cftoken_token_problems", (waf,))] == 1
    assert samples[("cftoken_operations_total", (("action", "roll"), ("outcome", "succeeded")))] == 2
    assert samples[("cftoken_operations_total", (("action", "revoke"), ("outcome", "failed")))] == 1


def test_metrics_count_audit_log_reads_and_changes_made_outside_the_bot(redis_url, redis_conn, slack):
    count_audit(redis_conn, "audit_reads", "ok", 3)
    count_audit(redis_conn, "audit_reads", "failed")
    count_audit(redis_conn, "outside_changes", "cloudflare")
    count_audit(redis_conn, "outside_changes", "vault", 2)

    with web_process(redis_url, slack.url, CFTOKEN_METRICS_TOKEN=METRICS_TOKEN) as (url, _):
        status, _, text = scrape(url, METRICS_TOKEN)

    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(text) for s in family.samples}
    assert status == 200
    assert samples[("cftoken_audit_log_reads_total", (("outcome", "ok"),))] == 3
    assert samples[("cftoken_audit_log_reads_total", (("outcome", "failed"),))] == 1
    assert samples[("cftoken_outside_changes_total", (("source", "cloudflare"),))] == 1
    assert samples[("cftoken_outside_changes_total", (("source", "vault"),))] == 2
