import json
import re
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from domain.redis_conn import redis_where
from tests.conftest import make_settings
from workers.cli import describe_scan
from workers.cli.check import offline_check
from workers.scan.scan import ScanReport

ROOT = Path(__file__).parents[2]
COMPLETE = {
    "CFTOKEN_CHANNEL_ID": "C0SRE0001",
    "CFTOKEN_APPROVERS": "U0ALICE01,U0BOB0002",
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "signing",
    "INFISICAL_CLIENT_ID": "id",
    "INFISICAL_CLIENT_SECRET": "secret",
    "INFISICAL_PROJECT_ID": "proj",
    "CFTOKEN_SECRET_KEY": "k" * 64,
    "FREESCOUT_URL": "https://help.example.org",
    "FREESCOUT_API_KEY": "key",
    "FREESCOUT_MAILBOX_ID": "1",
    "FREESCOUT_USER_ID": "7",
}


def run_cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "workers.cli", *args],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def test_check_names_every_missing_variable_one_line_each_and_exits_2(tmp_path):
    result = run_cli("check", env={"CFTOKEN_CHANNEL_ID": "C0SRE0001", "CFTOKEN_APPROVERS": "U0ALICE01"}, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "cftoken: CFTOKEN_SECRET_KEY is not set: see README 'Configuration'",
        "cftoken: SLACK_BOT_TOKEN is not set: see README 'Configuration'",
        "cftoken: INFISICAL_CLIENT_ID is not set: see README 'Configuration'",
        "cftoken: INFISICAL_CLIENT_SECRET is not set: see README 'Configuration'",
        "cftoken: INFISICAL_PROJECT_ID is not set: see README 'Configuration'",
        "cftoken: the inventory and the live checks were not run: the settings above must load first",
    ]


def test_check_offline_with_settings_missing_does_not_talk_of_live_checks_it_was_told_to_skip(tmp_path):
    result = run_cli("check", "--offline", env={"CFTOKEN_CHANNEL_ID": "C0SRE0001"}, cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == "cftoken: the inventory was not checked: the settings above must load first"
    assert "live" not in result.stderr


def test_check_offline_passes_on_a_complete_configuration(tmp_path):
    result = run_cli("check", "--offline", env=COMPLETE, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stdout == "cftoken: settings and inventory are valid\n"


def test_an_unknown_option_is_a_usage_error(tmp_path):
    assert run_cli("check", "--online", env=COMPLETE, cwd=tmp_path).returncode == 2


def test_check_names_a_broken_inventory_file(tmp_path):
    broken = tmp_path / "inventory.toml"
    broken.write_text((ROOT / "domain" / "inventory.toml").read_text().replace('"raxx.app"]', '"raxx.ap"]'))

    inventory, problems = offline_check(make_settings(cftoken_inventory=broken))

    assert inventory is None and len(problems) == 1
    assert "unknown zone 'raxx.ap'" in problems[0]


def test_check_reports_a_vault_path_that_disagrees_with_the_inventory():
    _, problems = offline_check(make_settings(infisical_secret_path="/Other/cloudflare"))

    assert problems == [
        "INFISICAL_SECRET_PATH is /Other/cloudflare but the inventory says /MooseQuest/cloudflare: make them agree"
    ]


def test_check_says_revoke_cannot_run_without_freescout():
    _, problems = offline_check(make_settings(freescout_url=None, freescout_api_key=None, freescout_mailbox_id=None,
                                              freescout_user_id=None))

    assert problems == [
        "FREESCOUT_URL, FREESCOUT_API_KEY, FREESCOUT_MAILBOX_ID and FREESCOUT_USER_ID are not set: "
        "/cftoken revoke will refuse to run",
    ]


def test_scan_and_reconcile_say_redis_is_down_in_one_line(tmp_path):
    env = {**COMPLETE, "REDIS_URL": "redis://:hunter2@127.0.0.1:1/3"}

    for command in ("scan", "reconcile"):
        result = run_cli(command, env=env, cwd=tmp_path)

        assert result.returncode == 1
        assert result.stderr.splitlines() == [
            "cftoken: Redis at 127.0.0.1:1/3 is not answering: check REDIS_URL and that the server runs"
        ]


def test_redis_where_never_shows_the_password():
    assert redis_where("rediss://:p4ss@ec2-1.compute.amazonaws.com:25061") == "ec2-1.compute.amazonaws.com:25061/0"


def test_a_scan_report_reads_as_one_line():
    report = asdict(ScanReport(checked=5, warned=("CF_PAGES_DEPLOY:7d",), reminded=(), problems=("CF_DNS:drift",),
                               fixed=(), messages=("1.2",)))

    assert describe_scan(json.loads(json.dumps(report))) == (
        "scanned 5 token(s): 1 expiry warning(s): CF_PAGES_DEPLOY:7d; 0 reminder(s); 1 new problem(s): CF_DNS:drift; "
        "0 fixed; 0 value(s) verified; 1 message(s) for the channel")
    assert describe_scan(None) == "another expiry scan was running; this one stood down"


def test_version_prints_the_installed_version(tmp_path):
    result = run_cli("--version", env={}, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"cftoken (\d+\.\d+\.\d+.*|\(not installed\))\n", result.stdout)


def test_scan_asks_only_for_redis(tmp_path):
    result = run_cli("scan", env={"REDIS_URL": "redis://127.0.0.1:1/0"}, cwd=tmp_path)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "cftoken: Redis at 127.0.0.1:1/0 is not answering: check REDIS_URL and that the server runs"]


def test_inventory_import_asks_only_for_the_vault_one_problem_per_line(tmp_path):
    result = run_cli("inventory", "import", env={"CLOUDFLARE_API_URL": "ftp://x"}, cwd=tmp_path)

    assert result.returncode == 2
    assert sorted(result.stderr.splitlines()) == sorted([
        "cftoken: CLOUDFLARE_API_URL is malformed: expected an http:// or https:// URL",
        "cftoken: INFISICAL_CLIENT_ID is not set: see README 'Configuration'",
        "cftoken: INFISICAL_CLIENT_SECRET is not set: see README 'Configuration'",
        "cftoken: INFISICAL_PROJECT_ID is not set: see README 'Configuration'",
    ])


def test_reconcile_names_every_missing_setting_on_a_line_of_its_own(tmp_path):
    result = run_cli("reconcile", env={}, cwd=tmp_path)

    lines = result.stderr.splitlines()
    assert result.returncode == 2
    assert "cftoken: SLACK_BOT_TOKEN is not set: see README 'Configuration'" in lines
    assert "cftoken: CFTOKEN_CHANNEL_ID is not set: see README 'Configuration'" in lines
    assert len(lines) == 6 and max(len(line) for line in lines) < 100
    assert "Traceback" not in result.stderr
