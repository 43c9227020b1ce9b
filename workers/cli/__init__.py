"""The `cftoken` operator CLI: `check` is the deploy's pre-flight (and prints each token's health, read-only),
`scan` enqueues an expiry scan, `reconcile` resumes unfinished operations now, `inventory import` drafts an
inventory and `inventory diff` compares one.

Exit codes: 0 all is well; 1 problems found (one line each on stderr) or the command could not run (Redis down);
2 a usage error, or settings so incomplete that nothing else could be checked (every settings problem listed).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import redis

from domain.errors import CftokenError, SettingsError
from domain.inventory import Inventory
from domain.settings import RedisSettings, Settings, SourceSettings, WorkerSettings, load_settings
from workers.cli.check import live_check, offline_check, redis_down, settings_check, vault_client
from workers.clients.infisical import InfisicalClient

OK, PROBLEMS, UNUSABLE = 0, 1, 2
SCAN_WAIT_SECONDS = 120.0


def check(*, offline: bool) -> int:
    """Settings, inventory and (unless offline) every service live; print each problem, return the exit code."""
    problems = settings_check()
    if problems:
        skipped = "the inventory was not checked" if offline else "the inventory and the live checks were not run"
        _say(*problems, f"{skipped}: the settings above must load first")
        return UNUSABLE
    settings = load_settings(Settings)
    inventory, problems = offline_check(settings)
    if inventory is not None and not offline:
        with vault_client(settings) as vault:
            problems += live_check(settings, inventory, vault)
            problems += _consumers(settings, inventory, vault, problems)
            if redis_down(settings.redis_url) not in problems:
                _health(settings, vault)
    if problems:
        _say(*problems)
        return PROBLEMS
    live = "" if offline else ("; Redis, Slack, Infisical, the management token and FreeScout answer as the bot "
                               "needs (each token's health above)")
    print(f"cftoken: settings and inventory are valid{live}")
    return OK


def _consumers(settings: Settings, inventory: Inventory, vault: InfisicalClient, problems: list[str]) -> list[str]:
    """Print each consumer's sync and owner resolved (workers/consumers/check.py); return what was not."""
    from workers.cli.check import slack_client
    from workers.consumers.check import consumers_check

    slack_down = any("SLACK_BOT_TOKEN" in line or "SLACK_API_URL" in line for line in problems)
    resolved, found = consumers_check(inventory, vault, None if slack_down else slack_client(settings))
    for line in resolved:
        print(f"cftoken: {line}")
    return found


def _health(settings: Settings, vault: InfisicalClient) -> None:
    """One line per inventory token with its health (read-only; never changes the exit code)."""
    from workers.cli.release_check import token_health

    try:
        found = token_health(settings, vault)
    except redis.RedisError:
        found = [f"token health not checked: {redis_down(settings.redis_url)}"]
    for line in found:
        print(f"cftoken: {line}")


def scan(*, wait: bool) -> int:
    """Enqueue an expiry scan; with `wait`, wait for the worker to run it and print what it found."""
    from domain.queueing import SCAN_JOB, job_queue
    from domain.redis_conn import connect

    settings = load_settings(RedisSettings)
    try:
        job = job_queue(connect(settings.redis_url)).enqueue(SCAN_JOB, job_timeout=600)
    except redis.RedisError:
        _say(redis_down(settings.redis_url))
        return PROBLEMS
    print(f"cftoken: expiry scan enqueued as job {job.id}")
    if not wait:
        return OK
    deadline = time.monotonic() + SCAN_WAIT_SECONDS
    while (status := job.get_status(refresh=True)) not in ("finished", "failed"):
        if time.monotonic() > deadline:
            _say(f"no worker finished the scan within {SCAN_WAIT_SECONDS:.0f} s (job {status}): is the worker running?")
            return PROBLEMS
        time.sleep(0.2)
    if status == "failed":
        result = job.latest_result()
        _say(f"the scan failed: {(result.exc_string or '').strip().splitlines()[-1] if result else 'no result'}")
        return PROBLEMS
    report = job.return_value()
    print(f"cftoken: {describe_scan(report)}")
    if report and report.get("cloudflare_error"):
        _say("the scan could not check the tokens at Cloudflare (see above): fix that, then scan again")
        return PROBLEMS
    return OK


def describe_scan(report: dict[str, Any] | None) -> str:
    """One line saying what a scan found, from its job result (None: another scan was running; this one stood down)."""
    if report is None:
        return "another expiry scan was running; this one stood down"
    found = [f"{len(report[key])} {label}{': ' + ', '.join(report[key]) if report[key] else ''}"
             for key, label in (("warned", "expiry warning(s)"), ("reminded", "reminder(s)"),
                                ("problems", "new problem(s)"), ("fixed", "fixed"),
                                ("value_checks", "value(s) verified"))]
    error = report.get("cloudflare_error")
    trouble = f"; Cloudflare could not be listed: {error}" if error else ""
    return (f"scanned {report['checked']} token(s): {'; '.join(found)}; "
            f"{len(report['messages'])} message(s) for the channel{trouble}")


def reconcile() -> int:
    from workers.operations.reconcile import reconcile_now

    settings = load_settings(WorkerSettings)
    try:
        resumed = reconcile_now(settings)
    except redis.RedisError:
        _say(redis_down(settings.redis_url))
        return PROBLEMS
    print(f"cftoken: resumed {len(resumed)} unfinished operation(s){': ' + ', '.join(resumed) if resumed else ''}")
    return OK


def inventory(what: str, management: str) -> int:
    from domain.clock import utc_now
    from domain.inventory import InventoryError, load_inventory
    from workers.cli.inventory_import import diff_inventory, draft_inventory, read_sources

    settings = load_settings(SourceSettings)
    if what == "import":
        sources = read_sources(settings, management)
        print(draft_inventory(sources, management=management, vault_path=settings.infisical_secret_path,
                              environment=settings.infisical_environment, now=utc_now()), end="")
        return OK
    try:
        known = load_inventory(settings.cftoken_inventory)
    except InventoryError as exc:
        _say(str(exc))
        return PROBLEMS
    lines = diff_inventory(known, read_sources(settings, known.management_token))
    print("\n".join(lines))
    return PROBLEMS if any(not line.endswith("same as at Cloudflare") for line in lines) else OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cftoken", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cftoken {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    checking = sub.add_parser("check", help="pre-flight: settings, inventory, then every service live")
    checking.add_argument("--offline", action="store_true", help="settings and inventory only, no network")
    scanning = sub.add_parser("scan", help="enqueue an expiry scan now")
    scanning.add_argument("--wait", action="store_true", help="wait for the worker and print what the scan found")
    sub.add_parser("reconcile", help="resume unfinished rotations and revocations now")
    drafting = sub.add_parser("inventory", help="draft an inventory from the vault and Cloudflare, or compare one")
    drafting.add_argument("what", choices=("import", "diff"),
                          help="import: print an inventory for what the vault and Cloudflare hold; "
                               "diff: how CFTOKEN_INVENTORY and Cloudflare differ, per token")
    drafting.add_argument("--management", default="CF_ACCESS_MGMT",
                          help="the management token's name in the vault (import; default CF_ACCESS_MGMT)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the clients' retry warnings would read as problems: one line each
    try:
        if args.command == "check":
            return check(offline=args.offline)
        if args.command == "inventory":
            return inventory(args.what, args.management)
        if args.command == "scan":
            return scan(wait=args.wait)
        return reconcile()
    except SettingsError as exc:
        _say(*exc.problems)
        return UNUSABLE
    except CftokenError as exc:  # a service refused or did not answer: say which, in its own words
        _say(f"{exc}{' — ' + exc.next_step() if exc.next_step() else ''}")
        return PROBLEMS
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: one line naming where, no traceback, no message (may hold a value)
        _say(f"stopped by a bug in cftoken: {type(exc).__name__} at {_where(exc)}; please report it with the "
             "command you ran")
        return PROBLEMS


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else "an unknown place"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cftoken")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


def _say(*lines: str) -> None:
    for line in lines:
        print(f"cftoken: {line}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
