"""InfisicalClient against the Infisical stand-in over real HTTP."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from pydantic import SecretStr

from domain.errors import (
    CftokenError,
    RateLimited,
    ServiceUnavailable,
    VaultAccessDenied,
    VaultSecretMissing,
    VaultWriteHeld,
)
from standins.infisical import InfisicalStandIn
from workers.clients.http import RetryPolicy
from workers.clients.infisical import InfisicalClient

pytestmark = pytest.mark.integration

PROJECT, ENV, PATH = "proj-1", "prod", "/MooseQuest/cloudflare"
CLIENT_SECRET = "bot-client-secret-7f3a"
LOGIN = "/api/v1/auth/universal-auth/login"
TTL = 600


class FakeClock:
    """A monotonic clock that tests move by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def standin():
    server = InfisicalStandIn(token_ttl=TTL)
    server.add_identity("bot-id", CLIENT_SECRET, project_id=PROJECT)
    server.add_folder(PROJECT, ENV, PATH)
    with server:
        yield server


@pytest.fixture
def clock():
    return FakeClock()


def make_client(standin, clock, *, secret: str = CLIENT_SECRET, retry: RetryPolicy | None = None):
    return InfisicalClient(base_url=standin.url, client_id="bot-id", client_secret=SecretStr(secret),
                           project_id=PROJECT, environment=ENV, secret_path=PATH,
                           retry=retry or RetryPolicy.instant(), clock=clock)


@pytest.fixture
def client(standin, clock):
    with make_client(standin, clock) as vault:
        yield vault


def seed(standin, name: str, value: str, path: str = PATH) -> None:
    standin.put_secret(PROJECT, ENV, path, name, value)


def test_listing_a_folder_of_50_secrets_is_one_request(standin, client):
    for i in range(50):
        seed(standin, f"CF_TOKEN_{i:02d}", f"cfut_value_{i}")

    listed = client.list_folder()

    assert len(listed) == 50
    assert listed["CF_TOKEN_07"].get_secret_value() == "cfut_value_7"
    assert standin.count("GET", "/api/v4/secrets") == 1


def test_listing_includes_companions_and_nothing_from_other_folders(standin, client):
    seed(standin, "CF_DNS", "cfut_dns")
    seed(standin, "CF_DNS__EXPIRES_AT", "2026-08-01T00:00:00Z")
    seed(standin, "ELSEWHERE", "x", path="/MooseQuest")
    seed(standin, "NESTED", "y", path=PATH + "/sub")

    listed = client.list_folder()

    assert {k: v.get_secret_value() for k, v in listed.items()} == {
        "CF_DNS": "cfut_dns", "CF_DNS__EXPIRES_AT": "2026-08-01T00:00:00Z"}


def test_listing_another_path_and_environment_on_request(standin, client):
    standin.put_secret(PROJECT, "staging", "/other", "STAGED", "s")

    listed = client.list_folder("/other", "staging")

    assert list(listed) == ["STAGED"]


def test_get_returns_the_value_as_a_secretstr(standin, client):
    seed(standin, "CF_DNS", "cfut_dns")

    value = client.get("CF_DNS")

    assert isinstance(value, SecretStr) and value.get_secret_value() == "cfut_dns"


def test_get_of_a_missing_secret_raises_vault_secret_missing_naming_path_and_env(client):
    with pytest.raises(VaultSecretMissing) as caught:
        client.get("CF_GONE")

    assert (caught.value.name, caught.value.path, caught.value.environment) == ("CF_GONE", PATH, ENV)
    assert PATH in str(caught.value) and ENV in str(caught.value)


def test_set_creates_a_missing_secret_at_version_1(standin, client):
    version = client.set("CF_NEW", SecretStr("cfut_new"))

    assert version == 1
    assert standin.values(PROJECT, ENV, PATH) == {"CF_NEW": "cfut_new"}


def test_set_updates_an_existing_secret_and_bumps_its_version(standin, client):
    seed(standin, "CF_DNS", "cfut_old")

    first = client.set("CF_DNS", SecretStr("cfut_mid"))
    second = client.set("CF_DNS", SecretStr("cfut_new"))

    assert (first, second) == (2, 3)
    assert standin.versions(PROJECT, ENV, PATH, "CF_DNS") == ["cfut_old", "cfut_mid", "cfut_new"]
    assert client.get("CF_DNS").get_secret_value() == "cfut_new"


def test_one_login_serves_many_calls(standin, client):
    seed(standin, "CF_DNS", "cfut_dns")

    client.list_folder()
    client.get("CF_DNS")
    client.set("CF_DNS", SecretStr("cfut_two"))
    client.get("CF_DNS")

    assert standin.count("POST", LOGIN) == 1


def test_the_client_logs_in_again_before_its_token_expires(standin, client, clock):
    seed(standin, "CF_DNS", "cfut_dns")
    client.get("CF_DNS")
    standin.clock.advance(timedelta(seconds=TTL + 1))
    clock.advance(TTL + 1)

    value = client.get("CF_DNS")

    assert value.get_secret_value() == "cfut_dns"
    assert standin.count("POST", LOGIN) == 2
    assert standin.count("GET", "/api/v4/secrets") == 2  # renewed up front: no refused call


def test_a_token_with_ttl_0_never_expires_five_reads_one_login(clock):
    server = InfisicalStandIn(token_ttl=0)
    server.add_identity("bot-id", CLIENT_SECRET, project_id=PROJECT)
    with server, make_client(server, clock) as client:
        seed(server, "CF_DNS", "cfut_dns")
        for _ in range(5):
            assert client.get("CF_DNS").get_secret_value() == "cfut_dns"
            server.clock.advance(timedelta(days=400))
            clock.advance(400 * 86400)

        assert server.count("POST", LOGIN) == 1
        assert server.count("GET", "/api/v4/secrets") == 5  # the server took the year-old token every time


def test_a_ttl_0_token_the_server_revokes_is_replaced_by_one_login(clock):
    server = InfisicalStandIn(token_ttl=0)
    server.add_identity("bot-id", CLIENT_SECRET, project_id=PROJECT)
    with server, make_client(server, clock) as client:
        seed(server, "CF_DNS", "cfut_dns")
        client.get("CF_DNS")
        server.revoke_access_tokens()

        assert client.get("CF_DNS").get_secret_value() == "cfut_dns"
        assert server.count("POST", LOGIN) == 2


def test_a_token_the_server_says_expired_is_renewed_and_the_call_retried_once(standin, client):
    seed(standin, "CF_DNS", "cfut_dns")
    client.get("CF_DNS")
    standin.clock.advance(timedelta(seconds=TTL + 1))  # the client's own clock has not moved

    value = client.get("CF_DNS")

    assert value.get_secret_value() == "cfut_dns"
    assert standin.count("POST", LOGIN) == 2
    assert standin.count("GET", "/api/v4/secrets") == 3


def test_revoked_access_tokens_are_replaced_by_a_new_login(standin, client):
    seed(standin, "CF_DNS", "cfut_dns")
    client.get("CF_DNS")
    standin.revoke_access_tokens()

    version = client.set("CF_DNS", SecretStr("cfut_two"))

    assert version == 2
    assert standin.count("POST", LOGIN) == 2


def test_rejected_credentials_raise_vault_access_denied(standin, clock):
    with make_client(standin, clock, secret="wrong-secret") as vault, pytest.raises(VaultAccessDenied) as caught:
        vault.list_folder()

    assert "Invalid credentials" in str(caught.value)
    assert standin.count("POST", LOGIN) == 1


def test_a_write_without_permission_raises_vault_access_denied_and_changes_nothing(standin, client):
    seed(standin, "CF_DNS", "cfut_dns")
    standin.set_write_allowed("bot-id", False)

    with pytest.raises(VaultAccessDenied) as caught:
        client.set("CF_DNS", SecretStr("cfut_two"))

    assert "PermissionDenied" in str(caught.value)
    assert standin.versions(PROJECT, ENV, PATH, "CF_DNS") == ["cfut_dns"]


def test_a_read_without_permission_raises_vault_access_denied(standin, clock):
    standin.add_identity("bot-id", CLIENT_SECRET, project_id=PROJECT, can_read=False)

    with make_client(standin, clock) as vault, pytest.raises(VaultAccessDenied):
        vault.list_folder()


def test_a_held_write_raises_vault_write_held(standin, client):
    seed(standin, "CF_DNS", "cfut_dns")
    standin.hold_writes(PROJECT, ENV)

    with pytest.raises(VaultWriteHeld):
        client.set("CF_DNS", SecretStr("cfut_two"))

    assert standin.versions(PROJECT, ENV, PATH, "CF_DNS") == ["cfut_dns"]


def test_a_429_is_waited_out_for_retry_after_then_succeeds(standin, clock):
    seed(standin, "CF_DNS", "cfut_dns")
    standin.faults.fail_next("/api/v4/secrets", 1, "429", retry_after=3)
    sleeps: list[float] = []

    with make_client(standin, clock, retry=RetryPolicy(sleep=sleeps.append)) as vault:
        value = vault.get("CF_DNS")

    assert value.get_secret_value() == "cfut_dns"
    assert len(sleeps) == 1 and sleeps[0] >= 3


def test_a_429_that_outlasts_the_retries_raises_rate_limited(standin, client):
    standin.faults.fail_next("/api/v4/secrets", 10, "429", retry_after=2)

    with pytest.raises(RateLimited) as caught:
        client.list_folder()

    assert caught.value.retry_after == 2
    assert standin.count("GET", "/api/v4/secrets") == 4


def test_a_burst_of_5xx_is_retried_until_it_recovers(standin, client):
    seed(standin, "CF_DNS", "cfut_dns")
    standin.faults.fail_next("/api/v4/secrets", 1, "500")
    standin.faults.fail_next("/api/v4/secrets", 1, "502")
    standin.faults.fail_next("/api/v4/secrets", 1, "503")

    value = client.get("CF_DNS")

    assert value.get_secret_value() == "cfut_dns"
    assert standin.count("GET", "/api/v4/secrets") == 4


def test_5xx_that_never_stops_raises_service_unavailable(standin, client):
    standin.faults.fail_next("/api/v4/secrets", 10, "503")

    with pytest.raises(ServiceUnavailable):
        client.list_folder()


def test_a_dropped_connection_is_retried(standin, client):
    seed(standin, "CF_DNS", "cfut_dns")
    standin.faults.fail_next("/api/v4/secrets", 1, "drop")

    value = client.get("CF_DNS")

    assert value.get_secret_value() == "cfut_dns"


def test_a_dropped_login_is_retried(standin, client):
    standin.faults.fail_next(LOGIN, 1, "drop")

    assert client.list_folder() == {}
    assert standin.count("POST", LOGIN) == 2


def test_no_secret_value_client_secret_or_access_token_reaches_logs_errors_or_reprs(standin, clock, caplog):
    caplog.set_level(logging.DEBUG)
    seed(standin, "CF_DNS", "cfut_seeded_value_9c1d")
    texts: list[str] = []
    with make_client(standin, clock) as vault:
        listed = vault.list_folder()
        fetched = vault.get("CF_DNS")
        vault.set("CF_DNS", SecretStr("cfut_written_value_51ab"))
        vault.set("CF_FRESH", SecretStr("cfut_created_value_77e0"))
        texts += [repr(vault), str(vault), repr(listed), repr(fetched), str(fetched)]
        standin.revoke_access_tokens()
        vault.get("CF_DNS")
        standin.set_write_allowed("bot-id", False)
        standin.faults.fail_next("/api/v4/secrets", 1, "500")
        failures = [lambda: vault.set("CF_DNS", SecretStr("cfut_refused_value_3b2e")),
                    lambda: vault.get("CF_MISSING")]
        for failing in failures:
            with pytest.raises(CftokenError) as caught:
                failing()
            texts += [str(caught.value), repr(caught.value)]
        standin.faults.fail_next("/api/v4/secrets", 10, "503")
        with pytest.raises(ServiceUnavailable) as caught:
            vault.list_folder()
        texts += [str(caught.value), repr(caught.value)]
    with make_client(standin, clock, secret="wrong-but-secret-4e4e") as vault, pytest.raises(VaultAccessDenied) as bad:
        vault.get("CF_DNS")
    texts += [str(bad.value), repr(bad.value), caplog.text]

    secrets = ["cfut_seeded_value_9c1d", "cfut_written_value_51ab", "cfut_created_value_77e0",
               "cfut_refused_value_3b2e", CLIENT_SECRET, "wrong-but-secret-4e4e", *standin.access_tokens()]
    assert len(standin.access_tokens()) == 2 and caplog.records
    leaks = [(secret, text) for secret in secrets for text in texts if secret in text]
    assert leaks == []
