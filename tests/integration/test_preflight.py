"""`cftoken check` as the release phase runs it (a real process), against the stand-ins: it names every problem."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from domain.settings import DEFAULT_INVENTORY
from sandbox.processes import free_port
from standins.world import World

pytestmark = pytest.mark.integration

ROOT = Path(__file__).parents[2]


def check(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "workers.cli", "check", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env})


def lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line.removeprefix("cftoken: ") for line in result.stderr.splitlines()]


def test_a_deploy_that_works_passes_live(world: World, redis_url: str):
    result = check(world.settings_env(redis_url=redis_url))

    assert result.returncode == 0, result.stderr
    assert "Slack, Infisical, the management token and FreeScout answer" in result.stdout
    assert world.infisical.count("POST", "/api/v1/auth/universal-auth/login") == 1


def test_a_wrong_infisical_secret_and_freescout_down_are_each_named(world: World, redis_url: str):
    env = world.settings_env(redis_url=redis_url, infisical_client_secret="not-the-secret",
                             freescout_url=f"http://127.0.0.1:{free_port()}")

    result = check(env)

    assert result.returncode == 1
    found = lines(result)
    assert len(found) == 3, found
    assert found[0].startswith("Infisical: cannot list the vault folder /MooseQuest/cloudflare (prod): infisical "
                               "rejected the machine identity's credentials (HTTP 401")
    assert found[1] == "the management token CF_ACCESS_MGMT was not checked: the vault could not give its value"
    assert found[2].startswith("FreeScout at http://127.0.0.1:") and "did not answer" in found[2]
    assert "not-the-secret" not in result.stderr + result.stdout


def test_a_wrong_management_token_a_missing_note_author_and_a_channel_without_the_bot_are_each_named(
    world: World, redis_url: str
):
    world.put("CF_ACCESS_MGMT", "cfut_" + "x" * 40)
    world.slack.add_channel("C0OTHER01", "other", [], bot_member=False)
    env = world.settings_env(redis_url=redis_url, freescout_user_id="99", freescout_mailbox_id="5",
                             cftoken_channel_id="C0OTHER01")

    result = check(env)

    assert result.returncode == 1
    found = lines(result)
    assert len(found) == 4, found
    assert found[0] == "the bot is not in CFTOKEN_CHANNEL_ID C0OTHER01: /invite @cftoken in that channel"
    assert found[1].startswith("Cloudflare refused the management token CF_ACCESS_MGMT: ")
    assert "Invalid API Token" in found[1] and found[1].endswith("(runbook failure mode D)")
    assert found[2] == "FREESCOUT_MAILBOX_ID 5 is not a FreeScout mailbox this API key sees (mailboxes: 1 SRE incidents)"
    assert found[3] == "FREESCOUT_USER_ID 99 is not a FreeScout user this API key sees (users: 7 cftoken@example.test)"
    assert "cfut_xxxx" not in result.stderr


def test_redis_down_and_a_wrong_slack_token_are_named_in_one_line_each(world: World):
    env = world.settings_env(redis_url=f"redis://127.0.0.1:{free_port()}/0", slack_bot_token="xoxb-wrong")

    result = check(env)

    assert result.returncode == 1
    found = lines(result)
    assert found[0].startswith("Redis at 127.0.0.1:") and found[0].endswith("is not answering: check REDIS_URL and "
                                                                             "that the server runs")
    assert found[1] == "Slack refused SLACK_BOT_TOKEN (auth.test: invalid_auth): copy the Bot User OAuth Token again"
    assert len(found) == 2


def test_offline_asks_no_service(world: World, redis_url: str):
    env = world.settings_env(redis_url=redis_url, infisical_client_secret="not-the-secret")

    result = check(env, "--offline")

    assert result.returncode == 0, result.stderr
    assert world.infisical.count("POST", "/api/v1/auth/universal-auth/login") == 0


def health_lines(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Token name → its health line, from check's stdout."""
    found = {}
    for line in result.stdout.splitlines():
        name, _, rest = line.removeprefix("cftoken: ").partition(": ")
        if name.startswith("CF_"):
            found[name] = rest
    return found


def test_the_release_check_prints_every_tokens_health_read_only_and_passes(world: World, redis_url: str):
    writes_before = sum(world.cloudflare.count(m) for m in ("POST", "PUT", "DELETE"))

    result = check(world.settings_env(redis_url=redis_url))

    assert result.returncode == 0, result.stderr
    health = health_lines(result)
    assert sorted(health) == sorted(world.inventory.names)
    assert all(line.startswith("ok — active, ") for line in health.values()), health
    assert sum(world.cloudflare.count(m) for m in ("POST", "PUT", "DELETE")) == writes_before
    assert world.infisical.count("POST", "/api/v4/secrets") + world.infisical.count("PATCH") == 0


def test_a_broken_token_is_named_with_its_next_step_but_does_not_block_the_release(world: World, redis_url: str):
    world.break_token("CF_PAGES_DEPLOY", "delete")
    world.break_token("CF_DNS_EDIT_GETRAXX_COM", "drop_permission")

    result = check(world.settings_env(redis_url=redis_url))

    assert result.returncode == 0, result.stderr
    health = health_lines(result)
    assert health["CF_PAGES_DEPLOY"].startswith("FAILING — ") and " → " in health["CF_PAGES_DEPLOY"]
    assert not health["CF_DNS_EDIT_GETRAXX_COM"].startswith("ok")
    assert health["CF_WAF_EDIT_RAXX_APP"].startswith("ok — ")


def test_a_vault_path_that_does_not_exist_in_infisical_fails_the_release_naming_it(
        world: World, redis_url: str, tmp_path: Path):
    """The inventory and INFISICAL_SECRET_PATH agree, but Infisical has no such folder (a typo in both)."""
    wrong = "/MooseQuest/cloudfare"
    inventory = tmp_path / "inventory.toml"
    shipped = DEFAULT_INVENTORY.read_text()
    assert f'"{world.vault_path}"' in shipped
    inventory.write_text(shipped.replace(f'"{world.vault_path}"', f'"{wrong}"'))

    result = check(world.settings_env(redis_url=redis_url, infisical_secret_path=wrong,
                                      cftoken_inventory=str(inventory)))

    assert result.returncode == 1
    assert any(line.startswith(f"Infisical: the vault folder {wrong} does not exist in environment prod")
               and "INFISICAL_SECRET_PATH" in line for line in lines(result)), result.stderr
    assert "token health not checked: the vault could not be read (the vault folder " + wrong in result.stdout


def test_a_wrong_infisical_secret_path_alone_fails_the_release_naming_it(world: World, redis_url: str):
    result = check(world.settings_env(redis_url=redis_url, infisical_secret_path="/MooseQuest/cloudfare"))

    assert result.returncode == 1
    assert any("/MooseQuest/cloudfare" in line and "INFISICAL_SECRET_PATH" in line for line in lines(result))


def test_an_approver_slack_does_not_know_globally_or_on_a_token_is_named(world: World, redis_url: str, tmp_path):
    inventory = tmp_path / "inventory.toml"
    inventory.write_text(DEFAULT_INVENTORY.read_text(encoding="utf-8").replace(
        'name = "CF_PAGES_DEPLOY"\n', 'name = "CF_PAGES_DEPLOY"\napprovers = ["S0NOSUCH"]\n', 1), encoding="utf-8")
    env = world.settings_env(redis_url=redis_url, cftoken_approvers="U0ALICE01,U0GONE000",
                             cftoken_inventory=str(inventory))

    result = check(env)

    assert result.returncode == 1
    assert lines(result) == [
        "Slack knows no user U0GONE000 (users.info: user_not_found): check the ID (CFTOKEN_APPROVERS)",
        "Slack knows no user group S0NOSUCH (usergroups.users.list: no_such_subteam): check the ID (the approvers of "
        "CF_PAGES_DEPLOY)",
    ]


def test_a_management_token_without_account_api_tokens_write_is_named_with_the_tokens_it_cannot_manage(
    world: World, redis_url: str
):
    token_id = world.token_ids["CF_ACCESS_MGMT"]
    account_write = world.inventory.permission_groups["Account API Tokens Write"]
    policies = world.cloudflare.token(token_id)["policies"]
    world.cloudflare.set_policies(token_id, [
        {**p, "permission_groups": [g for g in p["permission_groups"] if g["id"] != account_write]}
        for p in policies if [g for g in p["permission_groups"] if g["id"] != account_write]])

    result = check(world.settings_env(redis_url=redis_url))

    assert result.returncode == 1
    assert lines(result) == ["the management token CF_ACCESS_MGMT lacks Account API Tokens Write: it cannot mint, "
                             "roll or revoke the account-owned tokens (CF_PAGES_DEPLOY)"]
