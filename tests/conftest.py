"""Shared fixtures: Redis (real where REDIS_URL answers, fakeredis otherwise) and settings for tests."""

from __future__ import annotations

import os

import pytest
import redis

from bot.settings import Settings

TEST_CHANNEL = "C0SRE0001"
APPROVER_A = "U0ALICE01"
APPROVER_B = "U0BOB0002"
ENGINEER = "U0CAROL03"  # on the team, not an approver


def _real_redis() -> redis.Redis | None:
    url = os.environ.get("REDIS_URL")
    if not url:
        return None
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError:
        return None
    return client


@pytest.fixture
def redis_conn():
    """A flushed Redis: the real server at REDIS_URL when it answers (CI), fakeredis otherwise."""
    client = _real_redis()
    if client is None:
        import fakeredis

        client = fakeredis.FakeRedis()
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def real_redis():
    """The real Redis at REDIS_URL (flushed), or skip-free failure: integration tests that need it say so."""
    client = _real_redis()
    if client is None:
        pytest.fail("this test needs a real Redis: set REDIS_URL (make test does when one answers)")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def make_settings(**overrides: object) -> Settings:
    """Settings with every required value filled in; keyword arguments override."""
    values: dict[str, object] = {
        "cftoken_channel_id": TEST_CHANNEL,
        "cftoken_approvers": f"{APPROVER_A},{APPROVER_B}",
        "infisical_client_id": "test-client-id",
        "infisical_client_secret": "test-client-secret",
        "infisical_project_id": "proj-test",
        "cftoken_secret_key": "x" * 40,
        "freescout_url": "http://127.0.0.1:9",
        "freescout_api_key": "fs-test-key",
        "freescout_mailbox_id": 1,
        "slack_bot_token": "xoxb-test",
        "slack_signing_secret": "test-signing-secret",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings() -> Settings:
    return make_settings()
