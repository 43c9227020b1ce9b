"""The leak scan over the audit-log and vault-event paths: a revoke's blast radius (its record, result and incident
notes), the scan's outside-change alert, verify's audit lines and their history record, and a hand-pasted value's
check leave no token value in Redis, the channel, the incident or the logs."""

from __future__ import annotations

import pytest

from domain import blast_records, token_activity
from standins.world import CHANNEL
from tests.conftest import make_settings
from tests.integration.audit_world import audit_world, seed_activity
from tests.integration.scenarios import approved_request, deliver, leaks, redis_dump, token_values
from workers.audit import vault_events
from workers.clients.http import RetryPolicy
from workers.operations.runner import run_operation
from workers.scan.scan import scan
from workers.services import build_services
from workers.verify.verification import verify_and_report

pytestmark = pytest.mark.integration
DNS, WAF, PAGES = "CF_DNS_EDIT_GETRAXX_COM", "CF_WAF_EDIT_RAXX_APP", "CF_PAGES_READ"


def test_the_audit_and_vault_event_paths_leave_no_token_value_anywhere(tmp_path, redis_conn, redis_url, caplog):
    caplog.set_level("DEBUG")
    with audit_world(tmp_path) as (world, inventory):
        settings = make_settings(**world.settings_values(redis_url=redis_url), cftoken_inventory=str(inventory))
        services = build_services(settings, clock=world.clock.now, retry=RetryPolicy.instant())
        try:
            seed_activity(world, DNS)
            scan(services)  # the values the bot has seen, and the audit log's watermark
            world.roll_in_dashboard(WAF)
            world.paste_by_hand(PAGES)
            request_id = approved_request(redis_conn, world, "revoke", DNS, reason="leaked")

            run_operation(services, request_id)
            scan(services)
            verify_and_report(services, WAF)
            told = vault_events.vault_changed(services, world.environment, world.vault_path)
            deliver(services)

            pasted = {world.vault()[token.name] for token in world.inventory.tokens}  # what sits in the vault now
            values = token_values(world) | {value for value in pasted if not value.startswith("REVOKED")}
            transcript = world.slack.channel_transcript(CHANNEL)
            blast = blast_records.load(redis_conn, request_id, now=world.clock.now())
            activity = token_activity.load_activity(redis_conn, WAF)
        finally:
            services.close()

    assert blast is not None and blast.total == 13 and activity is not None and activity.made_to
    assert told == [PAGES] and "Changed outside the bot" in transcript and "Audit log entries" in str(
        world.freescout.conversations())
    assert leaks(redis_dump(redis_conn), values) == []
    assert leaks(transcript, values) == []
    assert leaks(str(world.freescout.conversations()), values) == []
    assert leaks(blast.model_dump_json() + activity.model_dump_json(), values) == []
    assert leaks(caplog.text, values) == []
