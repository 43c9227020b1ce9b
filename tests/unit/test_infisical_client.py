"""InfisicalClient edge cases against httpx.MockTransport: request shapes, token cache, error mapping."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from domain.errors import (
    ServiceUnavailable,
    UnexpectedResponse,
    VaultAccessDenied,
    VaultSecretMissing,
    VaultWriteHeld,
)
from workers.clients.http import RetryPolicy
from workers.clients.infisical import InfisicalClient

LOGIN = "/api/v1/auth/universal-auth/login"
PATH, ENV = "/MooseQuest/cloudflare", "prod"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def error(status: int, name: str, message: object) -> httpx.Response:
    return httpx.Response(status, json={"reqId": "req-1", "statusCode": status, "message": message, "error": name})


def secret_body(name: str = "CF_DNS", value: str = "cfut_value", version: int = 1, **extra: object) -> dict:
    return {"secret": {"secretKey": name, "secretValue": value, "version": version, **extra}}


class Vault:
    """A scripted Infisical: logins always succeed; other calls answer from a queue of responses."""

    def __init__(self, *answers: httpx.Response | Callable[[httpx.Request], httpx.Response],
                 expires_in: int = 7200) -> None:
        self.answers = list(answers)
        self.expires_in = expires_in
        self.requests: list[httpx.Request] = []
        self.logins = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == LOGIN:
            self.logins += 1
            return httpx.Response(200, json={"accessToken": f"token-{self.logins}", "expiresIn": self.expires_in,
                                             "accessTokenMaxTTL": 43200, "tokenType": "Bearer"})
        self.requests.append(request)
        answer = self.answers.pop(0)
        return answer(request) if callable(answer) else answer


def make_client(handler: Callable[[httpx.Request], httpx.Response], clock: FakeClock | None = None,
                secret: str = "client-secret-xyz") -> InfisicalClient:
    return InfisicalClient(base_url="https://vault.example.test/", client_id="bot-id",
                           client_secret=SecretStr(secret), project_id="proj-1", environment=ENV,
                           secret_path=PATH, transport=httpx.MockTransport(handler),
                           retry=RetryPolicy.instant(), clock=clock or FakeClock())


def test_list_folder_sends_one_get_with_literal_boolean_flags_and_the_bearer_token():
    vault = Vault(httpx.Response(200, json={"secrets": [], "imports": []}))

    with make_client(vault) as client:
        client.list_folder()

    (request,) = vault.requests
    assert request.method == "GET" and request.url.path == "/api/v4/secrets"
    assert dict(request.url.params) == {
        "projectId": "proj-1", "environment": ENV, "secretPath": PATH, "viewSecretValue": "true",
        "expandSecretReferences": "false", "include_imports": "false", "recursive": "false"}
    assert request.headers["authorization"] == "Bearer token-1"


def test_login_posts_client_id_and_secret_as_json():
    seen: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == LOGIN:
            seen.append(json.loads(request.content))
            return httpx.Response(200, json={"accessToken": "t", "expiresIn": 7200})
        return httpx.Response(200, json={"secrets": [], "imports": []})

    with make_client(handler) as client:
        client.list_folder()

    assert seen == [{"clientId": "bot-id", "clientSecret": "client-secret-xyz"}]


def test_set_patches_then_creates_with_post_when_the_secret_is_missing():
    vault = Vault(error(404, "NotFound", "Secret with name 'CF_NEW' not found"),
                  httpx.Response(200, json=secret_body("CF_NEW", "v", 1)))

    with make_client(vault) as client:
        version = client.set("CF_NEW", SecretStr("v"))

    assert version == 1
    assert [r.method for r in vault.requests] == ["PATCH", "POST"]
    assert json.loads(vault.requests[1].content)["secretValue"] == "v"


def test_set_falls_back_to_patch_when_create_finds_the_secret_already_there():
    vault = Vault(error(404, "NotFound", "Secret with name 'CF_NEW' not found"),
                  error(400, "BadRequest", "Secret already exist"),
                  httpx.Response(200, json=secret_body("CF_NEW", "v", 2)))

    with make_client(vault) as client:
        version = client.set("CF_NEW", SecretStr("v"))

    assert version == 2
    assert [r.method for r in vault.requests] == ["PATCH", "POST", "PATCH"]


@pytest.mark.parametrize(("expires_in", "still_cached_at", "renewed_at"), [(7200, 7139, 7140), (100, 89, 90)])
def test_the_token_is_reused_until_60s_or_10_percent_before_it_expires(expires_in, still_cached_at, renewed_at):
    clock = FakeClock()
    ok = httpx.Response(200, json={"secrets": [], "imports": []})
    vault = Vault(ok, ok, ok, expires_in=expires_in)

    with make_client(vault, clock) as client:
        client.list_folder()
        clock.now = still_cached_at
        client.list_folder()
        logins_before_margin = vault.logins
        clock.now = renewed_at
        client.list_folder()

    assert (logins_before_margin, vault.logins) == (1, 2)


def test_an_expires_in_of_0_is_a_token_reused_forever():
    clock = FakeClock()
    ok = httpx.Response(200, json={"secrets": [], "imports": []})
    vault = Vault(*[ok] * 5, expires_in=0)

    with make_client(vault, clock) as client:
        for _ in range(5):
            client.list_folder()
            clock.now += 10 * 365 * 86400

    assert vault.logins == 1


def test_a_token_error_triggers_exactly_one_login_and_one_retry():
    expired = error(403, "TokenError", "Your token has expired. Please re-authenticate.")
    vault = Vault(expired, httpx.Response(200, json=secret_body()))

    with make_client(vault) as client:
        value = client.get("CF_DNS")

    assert value.get_secret_value() == "cfut_value"
    assert vault.logins == 2
    assert [r.headers["authorization"] for r in vault.requests] == ["Bearer token-1", "Bearer token-2"]


def test_a_fresh_token_refused_again_raises_vault_access_denied_without_looping():
    refused = error(401, "UnauthorizedError", "You are not allowed to access this resource")
    vault = Vault(refused, refused)

    with make_client(vault) as client, pytest.raises(VaultAccessDenied):
        client.get("CF_DNS")

    assert vault.logins == 2 and len(vault.requests) == 2


def test_rejected_credentials_raise_vault_access_denied_with_infisicals_message():
    def handler(request: httpx.Request) -> httpx.Response:
        return error(401, "UnauthorizedError", "Invalid credentials")

    with make_client(handler) as client, pytest.raises(VaultAccessDenied) as caught:
        client.list_folder()

    assert "Invalid credentials" in str(caught.value) and "client-secret-xyz" not in str(caught.value)


def test_a_login_answer_without_an_access_token_is_unexpected():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"expiresIn": 7200})

    with make_client(handler) as client, pytest.raises(UnexpectedResponse):
        client.list_folder()


def test_permission_denied_maps_to_vault_access_denied():
    vault = Vault(error(403, "PermissionDenied", "You are not allowed to edit on secrets"))

    with make_client(vault) as client, pytest.raises(VaultAccessDenied) as caught:
        client.set("CF_DNS", SecretStr("v"))

    assert "You are not allowed to edit on secrets" in str(caught.value)
    assert vault.logins == 1  # not a token problem: no second login


def test_a_404_from_an_unknown_route_is_unexpected_not_a_missing_secret():
    vault = Vault(httpx.Response(404, json={"message": "Route GET:/x not found", "error": "Not Found",
                                            "statusCode": 404}))

    with make_client(vault) as client, pytest.raises(UnexpectedResponse) as caught:
        client.get("CF_DNS")

    assert "Not Found" in str(caught.value)


def test_a_missing_secret_names_the_clients_path_and_environment():
    vault = Vault(error(404, "NotFound", "Secret with name 'CF_DNS' not found"))

    with make_client(vault) as client, pytest.raises(VaultSecretMissing) as caught:
        client.get("CF_DNS")

    assert (caught.value.path, caught.value.environment) == (PATH, ENV)


def test_an_approval_answer_to_a_write_raises_vault_write_held():
    vault = Vault(httpx.Response(200, json={"approval": {"id": "a1", "status": "open"}}))

    with make_client(vault) as client, pytest.raises(VaultWriteHeld):
        client.set("CF_DNS", SecretStr("v"))


def test_a_hidden_value_raises_vault_access_denied_instead_of_returning_the_placeholder():
    vault = Vault(httpx.Response(200, json=secret_body(value="<hidden-by-infisical>", secretValueHidden=True)))

    with make_client(vault) as client, pytest.raises(VaultAccessDenied):
        client.get("CF_DNS")


def test_a_validation_failure_is_unexpected_and_names_fields_not_received_values():
    issues = [{"received": "cfut_echoed_value", "code": "invalid_enum_value", "path": ["type"],
               "message": "Invalid enum value"}]
    vault = Vault(error(422, "ValidationFailure", issues))

    with make_client(vault) as client, pytest.raises(UnexpectedResponse) as caught:
        client.set("CF_DNS", SecretStr("cfut_echoed_value"))

    assert "ValidationFailure" in str(caught.value) and "type: Invalid enum value" in str(caught.value)
    assert "cfut_echoed_value" not in str(caught.value)


def test_a_server_message_echoing_the_written_value_is_masked():
    vault = Vault(error(400, "BadRequest", "value cfut_echoed_value is not allowed"))

    with make_client(vault) as client, pytest.raises(UnexpectedResponse) as caught:
        client.set("CF_DNS", SecretStr("cfut_echoed_value"))

    assert "cfut_echoed_value" not in str(caught.value) and "is not allowed" in str(caught.value)


def test_a_success_that_is_not_json_is_unexpected():
    vault = Vault(httpx.Response(200, text="<html>proxy</html>"))

    with make_client(vault) as client, pytest.raises(UnexpectedResponse):
        client.list_folder()


def test_a_connection_that_never_opens_raises_service_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with make_client(handler) as client, pytest.raises(ServiceUnavailable):
        client.list_folder()


def test_repr_shows_only_base_url_project_environment_and_path():
    vault = Vault(httpx.Response(200, json={"secrets": [], "imports": []}))

    with make_client(vault) as client:
        client.list_folder()
        text = repr(client)

    assert text == ("InfisicalClient(base_url='https://vault.example.test', project='proj-1', "
                    f"environment='{ENV}', path='{PATH}')")
