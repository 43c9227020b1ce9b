"""A dry run's message: what a person reads, within Slack's limits whatever was typed; `--dry-run` parsing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.commands import UsageError, parse_command
from domain.dry_run_plan import CheckResult, DryRun, PlannedStep, read_button_value, render_dry_run
from domain.inventory import load_inventory
from domain.settings import DEFAULT_INVENTORY
from standins.block_kit import check_message

INVENTORY = load_inventory(DEFAULT_INVENTORY)
TOKEN = "CF_WAF_EDIT_RAXX_APP"


def run(reason: str = "why", checks: tuple[CheckResult, ...] = (CheckResult("quota", True, "3 of 50"),)) -> DryRun:
    return DryRun("revoke", TOKEN, reason, "U1", checks, (PlannedStep("the delete at Cloudflare", "Cloudflare"),),
                  "none", "revoke", ("Terraform: WAF rules",))


@pytest.mark.parametrize(("text", "verb", "reason"), [
    (f"roll {TOKEN} --dry-run", "roll", ""),
    (f"roll {TOKEN} --DRY-RUN expiring soon", "roll", "expiring soon"),
    (f"revoke {TOKEN} leaked in CI --dry-run", "revoke", "leaked in CI"),
    (f"provision {TOKEN} --dry-run", "provision", ""),
])
def test_dry_run_is_a_flag_anywhere_after_the_verb(text, verb, reason):
    command = parse_command(text, INVENTORY)

    assert (command.verb, command.token.name, command.reason, command.dry_run) == (verb, TOKEN, reason, True)


def test_a_dry_run_revoke_still_needs_its_reason_and_verify_takes_no_flag():
    with pytest.raises(UsageError, match="A revoke needs a reason"):
        parse_command(f"revoke {TOKEN} --dry-run", INVENTORY)
    with pytest.raises(UsageError, match="changes nothing, so it has no `--dry-run`"):
        parse_command(f"verify {TOKEN} --dry-run", INVENTORY)
    assert parse_command(f"roll {TOKEN}", INVENTORY).dry_run is False


@pytest.mark.parametrize("flag", ["\u2014dry-run", "\u2013dry-run", "-dry-run", "--dryrun", "--dry_run", "\u2014DRY\u2014RUN"])
def test_dry_run_typed_as_slack_autocorrects_it_is_still_a_dry_run_not_a_reason(flag):
    command = parse_command(f"roll {TOKEN} {flag}", INVENTORY)

    assert (command.dry_run, command.reason) == (True, "")


def test_dry_run_before_the_verb_is_a_dry_run_and_alone_says_where_it_goes():
    command = parse_command(f"--dry-run roll {TOKEN} expiring", INVENTORY)

    assert (command.verb, command.dry_run, command.reason) == ("roll", True, "expiring")
    with pytest.raises(UsageError, match="goes after a roll, revoke or provision"):
        parse_command("--dry-run", INVENTORY)


def test_a_dry_run_revoke_without_a_reason_is_told_the_dry_run_command_to_type():
    with pytest.raises(UsageError, match=f"`/cftoken revoke {TOKEN} REASON --dry-run`"):
        parse_command(f"revoke {TOKEN} \u2014dry-run", INVENTORY)


def test_a_failed_check_is_counted_first_and_no_button_asks_for_what_would_stop():
    text, blocks = render_dry_run(run(checks=(CheckResult("management token", False, "refused"),
                                              CheckResult("token", None, "not checked"))))

    assert "1 check(s) would stop it" in text
    assert "❌ 1 check would stop it: management token" in blocks[0]["text"]["text"]
    assert not any(block["type"] == "actions" for block in blocks)
    assert "Nothing to request while a ❌ check stands" in blocks[-1]["elements"][0]["text"]


def test_with_no_failed_check_the_button_requests_the_real_operation():
    _, blocks = render_dry_run(run(checks=(CheckResult("token", True, "active"), CheckResult("quota", None, "n/a"))))

    assert blocks[-1]["elements"][0]["text"]["text"] == "Request revoke"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reason=st.text(max_size=1000), detail=st.text(max_size=3000))
def test_whatever_was_typed_or_found_slack_accepts_it_and_the_button_keeps_the_request(reason, detail):
    check_message(*render_dry_run(run(reason, (CheckResult("vault", False, detail),))))  # raises as Slack would
    message = render_dry_run(run(reason, (CheckResult("vault", True, detail),)))

    check_message(*message)
    action, token, kept = read_button_value(message[1][-1]["elements"][0]["value"])
    assert (action, token) == ("revoke", TOKEN) and reason.startswith(kept.rstrip("…"))
