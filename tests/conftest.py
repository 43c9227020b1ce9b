"""Shared fixtures: a Redis the run owns, and settings for tests."""

from __future__ import annotations

import os

import pytest
import redis
from pydantic import SecretStr

from domain import integrity
from domain.settings import Settings
from standins import answer_schemas
from standins.redis_server import start_owned_redis
from standins.world import SECRET_KEY

TEST_CHANNEL = "C0SRE0001"
APPROVER_A = "U0ALICE01"
APPROVER_B = "U0BOB0002"
ENGINEER = "U0CAROL03"  # on the team, not an approver


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item):
    """A stand-in answer off its service's published schema fails the test during which it was given (always on,
    like the Block Kit check): standins/answer_schemas.py."""
    answer_schemas.take_mismatches()  # anything from before this test's call is not its doing
    result = yield
    mismatches = answer_schemas.take_mismatches()
    if mismatches:
        raise AssertionError("a stand-in answered off its schema:\n" + "\n".join(mismatches))
    return result


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of a Redis server this test run owns: its own `redis-server` on a free loopback port (the embedded
    fakeredis only where the binary is not installed), never the Redis at REDIS_URL, so two suites can run side by
    side and a developer's Redis is never flushed.

    The URL is exported as REDIS_URL so worker subprocesses started by tests share the same server.
    """
    owned = start_owned_redis()
    os.environ["REDIS_URL"] = owned.url
    yield owned.url
    owned.stop()


@pytest.fixture
def redis_conn(redis_url: str):
    """A flushed Redis connection for one test, on the run's own Redis."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def real_redis(redis_conn):
    """Alias kept for tests that stress server-side atomicity: in CI this is the real Redis server."""
    return redis_conn


@pytest.fixture(autouse=True)
def integrity_key():
    """This test process signs and checks records with the key every test's settings carry, as the bot does."""
    integrity.use_key(SecretStr(SECRET_KEY))
    yield
    integrity.use_key(SecretStr(SECRET_KEY))


def make_settings(**overrides: object) -> Settings:
    """Settings with every required value filled in; keyword arguments override."""
    values: dict[str, object] = {
        "cftoken_channel_id": TEST_CHANNEL,
        "cftoken_approvers": f"{APPROVER_A},{APPROVER_B}",
        "infisical_client_id": "test-client-id",
        "infisical_client_secret": "test-client-secret",
        "infisical_project_id": "proj-test",
        "cftoken_secret_key": SECRET_KEY,
        "freescout_url": "http://127.0.0.1:9",
        "freescout_api_key": "fs-test-key",
        "freescout_mailbox_id": 1,
        "freescout_user_id": 1,
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": "test-signing-secret",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings() -> Settings:
    return make_settings()


@pytest.fixture
def world():
    """The runbook's world on four fresh stand-ins (Cloudflare, Infisical, FreeScout, Slack)."""
    from standins.world import World

    started = World.start()
    yield started
    started.stop()


@pytest.fixture
def world_settings(world, redis_url) -> Settings:
    """Settings that point the bot at the world's stand-ins and the test Redis."""
    return make_settings(**world.settings_values(redis_url=redis_url))


@pytest.fixture
def services(world_settings, redis_conn, world):
    """Job services on the world, with the stand-ins' clock and retries that do not sleep."""
    from workers.clients.http import RetryPolicy
    from workers.services import build_services

    built = build_services(world_settings, clock=world.clock.now, retry=RetryPolicy.instant())
    yield built
    built.close()
