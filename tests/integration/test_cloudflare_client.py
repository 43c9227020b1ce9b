"""The Cloudflare client against the Cloudflare stand-in over real HTTP: results, error mapping, retries, no leaks."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from domain.errors import (
    CftokenError,
    ManagementTokenInvalid,
    NotAuthorized,
    RateLimited,
    ServiceUnavailable,
    TokenInvalid,
    TokenNotFound,
)
from standins import cloudflare_state as state
from standins.cloudflare import CloudflareStandIn
from tests.integration.cloudflare_fixtures import standin_fixtures
from workers.clients.cloudflare import CloudflareClient
from workers.clients.http import RetryPolicy

pytestmark = pytest.mark.integration

WAF_WRITE = "fb6778dc191143babbfaa57993f1d275"
RAXX_APP = "f12dbb5cac57d5591a5058874498a6d1"
ZONE_READ = "c8fed203ed3043cba015a93ad1616f1f"
ZONE_POLICY = state.policy(WAF_WRITE, resource=f"com.cloudflare.api.account.zone.{RAXX_APP}")
TOKENS = "/client/v4/user/tokens"


server, standin = standin_fixtures({"raxx.app": RAXX_APP})


@pytest.fixture
def mgmt(standin: CloudflareStandIn) -> SecretStr:
    """API Tokens Write on the user, Zone Read on every zone (so GET /zones shows them)."""
    policies = [state.policy(state.TOKENS_WRITE),
                state.policy(ZONE_READ, resource="com.cloudflare.api.account.zone.*")]
    return SecretStr(standin.add_token("CF_ACCESS_MGMT", policies=policies)[1])


@pytest.fixture
def waf(standin: CloudflareStandIn) -> tuple[str, SecretStr]:
    token_id, value = standin.add_token("CF_WAF_EDIT_RAXX_APP", policies=[ZONE_POLICY],
                                        expires_on="2031-01-01T00:00:00Z")
    return token_id, SecretStr(value)


def connect(standin: CloudflareStandIn, management: SecretStr | None, attempts: int = 4) -> CloudflareClient:
    return CloudflareClient(base_url=standin.url + "/client/v4", management_token=management,
                            retry=RetryPolicy.instant(attempts))


@pytest.fixture
def client(standin: CloudflareStandIn, mgmt: SecretStr):
    with connect(standin, mgmt) as cf:
        yield cf


def test_verify_returns_the_tokens_id_status_and_expiry(client, waf):
    token_id, value = waf

    verification = client.verify(value)

    assert verification.id == token_id and verification.status == "active"
    assert verification.expires_on == datetime(2031, 1, 1, tzinfo=UTC)


def test_get_token_returns_policies_with_group_names(client, waf):
    token = client.get_token(waf[0])

    assert token.name == "CF_WAF_EDIT_RAXX_APP"
    assert token.policies[0].resources == {f"com.cloudflare.api.account.zone.{RAXX_APP}": "*"}
    assert [(g.id, g.name) for g in token.policies[0].permission_groups] == [(WAF_WRITE, "Zone WAF Write")]


@pytest.mark.parametrize(("extra", "requests"), [(119, 3), (99, 2), (10, 1)])
def test_list_tokens_reads_every_page(standin, client, extra, requests):
    """120 tokens take pages of 50, 50, 20; exactly 100 stop after two pages, as total_pages says."""
    for n in range(extra):
        standin.add_token(f"T{n}", policies=[ZONE_POLICY])

    tokens = client.list_tokens()

    assert sorted(token.id for token in tokens) == sorted(token["id"] for token in standin.tokens())
    assert len(tokens) == extra + 1
    assert standin.count("GET", TOKENS) == requests


def test_roll_returns_a_working_value_and_the_old_one_dies_at_once(standin, client, waf):
    token_id, old = waf

    new = client.roll(token_id)

    assert new.get_secret_value() == standin.value_of(token_id) != old.get_secret_value()
    assert client.verify(new).id == token_id
    with pytest.raises(TokenInvalid):
        client.verify(old)


def test_update_token_sets_expiry_and_keeps_everything_else(standin, client, waf):
    before = client.get_token(waf[0])
    expiry = datetime(2032, 6, 1, 12, 0, tzinfo=UTC)

    after = client.update_token(before, expires_on=expiry)

    assert after.expires_on == expiry
    assert (after.id, after.name, after.status) == (before.id, before.name, before.status)
    assert after.policies[0].resources == before.policies[0].resources
    assert standin.value_of(waf[0]) == waf[1].get_secret_value()


def test_update_token_keeps_the_ip_condition(standin, client):
    policy = client.get_token(standin.add_token("SEED", policies=[ZONE_POLICY])[0]).policies[0]
    created, _ = client.create_token("LIMITED", [policy], condition={"request.ip": {"in": ["199.27.128.0/21"]}})

    updated = client.update_token(created, expires_on=datetime(2031, 1, 1, tzinfo=UTC))

    assert updated.condition == {"request_ip": {"in": ["199.27.128.0/21"]}}
    assert updated.expires_on == datetime(2031, 1, 1, tzinfo=UTC)


def test_create_token_returns_the_token_and_its_value(standin, client):
    policy = client.get_token(standin.add_token("SEED", policies=[ZONE_POLICY])[0]).policies[0]

    token, value = client.create_token("NEW", [policy], expires_on=datetime(2031, 3, 1, tzinfo=UTC))

    assert standin.value_of(token.id) == value.get_secret_value()
    assert token.expires_on == datetime(2031, 3, 1, tzinfo=UTC)


def test_delete_token_revokes_it(standin, client, waf):
    client.delete_token(waf[0])

    assert standin.token(waf[0]) is None
    with pytest.raises(TokenNotFound):
        client.get_token(waf[0])
    with pytest.raises(TokenInvalid):
        client.verify(waf[1])


def test_zone_by_name_finds_the_zone_or_none(standin, client):
    standin.add_zone("getraxx.com", "0bdcee38d1da2d021eb6166f0bd6204f")

    assert client.zone_by_name("raxx.app").id == RAXX_APP
    assert client.zone_by_name("example.com") is None


def test_permission_groups_include_the_runbooks_ids(client):
    groups = {group.name: group.id for group in client.permission_groups()}

    assert groups["Zone WAF Write"] == WAF_WRITE and groups["API Tokens Write"] == state.TOKENS_WRITE


def test_verify_of_an_expired_token_raises_token_invalid(standin, client):
    value = standin.add_token("OLD", policies=[ZONE_POLICY], expires_on=standin.clock.now() - timedelta(1))[1]

    with pytest.raises(TokenInvalid):
        client.verify(SecretStr(value))


def test_a_disabled_management_token_raises_management_token_invalid(standin, client, mgmt):
    standin.set_status(standin.tokens()[0]["id"], "disabled")

    with pytest.raises(ManagementTokenInvalid) as caught:
        client.list_tokens()

    assert "management token" in str(caught.value)


def test_no_management_token_raises_before_any_request(standin, waf):
    with connect(standin, None) as cf, pytest.raises(ManagementTokenInvalid):
        cf.roll(waf[0])

    assert standin.count() == 0


def test_a_token_without_api_tokens_write_raises_not_authorized(standin, waf):
    with connect(standin, waf[1]) as cf, pytest.raises(NotAuthorized):
        cf.roll(waf[0])

    assert standin.value_of(waf[0]) == waf[1].get_secret_value()


@pytest.mark.parametrize("call", ["get_token", "roll", "delete_token"])
def test_an_unknown_token_id_raises_token_not_found(client, call):
    with pytest.raises(TokenNotFound) as caught:
        getattr(client, call)("0" * 32)

    assert "0" * 32 in str(caught.value)


def test_verify_rides_out_two_429s(standin, client, waf):
    standin.faults.fail_next(TOKENS + "/verify", 2, "429", retry_after=0)

    assert client.verify(waf[1]).id == waf[0]
    assert standin.count("GET", TOKENS + "/verify") == 3


def test_a_5xx_burst_then_recovery_is_retried(standin, client, waf):
    standin.faults.fail_next(TOKENS, 3, "503")

    assert client.get_token(waf[0]).id == waf[0]
    assert standin.count("GET", TOKENS) == 4


def test_a_dropped_connection_is_retried(standin, client, waf):
    standin.faults.fail_next(TOKENS, 1, "drop")

    client.delete_token(waf[0])

    assert standin.token(waf[0]) is None


def test_persistent_5xx_raises_service_unavailable_after_every_attempt(standin, client, waf):
    standin.faults.fail_next(TOKENS, 10, "500")

    with pytest.raises(ServiceUnavailable):
        client.get_token(waf[0])

    assert standin.count("GET", TOKENS) == 4


def test_persistent_429_raises_rate_limited_with_retry_after(standin, client, waf):
    standin.faults.fail_next(TOKENS, 10, "429", retry_after=2)

    with pytest.raises(RateLimited) as caught:
        client.list_tokens()

    assert caught.value.retry_after == 2


def test_the_standins_rate_limit_surfaces_as_rate_limited(standin, client):
    standin.reset(rate_limit=1)
    value = standin.add_token("WAF", policies=[ZONE_POLICY])[1]
    client.verify(SecretStr(value))

    with pytest.raises(RateLimited) as caught:
        client.verify(SecretStr(value))

    assert caught.value.retry_after > 30  # beyond max_retry_after: not waited out
    assert standin.count("GET", TOKENS + "/verify") == 2


@pytest.mark.parametrize("kind", ["500", "drop", "429"])
def test_roll_is_never_retried(standin, client, waf, kind):
    standin.faults.fail_next(TOKENS, 1, kind, retry_after=0)

    with pytest.raises((ServiceUnavailable, RateLimited)):
        client.roll(waf[0])

    assert standin.count("PUT", TOKENS) == 1
    assert standin.value_of(waf[0]) == waf[1].get_secret_value()


def test_create_token_is_never_retried(standin, client):
    policy = client.get_token(standin.add_token("SEED", policies=[ZONE_POLICY])[0]).policies[0]
    standin.faults.fail_next(TOKENS, 1, "502", method="POST")

    with pytest.raises(ServiceUnavailable):
        client.create_token("NEW", [policy])

    assert standin.count("POST", TOKENS) == 1 and len(standin.tokens()) == 2


def test_no_token_value_appears_in_logs_errors_or_reprs(standin, client, mgmt, waf, caplog):
    caplog.set_level(logging.DEBUG)
    rolled = client.roll(waf[0])
    seen = [repr(client), repr(rolled), str(rolled), repr(client.verify(rolled)), repr(client.get_token(waf[0]))]
    not_management = connect(standin, rolled)

    def fails(expected: type[CftokenError], call) -> None:
        with pytest.raises(expected) as caught:
            call()
        seen.extend([str(caught.value), repr(caught.value), caught.value.runbook])

    fails(TokenInvalid, lambda: client.verify(waf[1]))
    fails(TokenNotFound, lambda: client.get_token("0" * 32))
    fails(NotAuthorized, not_management.list_tokens)
    standin.faults.fail_next(TOKENS, 1, "500")
    fails(ServiceUnavailable, lambda: client.roll(waf[0]))
    standin.set_status(standin.tokens()[0]["id"], "disabled")
    fails(ManagementTokenInvalid, client.list_tokens)
    not_management.close()

    text = "\n".join(seen) + caplog.text
    assert len(seen) == 20 and "Invalid API Token" in text and caplog.records
    for secret in (mgmt, waf[1], rolled):
        assert secret.get_secret_value() not in text
