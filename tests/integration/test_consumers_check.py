"""`cftoken check` (a real process, against the stand-ins) resolves every consumer's secret sync and owner: it lists
what it resolved, names the syncs of the vault folder no consumer names, and exits 1 naming a sync that does not
exist or copies another folder, and an owner Slack does not know."""

from __future__ import annotations

import pytest

from domain.settings import DEFAULT_INVENTORY
from standins.world import PROJECT_ID, World, consumers_inventory_text
from tests.integration.test_preflight import check, lines

pytestmark = pytest.mark.integration

DNS = 'name = "CF_DNS_EDIT_GETRAXX_COM"\n'
TERRAFORM = '{ who = "Terraform / ad-hoc CLI", how = '


def inventory_with(tmp_path, consumers: str) -> str:
    """The shipped inventory with `consumers` added before the DNS token's Terraform consumer."""
    text = DEFAULT_INVENTORY.read_text(encoding="utf-8")
    assert TERRAFORM in text
    path = tmp_path / "inventory.toml"
    path.write_text(text.replace(TERRAFORM, consumers + "\n  " + TERRAFORM, 1), encoding="utf-8")
    return str(path)


def test_check_lists_each_sync_and_owner_it_resolved(world: World, redis_url: str, tmp_path):
    world.add_syncs()
    inventory = inventory_with(tmp_path, '{ who = "site deploy", how = "GitHub Actions", sync = "gh-deploy", '
                                         'owner = "<@U0ALICE01>" },')
    result = check(world.settings_env(redis_url=redis_url, cftoken_inventory=inventory))

    assert result.returncode == 0, result.stderr
    out = [line.removeprefix("cftoken: ") for line in result.stdout.splitlines()]
    assert "CF_DNS_EDIT_GETRAXX_COM: site deploy ← GitHub raxx/site (sync gh-deploy), auto-sync on, never run" in out
    assert ("the vault folder is also synced to Cloudflare Workers edge (sync cf-worker-edge) (no consumer names "
            "them)") in out
    assert "consumer owner <@U0ALICE01>: 1 person(s) Slack knows" in out


def test_check_exits_1_naming_a_sync_that_does_not_exist_one_of_another_folder_and_an_unknown_owner(
        world: World, redis_url: str, tmp_path):
    world.add_syncs()
    world.infisical.add_folder(PROJECT_ID, "dev", world.vault_path)
    world.infisical.syncs.add(PROJECT_ID, "dev", world.vault_path, name="dev-worker", destination="cloudflare-workers")
    inventory = inventory_with(tmp_path, '{ who = "site", how = "CI", sync = "gh-deplyo" },\n'
                                         '  { who = "dev", how = "tests", sync = "dev-worker" },\n'
                                         '  { who = "tf", how = "by hand", owner = "<@U0GONE000>", confirm = true },')
    result = check(world.settings_env(redis_url=redis_url, cftoken_inventory=inventory))

    assert result.returncode == 1
    found = lines(result)
    assert any("names the secret sync 'gh-deplyo', which Infisical's project" in line and "fix `sync`" in line
               for line in found), found
    assert any("the secret sync dev-worker copies /MooseQuest/cloudflare (dev), not the vault's folder" in line
               for line in found), found
    assert any(line.startswith("consumer owner <@U0GONE000>: Slack knows no user U0GONE000") for line in found)


def test_an_owner_that_is_not_a_slack_mention_is_refused_with_what_to_write(world: World, redis_url: str, tmp_path):
    inventory = inventory_with(tmp_path, '{ who = "tf", how = "by hand", owner = "alice", confirm = true },')
    result = check(world.settings_env(redis_url=redis_url, cftoken_inventory=inventory), "--offline")

    assert result.returncode != 0
    assert "must be a Slack user \"<@U…>\" or user group" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_on_the_sandbox_world_lists_its_two_syncs_and_both_owners(world: World, redis_url: str, tmp_path):
    world.add_syncs()
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(consumers_inventory_text(DEFAULT_INVENTORY.read_text(encoding="utf-8")), encoding="utf-8")
    result = check(world.settings_env(redis_url=redis_url, cftoken_inventory=str(inventory)))

    assert result.returncode == 0, result.stderr
    out = [line.removeprefix("cftoken: ") for line in result.stdout.splitlines()]
    assert [line for line in out if "←" in line] == [
        "CF_DNS_EDIT_GETRAXX_COM: site deploy (GitHub Actions) ← GitHub raxx/site (sync gh-deploy), auto-sync on, "
        "never run",
        "CF_DNS_EDIT_GETRAXX_COM: edge Worker ← Cloudflare Workers edge (sync cf-worker-edge), auto-sync off: the "
        "bot triggers it after each write, never run",
    ]
    assert "consumer owner <@U0ALICE01>: 1 person(s) Slack knows" in out
    assert "consumer owner <@U0BOB0002>: 1 person(s) Slack knows" in out
