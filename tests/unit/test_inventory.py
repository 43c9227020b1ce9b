from pathlib import Path

import pytest

from domain.inventory import InventoryError, load_inventory
from domain.settings import DEFAULT_INVENTORY

SHIPPED = DEFAULT_INVENTORY.read_text()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.toml"
    path.write_text(text)
    return path


def test_the_shipped_inventory_holds_the_runbooks_tokens():
    inventory = load_inventory(DEFAULT_INVENTORY)

    assert inventory.names == (
        "CF_WAF_EDIT_RAXX_APP",
        "CF_DNS_EDIT_GETRAXX_COM",
        "CF_PAGES_DEPLOY",
        "CF_ACCESS_MGMT",
        "CF_PAGES_READ",
    )
    waf = inventory.find("CF_WAF_EDIT_RAXX_APP")
    assert [t.token_id for t in inventory.tokens] == [None] * 5  # every id is read from __TOKEN_ID at run time
    assert inventory.zone_ids(waf) == {"f12dbb5cac57d5591a5058874498a6d1"}
    assert inventory.permission_ids(waf) == {"fb6778dc191143babbfaa57993f1d275", "c8fed203ed3043cba015a93ad1616f1f"}
    assert inventory.management.name == "CF_ACCESS_MGMT"
    assert inventory.find("CF_PAGES_DEPLOY").token_id is None  # read from __TOKEN_ID at run time
    assert inventory.find("CF_PAGES_DEPLOY").zones == ()  # Pages is account-level
    assert inventory.is_account_level("Pages Write") and not inventory.is_account_level("DNS Write")
    assert inventory.vault.path == "/MooseQuest/cloudflare"


def test_names_match_case_insensitively_and_misspellings_get_a_suggestion():
    inventory = load_inventory(DEFAULT_INVENTORY)

    assert inventory.find("cf_dns_edit_getraxx_com").name == "CF_DNS_EDIT_GETRAXX_COM"
    assert inventory.find("CF_WAF_EDIT_RAXX_APPP") is None
    assert inventory.suggest("CF_WAF_EDIT_RAX_APP") == "CF_WAF_EDIT_RAXX_APP"
    assert inventory.suggest("completely-different") is None


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('zones = ["raxx.app"]', 'zones = ["raxx.apq"]', r"inventory.toml:\d+: file: token CF_WAF_EDIT_RAXX_APP: unknown zone 'raxx.apq'"),
        ('permissions = ["DNS Write", "Zone Read"]', 'permissions = ["DNS Wrote", "Zone Read"]', r"unknown permission 'DNS Wrote'"),
        ("cadence_days = 90\nunblocks = \"Pages deploys\"", "cadence_days = 0\nunblocks = \"Pages deploys\"", r"inventory.toml:\d+: tokens.2: cadence_days 0 must be between 1 and 3650"),
        ('name = "CF_PAGES_READ"', 'name = "CF_PAGES_DEPLOY"', r"inventory.toml:\d+: file: token 'CF_PAGES_DEPLOY' is listed twice"),
        ('name = "CF_WAF_EDIT_RAXX_APP"\n', 'name = "CF_WAF_EDIT_RAXX_APP"\ntoken_id = "not-hex"\n', r"token_id 'not-hex' must be 32 lowercase hex"),
        ('"raxx.io" = "f3d1b89d86d1aa63a003f2826a8f841c"', '"raxx.io" = "xyz"', r"\[zones\] 'raxx.io' = 'xyz'"),
        ('management_token = "CF_ACCESS_MGMT"', 'management_token = "CF_NOPE"', r"management_token 'CF_NOPE' is not one of the tokens"),
        ("cadence_days = 90\nunblocks = \"Console", "cadence = 90\nunblocks = \"Console", r"tokens.4.cadence"),
    ],
)
def test_a_bad_inventory_is_rejected_with_a_message_naming_the_problem(tmp_path, old, new, expected):
    assert old in SHIPPED
    path = write(tmp_path, SHIPPED.replace(old, new, 1))

    with pytest.raises(InventoryError, match=expected):
        load_inventory(path)


def test_the_error_names_the_line_of_the_bad_value(tmp_path):
    text = SHIPPED.replace('zones = ["getraxx.com"]', 'zones = ["getraxx.org"]')
    line = text.splitlines().index('zones = ["getraxx.org"]') + 1

    with pytest.raises(InventoryError) as caught:
        load_inventory(write(tmp_path, text))

    assert f"inventory.toml:{line}:" in str(caught.value)


def test_invalid_toml_and_a_missing_file_are_reported_plainly(tmp_path):
    with pytest.raises(InventoryError, match="not valid TOML"):
        load_inventory(write(tmp_path, "[zones\n"))
    with pytest.raises(InventoryError, match="cannot read the inventory"):
        load_inventory(tmp_path / "absent.toml")


def account_owned(text: str = SHIPPED) -> str:
    """The shipped inventory with CF_PAGES_READ declared account-owned."""
    return text.replace('name = "CF_PAGES_READ"\n', 'name = "CF_PAGES_READ"\nowner = "account"\n')


def test_an_account_owned_token_without_an_account_id_is_refused_naming_both(tmp_path):
    text = account_owned(SHIPPED.replace("\naccount_id = ", "\n# account_id = "))

    with pytest.raises(InventoryError, match=r"account_id is required: .*CF_PAGES_READ is account-owned"):
        load_inventory(write(tmp_path, text))


def test_each_token_says_its_owner_and_which_token_manages_it(tmp_path):
    text = account_owned(SHIPPED).replace('account_management_token = "CF_ACCESS_MGMT"\n',
                                          'account_management_token = "CF_WAF_EDIT_RAXX_APP"\n')
    inventory = load_inventory(write(tmp_path, text))

    pages, waf = inventory.find("CF_PAGES_READ"), inventory.find("CF_WAF_EDIT_RAXX_APP")
    assert inventory.owner(pages).tokens_path == "/accounts/01a7362d577a6c3019a474fd6f485823/tokens"
    assert inventory.owner(waf).tokens_path == "/user/tokens"
    assert inventory.manager_name(inventory.owner(pages)) == "CF_WAF_EDIT_RAXX_APP"
    assert inventory.manager_name(inventory.owner(waf)) == "CF_ACCESS_MGMT"
    assert inventory.is_management(waf)
    assert [owner.kind for owner in inventory.owners] == ["user", "account"]


def test_an_unknown_owner_or_account_management_token_is_refused(tmp_path):
    bad_owner = SHIPPED.replace('name = "CF_PAGES_READ"\n', 'name = "CF_PAGES_READ"\nowner = "team"\n')
    bad_manager = SHIPPED.replace('account_management_token = "CF_ACCESS_MGMT"\n',
                                  'account_management_token = "CF_NOPE"\n')

    with pytest.raises(InventoryError, match=r"tokens\.4\.owner"):
        load_inventory(write(tmp_path, bad_owner))
    with pytest.raises(InventoryError, match="account_management_token 'CF_NOPE' is not one of the tokens"):
        load_inventory(write(tmp_path, bad_manager))


def own_approvers(lines: str) -> str:
    return SHIPPED.replace('name = "CF_PAGES_DEPLOY"\n', f'name = "CF_PAGES_DEPLOY"\n{lines}\n', 1)


def test_a_token_may_name_its_own_approvers_and_approvals(tmp_path):
    inventory = load_inventory(write(tmp_path, own_approvers('approvers = ["S0SECURITY", "U0ALICE01"]\napprovals = 2')))

    token = inventory.find("CF_PAGES_DEPLOY")
    assert (token.approvers, token.approvals) == (("S0SECURITY", "U0ALICE01"), 2)
    assert inventory.find("CF_PAGES_READ").approvers == () and inventory.find("CF_PAGES_READ").approvals is None


@pytest.mark.parametrize(("lines", "expected"), [
    ('approvers = ["security-team"]', r"approvers: 'security-team' is not a Slack user ID \(U…/W…\) or user-group ID"),
    ('approvers = ["S0SECURITY", "S0WAFTEAM"]', r"approvers may name one user group \(S…\) at most"),
    ('approvers = ["U0ALICE01", "U0ALICE01"]', r"approvers lists someone twice"),
    ("approvals = 0", r"approvals 0 must be between 1 and 5"),
    ("approvals = 6", r"approvals 6 must be between 1 and 5"),
])
def test_bad_approvers_or_approvals_are_refused_naming_the_line(tmp_path, lines, expected):
    with pytest.raises(InventoryError, match=r"inventory.toml:\d+: .*" + expected):
        load_inventory(write(tmp_path, own_approvers(lines)))
