import pytest

from domain.token_owner import USER, TokenOwner, kind_mismatch, prefix_kind, verify_order

ACCOUNT_ID = "01a7362d577a6c3019a474fd6f485823"
ACCOUNT = TokenOwner("account", ACCOUNT_ID)
LEGACY = "a" * 40


def test_each_owner_builds_its_own_token_paths():
    assert USER.token_path("abc") == "/user/tokens/abc"
    assert ACCOUNT.token_path("abc") + "/value" == f"/accounts/{ACCOUNT_ID}/tokens/abc/value"
    assert (USER.quota, ACCOUNT.quota) == (50, 500)
    assert ACCOUNT.write_permission == "Account API Tokens Write" and ACCOUNT.label == "account-owned token"


def test_an_account_owner_needs_its_account_id():
    with pytest.raises(ValueError, match="account id"):
        TokenOwner("account")


@pytest.mark.parametrize(("value", "declared", "expected"), [
    ("cfat_" + "x" * 48, USER, (ACCOUNT,)),
    ("cfut_" + "x" * 48, ACCOUNT, (USER,)),
    (LEGACY, USER, (USER, ACCOUNT)),
    (LEGACY, ACCOUNT, (ACCOUNT, USER)),
])
def test_the_prefix_picks_the_verify_endpoint_and_a_legacy_value_tries_the_declared_then_the_other(
        value, declared, expected):
    assert verify_order(value, declared, ACCOUNT_ID) == expected


def test_without_an_account_id_a_legacy_value_is_tried_only_as_a_user_token():
    assert verify_order(LEGACY, USER, None) == (USER,)


def test_a_value_of_the_other_kind_is_named_with_the_inventory_fix_and_never_called_invalid():
    detail, next_step = kind_mismatch("CF_X", "user", "account")

    assert detail.startswith('CF_X is an account-owned token; set `owner = "account"`')
    assert "do not roll it" in next_step and "invalid" not in detail
    assert kind_mismatch("CF_X", "account", "user")[0].startswith('CF_X is a user token; set `owner = "user"`')
    assert kind_mismatch("CF_X", "user", "user") is None and kind_mismatch("CF_X", "user", None) is None


def test_the_prefix_names_the_kind_and_a_legacy_value_names_none():
    assert (prefix_kind("cfat_abc"), prefix_kind("cfut_abc"), prefix_kind(LEGACY)) == ("account", "user", None)
