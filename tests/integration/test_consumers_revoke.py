"""A revoke's REVOKED placeholder is followed to every secret sync of the vault folder, and its result and incident
list each consumer's state: placeholder pushed, failed with Infisical's words, or to be cleaned by hand by whom
(real `rq worker` process, the stand-ins)."""

from __future__ import annotations

import pytest

from domain.queueing import enqueue_request, job_queue
from standins.world import CHANNEL
from tests.integration.scenarios import approved_request
from tests.integration.test_crash_resume import DNS, start_worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_a_revoke_pushes_the_placeholder_to_every_sync_and_its_incident_lists_each_consumers_state(
        world, redis_conn, redis_url):
    syncs = world.add_syncs()
    world.infisical.syncs.auto_sync_delay, world.infisical.syncs.retry_base, world.infisical.syncs.attempts = \
        0.5, 0.1, 2
    world.infisical.syncs.break_destination(syncs["cf-worker-edge"]["id"], "Request failed with status code 403")
    request_id = approved_request(redis_conn, world, "revoke", DNS, reason="leaked")
    assert enqueue_request(job_queue(redis_conn), request_id)

    output, _ = start_worker(world, redis_url).communicate(timeout=120)

    placeholder = world.vault_value(DNS)
    assert placeholder.startswith("REVOKED ")
    assert world.infisical.syncs.delivered(syncs["gh-deploy"]["id"])[DNS] == placeholder
    [conversation] = world.freescout.conversations()
    note = conversation["_embedded"]["threads"][0]["body"]
    assert "Consumer state after the placeholder:" in note, output
    assert "GitHub raxx/site (sync gh-deploy): placeholder pushed at " in note
    assert "Cloudflare Workers edge (sync cf-worker-edge): FAILED, Infisical says: Request failed with status code " \
           "403" in note
    assert "Terraform / ad-hoc CLI: to be cleaned by hand by its owner (none named in the inventory)" in note
    texts = [m.text for m in world.slack.messages(CHANNEL)]
    assert any(t.startswith(f"✅ Revoked {DNS}") and "placeholder pushed" in t for t in texts), texts
    assert sum("the sync failed" in t and "still holds the deleted token value" in t for t in texts) == 1
