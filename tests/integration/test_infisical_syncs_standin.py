"""The Infisical stand-in's Secret Syncs answer and refuse as Infisical does (api-contracts.md 2.1–2.5): listed by
project only, got by UUID or name, triggered (pending at once, then running, then succeeded | failed, retries staying
running until the last attempt), 400 "already in progress" while a job runs, auto-sync after a write, remove."""

from __future__ import annotations

import httpx
import pytest

from standins.infisical import InfisicalStandIn
from standins.infisical_syncs import IN_PROGRESS
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

PROJECT, ENV, PATH = "proj-1", "prod", "/cf"
LOGIN = "/api/v1/auth/universal-auth/login"
BASE = "/api/v1/secret-syncs"


@pytest.fixture
def standin():
    server = InfisicalStandIn(token_ttl=600)
    server.add_identity("bot-id", "bot-secret", project_id=PROJECT)
    server.add_identity("reader-id", "reader-secret", project_id=PROJECT, can_write=False)
    server.add_folder(PROJECT, ENV, PATH)
    server.syncs.auto_sync_delay, server.syncs.run_seconds, server.syncs.retry_base = 0.05, 0.05, 0.05
    with server:
        yield server


def client(standin, who: str = "bot") -> httpx.Client:
    body = {"clientId": f"{who}-id", "clientSecret": f"{who}-secret"}
    token = httpx.post(standin.url + LOGIN, json=body).json()["accessToken"]
    return httpx.Client(base_url=standin.url, headers={"Authorization": f"Bearer {token}"})


def status_of(http: httpx.Client, sync: dict) -> dict:
    return http.get(f"{BASE}/{sync['destination']}/{sync['id']}").json()["secretSync"]


def test_listed_by_project_only_and_got_by_uuid_or_name(standin):
    gh = standin.syncs.add(PROJECT, ENV, PATH, name="gh", destination="github", auto_sync=False)
    standin.syncs.add(PROJECT, "dev", PATH, name="dev-worker", destination="cloudflare-workers")
    with client(standin) as http:
        missing = http.get(BASE)
        listed = http.get(BASE, params={"projectId": PROJECT, "environment": ENV}).json()["secretSyncs"]
        other = http.get(BASE, params={"projectId": "proj-2"})
        by_name = http.get(f"{BASE}/github/sync-name/gh", params={"projectId": PROJECT})
        no_name = http.get(f"{BASE}/github/sync-name/nope", params={"projectId": PROJECT})
        not_uuid = http.get(f"{BASE}/github/gh")
        absent = http.get(f"{BASE}/github/6d4b1c2e-0000-4000-8000-000000000001")
        wrong_destination = http.get(f"{BASE}/cloudflare-workers/{gh['id']}")
    assert missing.status_code == 422 and missing.json()["message"][0]["path"] == ["projectId"]
    assert sorted(s["name"] for s in listed) == ["dev-worker", "gh"]  # no environment filter: the client filters
    assert other.status_code == 403
    assert by_name.json()["secretSync"]["id"] == gh["id"]
    assert by_name.json()["secretSync"]["folder"]["path"] == PATH
    assert by_name.json()["secretSync"]["environment"]["slug"] == ENV
    assert by_name.json()["secretSync"]["syncStatus"] is None  # before its first run
    assert no_name.status_code == 404 and no_name.json()["message"] == 'Could not find GitHub Sync with name "nope"'
    assert not_uuid.status_code == 422
    assert absent.status_code == 404 and "Could not find GitHub Sync with ID" in absent.json()["message"]
    assert wrong_destination.status_code == 400
    assert wrong_destination.json()["message"].endswith("is not configured for Cloudflare Workers")


def test_a_trigger_answers_pending_then_the_job_delivers_and_a_second_trigger_while_running_is_refused(standin):
    standin.put_secret(PROJECT, ENV, PATH, "CF_TOKEN", "v1")
    sync = standin.syncs.add(PROJECT, ENV, PATH, name="gh", destination="github", auto_sync=False)
    standin.syncs.stall(sync["id"])
    with client(standin) as http:
        first = http.post(f"{BASE}/github/{sync['id']}/sync-secrets")
        wait_until(lambda: status_of(http, sync)["syncStatus"] == "running", what="the run to start")
        second = http.post(f"{BASE}/github/{sync['id']}/sync-secrets")
        standin.syncs.recover(sync["id"])
        done = wait_until(lambda: (s := status_of(http, sync))["syncStatus"] == "succeeded" and s, what="success")
    with client(standin, "reader") as other:
        reader = other.post(f"{BASE}/github/{sync['id']}/sync-secrets")
    assert first.status_code == 200 and first.json()["secretSync"]["syncStatus"] == "pending"
    assert second.status_code == 400 and second.json()["message"] == IN_PROGRESS
    assert done["lastSyncedAt"] and done["lastSyncMessage"] is None and done["lastSyncJobId"]
    assert standin.syncs.delivered(sync["id"]) == {"CF_TOKEN": "v1"}
    assert reader.status_code == 403


def test_a_failing_destination_stays_running_until_the_last_attempt_then_fails_with_its_message(standin):
    sync = standin.syncs.add(PROJECT, ENV, PATH, name="worker", destination="cloudflare-workers", auto_sync=False)
    standin.syncs.break_destination(sync["id"], "Request failed with status code 403")
    standin.syncs.retry_base = 0.3
    seen: list[str | None] = []
    with client(standin) as http:
        http.post(f"{BASE}/cloudflare-workers/{sync['id']}/sync-secrets")

        def failed() -> bool:
            current = status_of(http, sync)
            seen.append(current["syncStatus"])
            return current["syncStatus"] == "failed" and current

        final = wait_until(failed, what="the last attempt")
    between = seen[seen.index("running"):-1]
    assert between and set(between) == {"running"}  # never failed between attempts
    assert final["lastSyncMessage"] == "Request failed with status code 403" and final["lastSyncedAt"] is None


def test_a_write_starts_every_auto_sync_of_that_folder_only_and_remove_empties_the_destination(standin):
    auto = standin.syncs.add(PROJECT, ENV, PATH, name="auto", destination="github")
    manual = standin.syncs.add(PROJECT, ENV, PATH, name="manual", destination="github", auto_sync=False)
    standin.add_folder(PROJECT, ENV, "/other")
    elsewhere = standin.syncs.add(PROJECT, ENV, "/other", name="elsewhere", destination="github")
    standin.put_secret(PROJECT, ENV, PATH, "CF_TOKEN", "v2")
    wait_until(lambda: standin.syncs.get(auto["id"])["syncStatus"] == "succeeded", what="the auto-sync")
    assert standin.syncs.delivered(auto["id"]) == {"CF_TOKEN": "v2"}
    assert standin.syncs.get(manual["id"])["syncStatus"] is None
    assert standin.syncs.get(elsewhere["id"])["syncStatus"] is None
    with client(standin) as http:
        removed = http.post(f"{BASE}/github/{auto['id']}/remove-secrets")
        wait_until(lambda: standin.syncs.get(auto["id"])["removeStatus"] == "succeeded", what="the removal")
    assert removed.json()["secretSync"]["removeStatus"] == "pending"
    assert standin.syncs.delivered(auto["id"]) == {}


def test_a_deleted_source_folder_refuses_the_trigger(standin):
    sync = standin.syncs.add(PROJECT, ENV, PATH, name="gh", destination="github", auto_sync=False)
    standin.remove_folder(PROJECT, ENV, PATH)
    with client(standin) as http:
        answer = http.post(f"{BASE}/github/{sync['id']}/sync-secrets")
        got = status_of(http, sync)
    assert answer.status_code == 400 and "folder no longer exists" in answer.json()["message"]
    assert got["folder"] is None and got["environment"] is None
