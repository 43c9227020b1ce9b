"""A vault folder or environment that does not exist, and an Infisical identity that is locked or spent, as the bot
meets them: named once, with the fix, and no login attempts burnt (issue 22, divergences #4 and #5)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from domain.errors import RateLimited, VaultFolderMissing, VaultLoginBlocked, VaultSecretMissing
from standins.infisical import InfisicalStandIn
from standins.world import CHANNEL, CLIENT_ID, ENGINEER
from tests.integration.scenarios import deliver
from workers.clients.http import RetryPolicy
from workers.clients.infisical import InfisicalClient
from workers.clients.infisical_login import MemoryLoginGate, RedisLoginGate
from workers.verify.verification import verify_and_report

pytestmark = pytest.mark.integration

PROJECT, ENV, PATH = "proj-1", "prod", "/MooseQuest/cloudflare"
LOGIN = "/api/v1/auth/universal-auth/login"
SECRET = "bot-client-secret"


class Wall:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def standin():
    server = InfisicalStandIn(token_ttl=600)
    server.add_identity("bot-id", SECRET, project_id=PROJECT)
    server.add_folder(PROJECT, ENV, PATH)
    with server:
        yield server


def client_for(standin, *, path=PATH, env=ENV, secret=SECRET, gate=None, wall=None) -> InfisicalClient:
    return InfisicalClient(base_url=standin.url, client_id="bot-id", client_secret=SecretStr(secret),
                           project_id=PROJECT, environment=env, secret_path=path, retry=RetryPolicy.instant(),
                           login_gate=gate, wall_clock=wall or Wall())


@pytest.mark.parametrize(("path", "env"), [("/MooseQuest/cloudfare", ENV), (PATH, "production")])
def test_a_write_into_a_missing_folder_or_environment_names_both(standin, path, env):
    with client_for(standin, path=path, env=env) as vault, pytest.raises(VaultFolderMissing) as raised:
        vault.set("CF_DNS", SecretStr("cfut_x"))

    assert str(raised.value).startswith(f"the vault folder {path} does not exist in environment {env}")
    assert "Failure mode C" in raised.value.runbook and "INFISICAL_SECRET_PATH" in raised.value.runbook
    assert not standin.folder_exists(PROJECT, env, path)


def test_an_empty_listing_is_told_apart_from_a_missing_folder(standin):
    with client_for(standin, path="/nope") as missing, client_for(standin) as empty:
        assert missing.list_folder() == {} and empty.list_folder() == {}
        with pytest.raises(VaultFolderMissing):
            missing.confirm_folder("CF_ACCESS_MGMT")
        with pytest.raises(VaultSecretMissing):
            empty.confirm_folder("CF_ACCESS_MGMT")


def test_a_wrong_secret_is_tried_once_per_lock_period_so_the_bot_never_locks_the_identity(standin):
    wall, gate = Wall(), MemoryLoginGate()
    with client_for(standin, secret="old-secret", gate=gate, wall=wall) as vault:
        errors = []
        for _ in range(5):
            with pytest.raises(VaultLoginBlocked) as raised:
                vault.list_folder()
            errors.append(raised.value)
        wall.now += 301
        with pytest.raises(VaultLoginBlocked):
            vault.list_folder()

    assert standin.auth.logins == 2  # one attempt, then one more after the 300 s a lock would last
    assert standin.identity("bot-id").locked_until is None
    assert "Invalid credentials" in str(errors[0]) and str(errors[1]).startswith("Still not logging in")
    assert "INFISICAL_CLIENT_SECRET" in errors[0].runbook


def test_a_locked_identity_is_left_alone_until_the_lock_lapses(standin):
    for _ in range(3):  # someone else, with a stale secret
        with pytest.raises(VaultLoginBlocked), client_for(standin, secret="stale") as stale:
            stale.list_folder()
    wall, gate = Wall(), MemoryLoginGate()
    before = standin.auth.logins

    with client_for(standin, gate=gate, wall=wall) as vault:
        with pytest.raises(VaultLoginBlocked) as first:
            vault.list_folder()
        with pytest.raises(VaultLoginBlocked):
            vault.list_folder()
        assert standin.auth.logins - before == 1
        standin.clock.advance(timedelta(seconds=301))
        wall.now += 301
        assert vault.list_folder() == {}

    assert "locked the machine identity's Universal Auth" in str(first.value)
    assert "before " in str(first.value) and "UTC" in str(first.value)


@pytest.mark.parametrize(("limit", "words"), [({"uses": 1}, "reached its use limit"),
                                              ({"expires_in": timedelta(seconds=0)}, "expired")])
def test_a_spent_or_expired_client_secret_stops_logins_until_a_new_secret_is_set(standin, redis_conn, limit, words):
    standin.limit_client_secret("bot-id", **limit)
    gate = RedisLoginGate(redis_conn)
    if "uses" in limit:
        with client_for(standin, gate=gate) as vault:
            vault.list_folder()  # the one use
    before = standin.auth.logins

    for _ in range(3):  # three worker processes, one note in Redis
        with pytest.raises(VaultLoginBlocked) as raised, client_for(standin, gate=gate) as vault:
            vault.list_folder()
    standin.new_client_secret("bot-id", "fresh-secret")
    with client_for(standin, secret="fresh-secret", gate=gate) as vault:
        vault.list_folder()

    assert standin.auth.logins - before == 2  # the refused one and the new secret's
    assert words in str(raised.value) and "until a new INFISICAL_CLIENT_SECRET is set" in str(raised.value)
    assert "Create a new client secret" in raised.value.runbook


def test_verify_names_a_missing_folder_once_as_failure_mode_c(world, services, redis_conn):
    world.infisical.remove_folder(world.infisical.identity(CLIENT_ID).project, world.environment, world.vault_path)

    verify_and_report(services, "CF_WAF_EDIT_RAXX_APP", requested_by=ENGINEER)
    deliver(services)

    channel = world.slack.channel_transcript(CHANNEL)
    assert f"the vault folder {world.vault_path} does not exist in environment prod" in channel
    assert "Failure mode C for the whole folder" in channel
    assert "missing at" not in channel


def test_a_locked_identity_is_reported_to_the_channel_once(world, services, redis_conn):
    identity = world.infisical.identity(CLIENT_ID)
    identity.locked_until = world.clock.now() + timedelta(seconds=300)

    for _ in range(3):
        verify_and_report(services, "CF_WAF_EDIT_RAXX_APP", requested_by=ENGINEER)
    deliver(services)

    channel = world.slack.channel_transcript(CHANNEL)
    assert channel.count(":lock:") == 1  # the unasked report, once; each verify asked for still answers
    assert channel.count("Still not logging in to Infisical: Infisical has locked") == 2
    assert ":lock: infisical rejected the machine identity's credentials (HTTP 401 UnauthorizedError: This " \
           "identity auth method is temporarily locked" in channel
    assert world.infisical.count("POST", LOGIN) == 1


def test_a_scan_that_finds_no_folder_tells_the_channel_once_a_day(world, services, redis_conn):
    from workers.scan.scan import scan

    world.infisical.remove_folder(world.infisical.identity(CLIENT_ID).project, world.environment, world.vault_path)

    for _ in range(2):
        with pytest.raises(VaultFolderMissing):
            scan(services)
    deliver(services)

    channel = world.slack.channel_transcript(CHANNEL)
    assert channel.count("The expiry scan could not read the vault: the vault folder /MooseQuest/cloudflare does "
                         "not exist in environment prod") == 1
    assert "INFISICAL_SECRET_PATH" in channel


def test_a_login_answered_429_is_retried_a_bounded_number_of_times_then_reported_as_rate_limited(standin):
    standin.faults.fail_next(LOGIN, 10, "429", retry_after=2)

    with client_for(standin) as vault, pytest.raises(RateLimited) as raised:
        vault.list_folder()

    assert standin.count("POST", LOGIN) == RetryPolicy.instant().attempts
    assert raised.value.retry_after == 2 and "rate limiting" in str(raised.value)
    assert standin.auth.logins == 0  # none reached the check, so none counts towards a lock or the use limit
