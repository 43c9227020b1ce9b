"""`cftoken inventory import` and `diff` against the seeded world, as an operator runs them (the installed CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from domain.inventory import load_inventory
from tests.conftest import make_settings
from workers.clients.http import RetryPolicy
from workers.services import build_services
from workers.verify.verification import verify_and_report

pytestmark = pytest.mark.integration
CFTOKEN = str(Path(sys.executable).with_name("cftoken"))


def cftoken(world, redis_url: str, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, **world.settings_env(redis_url=redis_url, **env)}
    return subprocess.run([CFTOKEN, *args], env=environment, capture_output=True, text=True, timeout=60)


def test_import_prints_an_inventory_that_loads_and_verify_finds_every_token_healthy(world, redis_conn, redis_url,
                                                                                     tmp_path):
    imported = cftoken(world, redis_url, "inventory", "import")
    assert imported.returncode == 0, imported.stderr
    path = tmp_path / "imported.toml"
    path.write_text(imported.stdout)

    inventory = load_inventory(path)

    assert set(inventory.names) == set(world.inventory.names)
    assert inventory.management_token == "CF_ACCESS_MGMT"
    assert [t.token_id for t in inventory.tokens] == [None] * 5  # every id is in the vault's __TOKEN_ID: no pins
    assert inventory.find("CF_WAF_EDIT_RAXX_APP").zones == ("raxx.app",)
    assert inventory.find("CF_PAGES_DEPLOY").zones == () and inventory.is_account_level("Pages Write")
    assert {t.name for t in inventory.tokens if t.owner == "account"} == {"CF_PAGES_DEPLOY"}  # the account's list
    assert inventory.account_id == world.inventory.account_id
    assert "# guessed: cadence_days = 90" in imported.stdout  # the seeded expiries are not a cadence apart
    settings = make_settings(**world.settings_values(redis_url=redis_url), cftoken_inventory=str(path))
    services = build_services(settings, clock=world.clock.now, retry=RetryPolicy.instant())
    try:
        for token in inventory.tokens:
            diagnosis = verify_and_report(services, token.name)
            assert diagnosis.state == "healthy", (token.name, diagnosis.summary)
    finally:
        services.close()
    assert not any(value in imported.stdout for value in world.cloudflare.issued_values())


def test_import_says_what_it_left_out(world, redis_url):
    world.remove("CF_PAGES_READ")
    world.remove("CF_PAGES_READ__TOKEN_ID")
    world.remove("CF_PAGES_READ__SCOPES")

    imported = cftoken(world, redis_url, "inventory", "import")

    assert f"# Cloudflare token CF_PAGES_READ ({world.token_ids['CF_PAGES_READ']}) has no value in the vault" \
        in imported.stdout


def test_diff_shows_per_token_how_the_inventory_and_cloudflare_differ(world, redis_url, tmp_path):
    declared = Path(world_inventory_path()).read_text().replace(
        'permissions = ["Zone WAF Write", "Zone Read"]', 'permissions = ["Zone WAF Write"]')
    path = tmp_path / "inventory.toml"
    path.write_text(declared + '\n[[tokens]]\nname = "CF_DNS_EDIT_RAXX_IO"\nscope = "DNS"\nzones = ["raxx.io"]\n'
                    'permissions = ["DNS Write", "Zone Read"]\ncadence_days = 90\n')

    diff = cftoken(world, redis_url, "inventory", "diff", cftoken_inventory=str(path))

    lines = diff.stdout.splitlines()
    assert diff.returncode == 1
    assert "CF_WAF_EDIT_RAXX_APP: permissions: extra Zone Read" in lines
    assert "CF_DNS_EDIT_GETRAXX_COM: same as at Cloudflare" in lines
    assert any(line.startswith("CF_DNS_EDIT_RAXX_IO: not at Cloudflare") for line in lines)


def world_inventory_path() -> str:
    from domain.settings import DEFAULT_INVENTORY

    return str(DEFAULT_INVENTORY)


@pytest.mark.parametrize("where", ["only at Cloudflare", "in the vault too"])
def test_a_cloudflare_token_name_with_newlines_and_toml_never_injects_an_entry(world, redis_url, tmp_path, where):
    hostile = 'evil\n[[tokens]]\nname = "CF_INJECTED"\nscope = "x"\x7f\u2028'
    policies = world.cloudflare.token(world.token_ids["CF_PAGES_READ"])["policies"]
    same_id = None
    if where == "in the vault too":  # the vault's token, renamed at Cloudflare
        same_id = world.token_ids["CF_PAGES_READ"]
        world.cloudflare.remove(same_id)
    world.cloudflare.add_token(hostile, policies=policies, token_id=same_id)

    imported = cftoken(world, redis_url, "inventory", "import")

    assert imported.returncode == 0, imported.stderr
    parsed = tomllib.loads(imported.stdout)
    assert "CF_INJECTED" not in [token["name"] for token in parsed["tokens"]]
    assert "[[tokens]]\nname = \"CF_INJECTED\"" not in imported.stdout
    path = tmp_path / "imported.toml"
    path.write_text(imported.stdout)
    assert "CF_INJECTED" not in load_inventory(path).names
    if where == "only at Cloudflare":  # said, escaped, in its comment
        assert '# Cloudflare token evil\\n[[tokens]]\\nname = "CF_INJECTED"' in imported.stdout, imported.stdout


def test_import_and_diff_need_only_the_vault_and_cloudflare_settings(world, redis_url):
    from domain.settings import SourceSettings

    wanted = {name.upper() for name in SourceSettings.model_fields}
    only = {key: value for key, value in world.settings_env(redis_url=redis_url).items() if key in wanted}
    bare = {key: value for key, value in os.environ.items() if not key.startswith(("CFTOKEN_", "SLACK_", "REDIS_"))}

    for what in ("import", "diff"):
        result = subprocess.run([CFTOKEN, "inventory", what], env={**bare, **only}, capture_output=True, text=True,
                                timeout=60)

        assert result.returncode == 0, result.stderr
        assert result.stderr == ""


def test_a_service_that_does_not_answer_is_one_line_with_what_to_do(world, redis_url):
    result = cftoken(world, redis_url, "inventory", "diff", cloudflare_api_url="http://127.0.0.1:9")

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "cftoken: cloudflare did not answer (ConnectError) — The service did not answer; the bot retried. Try again "
        "in a few minutes or check its status page.",
    ]
