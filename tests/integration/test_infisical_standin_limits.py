"""The Infisical stand-in refuses what Infisical refuses: writes into a folder or environment that does not exist,
Universal Auth's lockout, a client secret's use limit and TTL, and a malformed access token (api-contracts.md
round three, divergences #4, #5 and #8)."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from standins.infisical import InfisicalStandIn
from standins.infisical_auth import LOCKED, SECRET_EXPIRED, USES_EXHAUSTED

pytestmark = pytest.mark.integration

PROJECT, ENV, PATH = "proj-1", "prod", "/MooseQuest/cloudflare"
LOGIN = "/api/v1/auth/universal-auth/login"
GOOD = {"clientId": "bot-id", "clientSecret": "bot-secret"}
BAD = {"clientId": "bot-id", "clientSecret": "wrong"}


@pytest.fixture
def standin():
    server = InfisicalStandIn(token_ttl=600)
    server.add_identity("bot-id", "bot-secret", project_id=PROJECT)
    server.add_folder(PROJECT, ENV, PATH)
    with server:
        yield server


@pytest.fixture
def http(standin):
    with httpx.Client(base_url=standin.url) as client:
        yield client


def bearer(http: httpx.Client) -> dict[str, str]:
    return {"Authorization": f"Bearer {http.post(LOGIN, json=GOOD).json()['accessToken']}"}


def refused(response: httpx.Response, status: int, error: str) -> str:
    body = response.json()
    assert (response.status_code, body["statusCode"], body["error"]) == (status, status, error)
    assert body["reqId"]
    return body["message"]


@pytest.mark.parametrize(("method", "operation"), [("POST", "CreateSecret"), ("PATCH", "UpdateSecret"),
                                                   ("DELETE", "DeleteSecret")])
@pytest.mark.parametrize(("path", "env"), [("/MooseQuest/cloudfare", ENV), (PATH, "production")])
def test_a_write_into_a_missing_folder_or_environment_answers_404_naming_the_operation(
        standin, http, method, operation, path, env):
    body = {"projectId": PROJECT, "environment": env, "secretPath": path, "secretValue": "v"}

    response = http.request(method, "/api/v4/secrets/CF_DNS", json=body, headers=bearer(http))

    message = refused(response, 404, operation)
    assert message == f"Folder with path '{path}' in environment with slug '{env}' not found"
    assert not standin.folder_exists(PROJECT, env, path)  # nothing was made on the way


def test_reading_a_secret_in_a_missing_folder_answers_404_naming_the_folder(http):
    where = {"projectId": PROJECT, "environment": ENV, "secretPath": "/nope"}

    response = http.get("/api/v4/secrets/CF_DNS", params=where, headers=bearer(http))

    assert refused(response, 404, "NotFound").startswith("Folder with path '/nope'")


@pytest.mark.parametrize(("path", "env"), [("/nope", ENV), (PATH, "production")])
def test_listing_a_missing_folder_or_environment_answers_200_with_nothing(http, path, env):
    where = {"projectId": PROJECT, "environment": env, "secretPath": path}

    response = http.get("/api/v4/secrets", params=where, headers=bearer(http))

    assert response.status_code == 200 and response.json() == {"secrets": [], "imports": []}


def test_a_write_into_a_folder_someone_made_succeeds(standin, http):
    standin.add_folder(PROJECT, "staging", "/other/deep")
    body = {"projectId": PROJECT, "environment": "staging", "secretPath": "/other/deep", "secretValue": "v"}

    response = http.post("/api/v4/secrets/CF_DNS", json=body, headers=bearer(http))

    assert response.status_code == 200
    assert standin.folder_exists(PROJECT, "staging", "/other")


def test_three_failed_logins_lock_the_identity_for_300_seconds_even_for_the_right_secret(standin, http):
    answers = [http.post(LOGIN, json=BAD) for _ in range(3)]

    locked = http.post(LOGIN, json=GOOD)
    standin.clock.advance(timedelta(seconds=299))
    still = http.post(LOGIN, json=GOOD)
    standin.clock.advance(timedelta(seconds=2))
    lapsed = http.post(LOGIN, json=GOOD)

    assert [refused(a, 401, "UnauthorizedError") for a in answers] == ["Invalid credentials"] * 3
    assert refused(locked, 401, "UnauthorizedError") == LOCKED
    assert LOCKED == "This identity auth method is temporarily locked, please try again later"
    assert refused(still, 401, "UnauthorizedError") == LOCKED
    assert lapsed.status_code == 200


def test_failures_spread_wider_than_the_counter_window_do_not_lock(standin, http):
    for _ in range(3):
        http.post(LOGIN, json=BAD)
        standin.clock.advance(timedelta(seconds=31))

    assert http.post(LOGIN, json=GOOD).status_code == 200


def test_a_client_secret_at_its_use_limit_is_refused_and_revoked(standin, http):
    standin.limit_client_secret("bot-id", uses=2)

    first, second = http.post(LOGIN, json=GOOD), http.post(LOGIN, json=GOOD)
    third, fourth = http.post(LOGIN, json=GOOD), http.post(LOGIN, json=GOOD)

    assert first.status_code == second.status_code == 200
    assert refused(third, 401, "UnauthorizedError") == USES_EXHAUSTED
    assert USES_EXHAUSTED == "Access denied due to client secret usage limit reached"
    assert refused(fourth, 401, "UnauthorizedError") == "Invalid credentials"  # the secret is revoked
    assert standin.identity("bot-id").secret_revoked


def test_an_expired_client_secret_is_refused_and_revoked(standin, http):
    standin.limit_client_secret("bot-id", expires_in=timedelta(hours=1))
    standin.clock.advance(timedelta(hours=1, seconds=1))

    assert refused(http.post(LOGIN, json=GOOD), 401, "UnauthorizedError") == SECRET_EXPIRED
    assert refused(http.post(LOGIN, json=GOOD), 401, "UnauthorizedError") == "Invalid credentials"


def test_a_new_client_secret_works_after_the_old_one_was_revoked(standin, http):
    standin.limit_client_secret("bot-id", uses=1)
    http.post(LOGIN, json=GOOD)
    http.post(LOGIN, json=GOOD)

    standin.new_client_secret("bot-id", "fresh-secret")

    assert http.post(LOGIN, json={"clientId": "bot-id", "clientSecret": "fresh-secret"}).status_code == 200


def test_a_login_answered_429_carries_retry_after(standin, http):
    standin.faults.fail_next(LOGIN, 1, "429", retry_after=7)

    response = http.post(LOGIN, json=GOOD)

    assert refused(response, 429, "RateLimitExceeded") and response.headers["Retry-After"] == "7"


def test_a_malformed_access_token_answers_403_token_error(http):
    where = {"projectId": PROJECT, "environment": ENV, "secretPath": PATH}

    response = http.get("/api/v4/secrets", params=where, headers={"Authorization": "Bearer not-a-jwt"})

    assert refused(response, 403, "TokenError").startswith("The provided access token is malformed")
