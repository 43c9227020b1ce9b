import subprocess
import sys
from pathlib import Path

from tests.conftest import make_settings
from workers.cli import check

ROOT = Path(__file__).parents[2]


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def test_check_prints_one_line_naming_a_missing_variable(tmp_path):
    result = run_cli("check", env={"CFTOKEN_CHANNEL_ID": "C0SRE0001", "CFTOKEN_APPROVERS": "U0ALICE01"}, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.splitlines() == ["cftoken: CFTOKEN_SECRET_KEY is not set: see README 'Configuration'"]


def test_check_passes_on_a_complete_configuration(tmp_path):
    env = {
        "CFTOKEN_CHANNEL_ID": "C0SRE0001",
        "CFTOKEN_APPROVERS": "U0ALICE01,U0BOB0002",
        "INFISICAL_CLIENT_ID": "id",
        "INFISICAL_CLIENT_SECRET": "secret",
        "INFISICAL_PROJECT_ID": "proj",
        "CFTOKEN_SECRET_KEY": "k" * 64,
        "FREESCOUT_URL": "https://help.example.org",
        "FREESCOUT_API_KEY": "key",
        "FREESCOUT_MAILBOX_ID": "1",
    }

    result = run_cli("check", env=env, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert "settings and inventory are valid" in result.stdout


def test_check_names_a_broken_inventory_file(tmp_path):
    broken = tmp_path / "inventory.toml"
    broken.write_text((ROOT / "domain" / "inventory.toml").read_text().replace('"raxx.app"]', '"raxx.ap"]'))

    problems = check(make_settings(cftoken_inventory=broken))

    assert len(problems) == 1
    assert "unknown zone 'raxx.ap'" in problems[0]


def test_check_reports_a_vault_path_that_disagrees_with_the_inventory():
    problems = check(make_settings(infisical_secret_path="/Other/cloudflare"))

    assert problems == [
        "INFISICAL_SECRET_PATH is /Other/cloudflare but the inventory says /MooseQuest/cloudflare: make them agree"
    ]


def test_check_warns_that_revoke_cannot_run_without_freescout():
    problems = check(make_settings(freescout_url=None))

    assert problems == ["FREESCOUT_URL is not set: /cftoken revoke will refuse to run"]
