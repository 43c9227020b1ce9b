"""Contract tests for the Infisical stand-in, spoken to with plain httpx over real HTTP (api-contracts.md §2)."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import httpx
import pytest

from standins.infisical import InfisicalStandIn

pytestmark = pytest.mark.integration

PROJECT, ENV, PATH = "proj-1", "prod", "/MooseQuest/cloudflare"
LOGIN = "/api/v1/auth/universal-auth/login"
WHERE = {"projectId": PROJECT, "environment": ENV, "secretPath": PATH}
V3_WHERE = {"workspaceId": PROJECT, "environment": ENV, "secretPath": PATH}


@pytest.fixture
def standin():
    server = InfisicalStandIn(token_ttl=600)
    server.add_identity("bot-id", "bot-secret", project_id=PROJECT)
    server.add_identity("reader-id", "reader-secret", project_id=PROJECT, can_write=False)
    server.add_identity("blind-id", "blind-secret", project_id=PROJECT, can_read=False)
    server.add_identity("other-id", "other-secret", project_id="proj-2")
    server.add_folder(PROJECT, ENV, PATH)
    with server:
        yield server


@pytest.fixture
def http(standin):
    with httpx.Client(base_url=standin.url) as client:
        yield client


def bearer(http: httpx.Client, client_id: str = "bot-id", secret: str = "bot-secret") -> dict[str, str]:
    token = http.post(LOGIN, json={"clientId": client_id, "clientSecret": secret}).json()["accessToken"]
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, error: str) -> dict:
    body = response.json()
    assert response.status_code == status
    assert body["statusCode"] == status and body["error"] == error
    assert body["reqId"]
    return body


def test_login_with_good_credentials_returns_a_bearer_token_and_its_ttl(http):
    response = http.post(LOGIN, json={"clientId": "bot-id", "clientSecret": "bot-secret"})

    body = response.json()
    assert response.status_code == 200
    assert body["tokenType"] == "Bearer" and body["expiresIn"] == 600 and body["accessTokenMaxTTL"] >= 600
    assert body["accessToken"]


def test_login_accepts_the_cli_trailing_slash(http):
    response = http.post(LOGIN + "/", json={"clientId": "bot-id", "clientSecret": "bot-secret"})

    assert response.status_code == 200


def test_login_with_a_wrong_secret_answers_401_invalid_credentials(http):
    response = http.post(LOGIN, json={"clientId": "bot-id", "clientSecret": "nope"})

    assert assert_error(response, 401, "UnauthorizedError")["message"] == "Invalid credentials"


def test_login_without_client_secret_answers_422(http):
    response = http.post(LOGIN, json={"clientId": "bot-id"})

    assert assert_error(response, 422, "ValidationFailure")["message"][0]["path"] == ["clientSecret"]


def test_a_request_without_authorization_answers_401_token_missing(http):
    response = http.get("/api/v4/secrets", params=WHERE)

    assert assert_error(response, 401, "UnauthorizedError")["message"] == "Token missing"


def test_an_unknown_token_answers_401_not_allowed(http):
    never_issued = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.c2lnbmF0dXJl"
    response = http.get("/api/v4/secrets", params=WHERE, headers={"Authorization": f"Bearer {never_issued}"})

    assert assert_error(response, 401, "UnauthorizedError")["message"] == "You are not allowed to access this resource"


def test_revoked_access_tokens_answer_401(standin, http):
    headers = bearer(http)
    standin.revoke_access_tokens()

    response = http.get("/api/v4/secrets", params=WHERE, headers=headers)

    assert assert_error(response, 401, "UnauthorizedError")["message"] == "You are not allowed to access this resource"


def test_an_access_token_past_its_ttl_answers_403_token_error(standin, http):
    headers = bearer(http)
    standin.clock.advance(timedelta(seconds=601))

    response = http.get("/api/v4/secrets", params=WHERE, headers=headers)

    assert assert_error(response, 403, "TokenError")["message"] == "Your token has expired. Please re-authenticate."


def test_an_access_token_with_ttl_0_never_expires(standin, http):
    standin.token_ttl = 0
    login = http.post(LOGIN, json={"clientId": "bot-id", "clientSecret": "bot-secret"}).json()
    standin.clock.advance(timedelta(days=3650))

    response = http.get("/api/v4/secrets", params=WHERE, headers={"Authorization": f"Bearer {login['accessToken']}"})

    assert login["expiresIn"] == 0
    assert response.status_code == 200


def test_listing_a_folder_returns_every_secret_with_the_contract_fields(standin, http):
    standin.put_secret(PROJECT, ENV, PATH, "CF_DNS", "cfut_value")
    standin.put_secret(PROJECT, ENV, PATH, "CF_DNS__TOKEN_ID", "6f4a")
    standin.put_secret(PROJECT, ENV, "/elsewhere", "OTHER", "x")

    response = http.get("/api/v4/secrets", params={**WHERE, "viewSecretValue": "true"}, headers=bearer(http))

    body = response.json()
    assert response.status_code == 200 and body["imports"] == []
    assert {s["secretKey"]: s["secretValue"] for s in body["secrets"]} == {"CF_DNS": "cfut_value",
                                                                          "CF_DNS__TOKEN_ID": "6f4a"}
    secret = body["secrets"][0]
    for field in ("id", "workspace", "environment", "version", "type", "secretComment", "createdAt",
                  "updatedAt", "secretPath", "secretValueHidden", "tags", "secretMetadata"):
        assert field in secret
    assert (secret["workspace"], secret["environment"], secret["secretPath"]) == (PROJECT, ENV, PATH)
    assert secret["type"] == "shared" and secret["secretValueHidden"] is False


def test_listing_recursively_includes_subfolders_only_when_asked(standin, http):
    standin.put_secret(PROJECT, ENV, PATH, "TOP", "1")
    standin.put_secret(PROJECT, ENV, PATH + "/sub", "NESTED", "2")
    headers = bearer(http)

    flat = http.get("/api/v4/secrets", params={**WHERE, "recursive": "false"}, headers=headers).json()
    deep = http.get("/api/v4/secrets", params={**WHERE, "recursive": "true"}, headers=headers).json()

    assert [s["secretKey"] for s in flat["secrets"]] == ["TOP"]
    assert {s["secretKey"]: s["secretPath"] for s in deep["secrets"]} == {"TOP": PATH, "NESTED": PATH + "/sub"}


def test_listing_with_view_secret_value_false_hides_values(standin, http):
    standin.put_secret(PROJECT, ENV, PATH, "CF_DNS", "cfut_value")

    body = http.get("/api/v4/secrets", params={**WHERE, "viewSecretValue": "false"}, headers=bearer(http)).json()

    assert body["secrets"][0]["secretValueHidden"] is True
    assert body["secrets"][0]["secretValue"] != "cfut_value"


@pytest.mark.parametrize("flag", ["viewSecretValue", "recursive", "include_imports", "expandSecretReferences"])
@pytest.mark.parametrize("value", ["1", "True", "yes"])
def test_a_boolean_query_that_is_not_literal_true_or_false_answers_422(http, flag, value):
    response = http.get("/api/v4/secrets", params={**WHERE, flag: value}, headers=bearer(http))

    issue = assert_error(response, 422, "ValidationFailure")["message"][0]
    assert issue["path"] == [flag] and issue["options"] == ["true", "false"]


def test_listing_without_project_answers_422_naming_the_field(http):
    params = {key: value for key, value in WHERE.items() if key != "projectId"}

    response = http.get("/api/v4/secrets", params=params, headers=bearer(http))

    assert assert_error(response, 422, "ValidationFailure")["message"][0]["path"] == ["projectId"]


def test_listing_without_environment_answers_400_as_the_v4_router_does(http):
    params = {key: value for key, value in WHERE.items() if key != "environment"}

    response = http.get("/api/v4/secrets", params=params, headers=bearer(http))

    assert "environment" in assert_error(response, 400, "BadRequest")["message"].lower()


def test_getting_a_missing_secret_answers_404_naming_path_and_environment(http):
    response = http.get("/api/v4/secrets/CF_GONE", params=WHERE, headers=bearer(http))

    body = assert_error(response, 404, "NotFound")
    assert body["message"] == (
        f"Secret with name 'CF_GONE' not found at path '{PATH}' in environment with slug '{ENV}'"
    )


def test_create_then_update_bumps_the_version_and_trims_values(standin, http):
    headers = bearer(http)

    created = http.post("/api/v4/secrets/CF_NEW", json={**WHERE, "secretValue": "  v1  "}, headers=headers)
    updated = http.patch("/api/v4/secrets/CF_NEW", json={**WHERE, "secretValue": "v2\n\n"}, headers=headers)
    fetched = http.get("/api/v4/secrets/CF_NEW", params=WHERE, headers=headers)

    assert created.json()["secret"]["version"] == 1 and created.json()["secret"]["secretValue"] == "v1"
    assert updated.json()["secret"]["version"] == 2 and updated.json()["secret"]["secretValue"] == "v2\n"
    assert fetched.json()["secret"]["version"] == 2
    assert standin.versions(PROJECT, ENV, PATH, "CF_NEW") == ["v1", "v2\n"]


def test_getting_an_older_version_returns_that_value(standin, http):
    standin.put_secret(PROJECT, ENV, PATH, "CF_DNS", "old")
    standin.put_secret(PROJECT, ENV, PATH, "CF_DNS", "new")

    response = http.get("/api/v4/secrets/CF_DNS", params={**WHERE, "version": "1"}, headers=bearer(http))

    assert response.json()["secret"]["secretValue"] == "old" and response.json()["secret"]["version"] == 1


def test_creating_a_secret_that_exists_answers_400(standin, http):
    standin.put_secret(PROJECT, ENV, PATH, "CF_DNS", "v1")

    response = http.post("/api/v4/secrets/CF_DNS", json={**WHERE, "secretValue": "v2"}, headers=bearer(http))

    assert_error(response, 400, "BadRequest")
    assert standin.values(PROJECT, ENV, PATH) == {"CF_DNS": "v1"}


def test_updating_a_missing_secret_answers_404(http):
    response = http.patch("/api/v4/secrets/CF_GONE", json={**WHERE, "secretValue": "v"}, headers=bearer(http))

    assert_error(response, 404, "NotFound")


def test_delete_takes_a_json_body_and_removes_the_secret(standin, http):
    standin.put_secret(PROJECT, ENV, PATH, "CF_DNS", "v1")

    response = http.request("DELETE", "/api/v4/secrets/CF_DNS", json=WHERE, headers=bearer(http))

    assert response.status_code == 200 and response.json()["secret"]["secretKey"] == "CF_DNS"
    assert standin.secret(PROJECT, ENV, PATH, "CF_DNS") is None


def test_a_write_without_write_permission_answers_403_permission_denied(standin, http):
    standin.put_secret(PROJECT, ENV, PATH, "CF_DNS", "v1")

    response = http.patch("/api/v4/secrets/CF_DNS", json={**WHERE, "secretValue": "v2"},
                          headers=bearer(http, "reader-id", "reader-secret"))

    assert assert_error(response, 403, "PermissionDenied")["message"] == "You are not allowed to edit on secrets"
    assert standin.values(PROJECT, ENV, PATH) == {"CF_DNS": "v1"}


def test_write_permission_can_be_withdrawn_from_an_identity(standin, http):
    headers = bearer(http)
    standin.set_write_allowed("bot-id", False)

    response = http.post("/api/v4/secrets/CF_NEW", json={**WHERE, "secretValue": "v"}, headers=headers)

    assert_error(response, 403, "PermissionDenied")


def test_a_read_without_read_permission_answers_403_permission_denied(http):
    response = http.get("/api/v4/secrets", params=WHERE, headers=bearer(http, "blind-id", "blind-secret"))

    assert_error(response, 403, "PermissionDenied")


def test_an_identity_of_another_project_answers_403(http):
    response = http.get("/api/v4/secrets", params=WHERE, headers=bearer(http, "other-id", "other-secret"))

    assert_error(response, 403, "PermissionDenied")


def test_held_writes_answer_an_approval_and_leave_the_secret_unchanged(standin, http):
    standin.put_secret(PROJECT, ENV, PATH, "CF_DNS", "v1")
    standin.hold_writes(PROJECT, ENV)

    response = http.patch("/api/v4/secrets/CF_DNS", json={**WHERE, "secretValue": "v2"}, headers=bearer(http))

    assert response.status_code == 200 and "approval" in response.json()
    assert standin.versions(PROJECT, ENV, PATH, "CF_DNS") == ["v1"]


def test_v3_raw_endpoints_serve_the_same_secrets_by_workspace_id(standin, http):
    headers = bearer(http)

    created = http.post("/api/v3/secrets/raw/CF_V3", json={**V3_WHERE, "secretValue": "one"}, headers=headers)
    updated = http.patch("/api/v3/secrets/raw/CF_V3", json={**V3_WHERE, "secretValue": "two"}, headers=headers)
    listed = http.get("/api/v3/secrets/raw", params=V3_WHERE, headers=headers)
    fetched = http.get("/api/v3/secrets/raw/CF_V3", params=V3_WHERE, headers=headers)
    deleted = http.request("DELETE", "/api/v3/secrets/raw/CF_V3", json=V3_WHERE, headers=headers)

    assert created.json()["secret"]["version"] == 1 and updated.json()["secret"]["version"] == 2
    assert [s["secretValue"] for s in listed.json()["secrets"]] == ["two"]
    assert fetched.json()["secret"]["secretValue"] == "two"
    assert deleted.status_code == 200 and standin.values(PROJECT, ENV, PATH) == {}


def test_v3_without_workspace_id_answers_400_missing_project(http):
    response = http.get("/api/v3/secrets/raw", params={"environment": ENV}, headers=bearer(http))

    assert assert_error(response, 400, "BadRequest")["message"] == "Missing project id or environment"


def test_a_429_fault_uses_infisicals_error_shape_and_retry_after(standin, http):
    standin.faults.fail_next("/api/v4/secrets", 1, "429", retry_after=7)

    response = http.get("/api/v4/secrets", params=WHERE, headers=bearer(http))

    assert_error(response, 429, "RateLimitExceeded")
    assert response.headers["retry-after"] == "7"


def test_a_500_fault_uses_infisicals_error_shape(standin, http):
    standin.faults.fail_next("/api/v4/secrets", 1, "500")

    response = http.get("/api/v4/secrets", params=WHERE, headers=bearer(http))

    assert_error(response, 500, "InternalServerError")


def test_an_unknown_route_answers_fastifys_404(http):
    response = http.get("/api/v9/nothing")

    assert response.status_code == 404 and response.json()["error"] == "Not Found"


def test_the_module_runs_alone_with_a_seeded_identity():
    process = subprocess.Popen([sys.executable, "-m", "standins.infisical", "--port", "0"],
                               stdout=subprocess.PIPE, text=True)
    try:
        url = process.stdout.readline().split("listening on ")[1].strip()

        response = httpx.post(url + LOGIN, json={"clientId": "local-id", "clientSecret": "local-secret"})

        assert response.status_code == 200 and response.json()["accessToken"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
