"""The Cloudflare client's one seam, against the stand-in over real HTTP: the same calls reach /user/tokens… or
/accounts/{account_id}/tokens… from the owner the client is given."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import SecretStr

from domain.cloudflare_tokens import Policy
from domain.errors import NotAuthorized, TokenInvalid, TokenNotFound
from domain.token_owner import USER, TokenOwner
from standins import cloudflare_state as state
from standins.cloudflare import CloudflareStandIn
from tests.integration.cloudflare_fixtures import standin_fixtures
from workers.clients.cloudflare import CloudflareClient
from workers.clients.http import RetryPolicy

pytestmark = pytest.mark.integration

ACCOUNT_ID = "01a7362d577a6c3019a474fd6f485823"
ACCOUNT = TokenOwner("account", ACCOUNT_ID)
PAGES_WRITE = "8d28297797f24fb8a0c332fe0866ec89"
PAGES_POLICY = state.policy(PAGES_WRITE, resource=f"com.cloudflare.api.account.{ACCOUNT_ID}")

server, standin = standin_fixtures()


@pytest.fixture
def manager(standin: CloudflareStandIn) -> SecretStr:
    """A user token with API Tokens Write on the user and Account API Tokens Write on the account."""
    return SecretStr(standin.add_token("CF_ACCESS_MGMT", policies=[
        state.policy(state.TOKENS_WRITE),
        state.policy(state.ACCOUNT_TOKENS_WRITE, resource=f"com.cloudflare.api.account.{ACCOUNT_ID}")])[1])


def connect(standin: CloudflareStandIn, management: SecretStr, owner: TokenOwner) -> CloudflareClient:
    return CloudflareClient(base_url=standin.url + "/client/v4", management_token=management,
                            retry=RetryPolicy.instant(2), owner=owner)


@pytest.mark.parametrize("owner", [USER, ACCOUNT], ids=["user", "account"])
def test_create_list_roll_update_and_delete_go_to_the_owners_endpoints(standin, manager, owner):
    with connect(standin, manager, owner) as cloudflare:
        token, value = cloudflare.create_token("PAGES", [Policy.model_validate(PAGES_POLICY)])
        listed = cloudflare.list_tokens(name="PAGES")
        rolled = cloudflare.roll(token.id)
        updated = cloudflare.update_token(token, expires_on=standin.clock.now() + timedelta(days=90))
        verification = cloudflare.verify(rolled)
        cloudflare.delete_token(token.id)
        with pytest.raises(TokenNotFound):
            cloudflare.get_token(token.id)

    prefix = "cfut_" if owner is USER else "cfat_"
    assert value.get_secret_value().startswith(prefix) and rolled.get_secret_value().startswith(prefix)
    assert [listed_token.id for listed_token in listed] == [token.id]
    assert updated.expires_on is not None and verification.id == token.id
    assert standin.token(token.id) is None


def test_an_account_token_asked_at_the_user_verify_is_invalid_and_at_its_own_active(standin, manager):
    token_id, value = standin.add_token("PAGES", account_id=ACCOUNT_ID, policies=[PAGES_POLICY],
                                        value=state.legacy_value())

    with connect(standin, manager, USER) as cloudflare:
        with pytest.raises(TokenInvalid):
            cloudflare.verify(SecretStr(value))
        verification = cloudflare.verify(SecretStr(value), ACCOUNT)

    assert verification.id == token_id and verification.status == "active"


def test_the_account_list_includes_an_expired_token_and_the_creator_metadata(standin, manager):
    creator = {"creator_email_at_creation": "alice@example.com", "provisioner_type": "oauth"}
    token_id, _ = standin.add_token("PAGES", account_id=ACCOUNT_ID, policies=[PAGES_POLICY], creator=creator,
                                    expires_on=standin.clock.now() + timedelta(hours=1))
    standin.clock.advance(timedelta(hours=2))

    with connect(standin, manager, ACCOUNT) as cloudflare:
        listed = cloudflare.list_tokens(name="PAGES")
        groups = {group.name: group for group in cloudflare.permission_groups()}

    assert [(token.id, token.status) for token in listed] == [(token_id, "expired")]
    assert listed[0].creator_email_at_creation == "alice@example.com" and listed[0].provisioner_type == "oauth"
    assert groups["Pages Write"].scopes == ["com.cloudflare.api.account"]


def test_a_manager_without_account_api_tokens_write_is_not_authorized_on_account_tokens(standin):
    user_only = SecretStr(standin.add_token("CF_ACCESS_MGMT", policies=[state.policy(state.TOKENS_WRITE)])[1])

    with connect(standin, user_only, ACCOUNT) as cloudflare, pytest.raises(NotAuthorized, match="code 9109"):
        cloudflare.create_token("PAGES", [Policy.model_validate(PAGES_POLICY)])
