"""The health model, pure: facts → state and problems; what a check that sees less keeps; the value-check plan."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from domain.cloudflare_tokens import CfToken, PermissionGroupRef, Policy
from domain.health import HealthFacts, Probe, RevokedByBot, after_roll, assess, carry, parse_revoked, revoked_text
from domain.health_words import last_used_text, unchanged_text
from domain.inventory import Condition, load_inventory
from domain.settings import DEFAULT_INVENTORY
from domain.vault import Vault, known_token_id, token_id_of
from workers.scan.health_watch import choose_value_checks, fingerprint, value_check_quota

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
INVENTORY = load_inventory(DEFAULT_INVENTORY)
WAF_ID = "d0cf0adeda107092f6e8c0646460f8f8"
WAF = INVENTORY.find("CF_WAF_EDIT_RAXX_APP").model_copy(update={"token_id": WAF_ID})  # pinned, as the runbook's
EXPIRES = NOW + timedelta(days=60)


def record(**changes) -> CfToken:
    groups = [PermissionGroupRef(id=INVENTORY.permission_groups[p], name=p) for p in WAF.permissions]
    values = {"id": WAF_ID, "name": WAF.name, "status": "active", "expires_on": EXPIRES,
              "policies": [Policy(effect="allow", resources={
                  f"com.cloudflare.api.account.zone.{INVENTORY.zones['raxx.app']}": "*"}, permission_groups=groups)]}
    return CfToken(**{**values, **changes})


def facts(**changes) -> HealthFacts:
    values = dict(token=WAF, now=NOW, source="verify", seen_by="verify", vault_path="/MooseQuest/cloudflare",
                  vault_environment="prod", vault_read=True, value_present=True,
                  expires_at_text=EXPIRES.strftime("%Y-%m-%dT%H:%M:%SZ"), token_id_text=WAF_ID, scopes_text=WAF.scope,
                  record_read=True, record=record(), token_id=WAF_ID, value_checked=True, value_accepted=True,
                  probes=(Probe("GET …/entrypoint", "raxx.app"),))
    return HealthFacts(**{**values, **changes})


@pytest.mark.parametrize(
    ("changes", "state", "kinds", "action"),
    [
        ({}, "healthy", [], None),
        ({"record": record(status="disabled"), "value_accepted": False}, "failing", ["disabled"], "verify"),
        ({"record": record(expires_on=NOW - timedelta(hours=1)), "value_accepted": False,
          "expires_at_text": (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}, "failing", ["expired"],
         "roll"),
        ({"record": record(status="revoked (exposed)"), "value_accepted": False}, "compromised", ["compromised"],
         "revoke"),
        ({"record": None, "value_accepted": False}, "failing", ["deleted"], "verify"),
        ({"value_accepted": False}, "failing", ["value"], "roll"),
        ({"probes": (Probe("GET …/entrypoint", "raxx.app", refusal="Authentication error (code 10000)"),)},
         "failing", ["probe"], "verify"),
        ({"value_present": False, "value_checked": False, "probes": None}, "failing", ["vault_missing"], "verify"),
        ({"scopes_text": None}, "warning", ["companions"], "verify"),
        ({"record": record(expires_on=NOW + timedelta(days=3)),
          "expires_at_text": (NOW + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")}, "warning", ["expiring"],
         "roll"),
        ({"revoked": RevokedByBot("revoke-abc", NOW, "https://desk/conversation/7"), "value_present": True},
         "revoked", ["revoked"], "none"),
        ({"vault_read": False, "record_read": False, "record": None, "value_checked": False, "probes": None},
         "unknown", [], None),
    ],
    ids=["healthy", "disabled", "expired", "revoked (exposed)", "deleted", "value out of step", "probe refused",
         "vault missing", "companion drift", "expiring", "revoked by the bot", "nothing read"],
)
def test_each_fact_gives_its_state_problem_and_next_step_button(changes, state, kinds, action):
    health = assess(facts(**changes), INVENTORY)

    assert health.state == state
    assert [p.kind for p in health.problems] == kinds
    assert all(p.next_step and p.seen_by == "verify" and p.seen_at == NOW for p in health.problems)
    if action:
        assert health.problems[0].action == action


def test_a_rejected_value_explained_by_the_record_is_not_also_out_of_step():
    health = assess(facts(record=record(status="disabled"), value_accepted=False), INVENTORY)

    assert health.problem("value") is None


def test_policy_problems_name_the_extra_zone_and_the_missing_permission():
    extra = record(policies=[*record().policies, Policy(effect="allow", resources={
        f"com.cloudflare.api.account.zone.{INVENTORY.zones['getraxx.com']}": "*"}, permission_groups=[
        PermissionGroupRef(id=INVENTORY.permission_groups["Zone Read"])])])
    missing = record(policies=[Policy(effect="allow", resources=record().policies[0].resources,
                                      permission_groups=record().policies[0].permission_groups[:1])])

    assert assess(facts(record=extra), INVENTORY).problem("zones").detail == "Zones: extra getraxx.com"
    assert assess(facts(record=missing), INVENTORY).problem("permissions").detail == "Permissions: missing Zone Read"


def test_a_declared_ip_condition_is_checked_against_cloudflares():
    token = WAF.model_copy(update={"condition": Condition.model_validate({"request_ip": {"in": ["10.0.0.0/8"]}})})

    none = assess(facts(token=token), INVENTORY)
    other = assess(facts(token=token, record=record(condition={"request_ip": {"in": ["192.0.2.0/24"]}})), INVENTORY)
    same = assess(facts(token=token, record=record(condition={"request_ip": {"in": ["10.0.0.0/8"]}})), INVENTORY)

    assert none.problem("ip") is not None and other.problem("ip").detail == (
        "IP condition: allowed ranges missing 10.0.0.0/8; extra 192.0.2.0/24")
    assert same.problem("ip") is None


def test_a_check_that_sees_less_keeps_what_a_fuller_one_found_with_its_age_until_one_that_sees_it_clears_it():
    found = assess(facts(probes=(Probe("GET …/entrypoint", "raxx.app", refusal="code 10000"),)), INVENTORY)
    later = NOW + timedelta(hours=2)
    scan = assess(facts(now=later, source="scan", seen_by="scan", value_checked=False, probes=None), INVENTORY)

    kept = carry(found, scan)
    cleared = carry(kept, assess(facts(now=later + timedelta(hours=1)), INVENTORY))

    assert kept.state == "failing" and kept.source == "scan"
    (probe,) = kept.problems
    assert (probe.kind, probe.seen_by, probe.seen_at) == ("probe", "verify", NOW)
    assert kept.facts_at["probe"] == NOW and kept.facts_at["cloudflare"] == later
    assert cleared.state == "healthy" and cleared.problems == ()


def test_a_check_that_could_not_read_cloudflare_keeps_the_known_expiry():
    known = assess(facts(), INVENTORY)
    blind = assess(facts(now=NOW + timedelta(minutes=5), record_read=False, record=None, value_checked=False,
                         expires_at_text=None, probes=None), INVENTORY)

    assert carry(known, blind).expires_on == EXPIRES


def test_a_roll_clears_what_it_fixes_and_keeps_a_policy_problem():
    before = carry(assess(facts(value_accepted=False), INVENTORY), assess(facts(record=record(policies=[
        *record().policies, Policy(effect="allow", resources={
            f"com.cloudflare.api.account.zone.{INVENTORY.zones['getraxx.com']}": "*"},
            permission_groups=[PermissionGroupRef(id=INVENTORY.permission_groups["Zone Read"])])]),
        value_checked=False, probes=None), INVENTORY))

    rolled = after_roll(before, NOW + timedelta(minutes=1), NOW + timedelta(days=90))

    assert [p.kind for p in rolled.problems] == ["zones"] and rolled.state == "warning"  # over-privileged
    assert rolled.expires_on == NOW + timedelta(days=90) and rolled.source == "roll"


def test_revoked_reads_by_request_date_and_incident_and_round_trips_the_placeholder():
    revoked = parse_revoked("REVOKED 2026-05-04T12:00:00Z by cftoken request revoke-abc")

    assert revoked == RevokedByBot("revoke-abc", NOW)
    assert revoked_text(RevokedByBot("revoke-abc", NOW, "https://desk/conversation/7")) == (
        "revoked by `revoke-abc` on 2026-05-04, incident https://desk/conversation/7")
    assert parse_revoked("cfut_live") is None


def test_last_use_is_told_apart_from_the_bots_own_checks():
    ours = assess(facts(record=record(last_used_on=NOW - timedelta(hours=1)),
                        bot_used_at=NOW - timedelta(hours=1)), INVENTORY)
    theirs = assess(facts(record=record(last_used_on=NOW - timedelta(minutes=10)),
                          bot_used_at=NOW - timedelta(hours=1)), INVENTORY)

    assert "cftoken's own check: nothing but cftoken has used it since" in last_used_text(ours, NOW)
    assert "by something other than cftoken" in last_used_text(theirs, NOW)


@pytest.mark.parametrize(("tokens", "quota"), [(5, 1), (100, 5), (1000, 42), (0, 0)])
def test_value_checks_spread_each_token_once_a_day_over_hourly_scans(tokens, quota):
    assert value_check_quota(tokens, 60, 24) == quota
    assert value_check_quota(tokens, 60, 0) == 0


def test_value_checks_take_the_oldest_due_first_within_quota_and_budget():
    checked = {"A": NOW - timedelta(hours=30), "B": NOW - timedelta(hours=2), "C": NOW - timedelta(hours=25)}

    chosen = choose_value_checks(["A", "B", "C", "D"], checked, NOW, period=timedelta(hours=24), quota=2,
                                 budget_left=10)
    starved = choose_value_checks(["A", "B", "C", "D"], checked, NOW, period=timedelta(hours=24), quota=2,
                                  budget_left=0)

    assert chosen == ["D", "A"] and starved == []


OTHER_ID = "0123456789abcdef0123456789abcdef"
KEPT = record(id=OTHER_ID, issued_on=NOW - timedelta(days=2), last_used_on=NOW - timedelta(hours=5))


def test_a_second_live_token_with_the_name_is_a_warning_naming_its_id_status_issue_and_last_use():
    health = assess(facts(named=(record(), KEPT)), INVENTORY)

    assert health.state == "warning" and [p.kind for p in health.problems] == ["duplicate"]
    (problem,) = health.problems
    assert f"token {OTHER_ID} (active, issued 2026-05-02T12:00:00Z, last used 2026-05-04T07:00:00Z)" in problem.detail
    assert f"besides token {WAF_ID}, the one cftoken uses" in problem.detail
    assert "delete it in the dashboard" in problem.next_step
    assert f"`/cftoken revoke {WAF.name}` deletes only token {WAF_ID}, not this one" in problem.next_step


def test_the_same_second_token_is_the_same_problem_though_its_last_use_moves():
    first = assess(facts(named=(record(), KEPT)), INVENTORY).problem("duplicate")
    used = KEPT.model_copy(update={"last_used_on": NOW})
    later = assess(facts(now=NOW + timedelta(hours=1), named=(record(), used)), INVENTORY).problem("duplicate")
    third = assess(facts(named=(record(), KEPT, record(id="f" * 32))), INVENTORY).problem("duplicate")

    assert first.detail != later.detail and fingerprint(first) == fingerprint(later)
    assert fingerprint(third) != fingerprint(first)  # a third token is news


@pytest.mark.parametrize(("changes", "why"), [
    ({"named": (record(), KEPT), "overlapping": True}, "during an overlap rotation two tokens are expected"),
    ({"named": (record(),)}, "one token with the name"),
    ({"named": (KEPT,)}, "a lone token under another id is not a second one"),
])
def test_no_duplicate_when_two_tokens_are_expected_or_there_is_only_one(changes, why):
    assert assess(facts(**changes), INVENTORY).problem("duplicate") is None, why


def test_a_check_that_did_not_list_tokens_by_name_keeps_a_duplicate_and_one_that_did_clears_it():
    found = assess(facts(named=(record(), KEPT)), INVENTORY)
    blind = assess(facts(now=NOW + timedelta(hours=1)), INVENTORY)
    listed = assess(facts(now=NOW + timedelta(hours=2), named=(record(),)), INVENTORY)

    assert carry(found, blind).problem("duplicate") is not None
    assert carry(carry(found, blind), listed).problem("duplicate") is None


def test_a_stale_inventory_pin_is_drift_whose_fix_is_the_pin_and_a_proven_pin_is_not():
    moved = dict(token_id_text=OTHER_ID, token_id=OTHER_ID, record=record(id=OTHER_ID), value_token_id=OTHER_ID)
    stale = assess(facts(**moved), INVENTORY)
    wrong_vault = assess(facts(token_id_text=OTHER_ID, token_id=OTHER_ID, record=None, value_accepted=True,
                               value_token_id=WAF_ID), INVENTORY)

    pin = stale.problem("pin")
    assert pin is not None and stale.state == "warning"
    assert pin.detail == (f'the inventory pins token_id = "{WAF_ID}" but {WAF.name}__TOKEN_ID is {OTHER_ID}; the bot '
                          f"uses {OTHER_ID}, the vault's")
    assert f'remove token_id from {WAF.name} in the inventory, or update it to "{OTHER_ID}"' in pin.next_step
    assert wrong_vault.problem("pin") is None and wrong_vault.problem("deleted") is None
    assert f"the vault's value belongs to token {WAF_ID}" in wrong_vault.problem("companions").detail


def test_every_reader_takes_the_vaults_token_id_over_the_inventorys_pin():
    moved = Vault({f"{WAF.name}__TOKEN_ID": SecretStr(OTHER_ID)}, "/p", "prod")
    bare = Vault({}, "/p", "prod")

    assert token_id_of(WAF, moved) == OTHER_ID and known_token_id(WAF, moved) == OTHER_ID
    assert token_id_of(WAF, bare) == WAF_ID  # no companion: the pin is all there is
    assert known_token_id(INVENTORY.find("CF_PAGES_DEPLOY"), bare) is None


def test_what_a_revoke_deletes_is_said_truthfully_for_a_kept_old_token_and_for_one_made_elsewhere():
    made = record(id="f" * 32)
    problem = assess(facts(named=(record(), KEPT, made), kept=(OTHER_ID,)), INVENTORY).problem("duplicate")

    assert f"token {OTHER_ID} (active, issued 2026-05-02T12:00:00Z, last used 2026-05-04T07:00:00Z, kept live by " \
           "an approver's Keep old)" in problem.detail
    assert (f"`/cftoken revoke {WAF.name}` would delete token {WAF_ID} and {OTHER_ID} (kept by Keep old), not "
            f"{'f' * 32}, which ends the vault's value too.") in problem.next_step


NEVER = dict(value_present=False, expires_at_text=None, token_id_text=None, scopes_text=None, record=None,
             token_id=None, value_checked=False, value_accepted=False, probes=None)


@pytest.mark.parametrize("record_read", [False, True], ids=["scan (no id to look up)", "verify"])
def test_a_token_never_provisioned_says_so_with_the_provision_command_and_no_companion_drift(record_read):
    token = WAF.model_copy(update={"token_id": None})

    health = assess(facts(token=token, record_read=record_read, **NEVER), INVENTORY)

    (problem,) = health.problems
    assert problem.kind == "vault_missing" and problem.detail.startswith("not provisioned")
    assert problem.next_step == "Provision it: `/cftoken provision CF_WAF_EDIT_RAXX_APP`."
    assert "Failure mode C" not in problem.next_step and "version history" not in problem.next_step
    assert problem.action == "none"


def test_the_management_token_never_provisioned_is_made_by_an_operator():
    health = assess(facts(token=INVENTORY.management.model_copy(update={"token_id": None}), **NEVER), INVENTORY)

    (problem,) = health.problems
    assert "An operator creates CF_ACCESS_MGMT" in problem.next_step and "/cftoken provision" not in problem.next_step


def test_a_value_lost_beside_its_companions_is_still_failure_mode_c():
    health = assess(facts(value_present=False, value_checked=False, probes=None), INVENTORY)

    (problem,) = health.problems
    assert problem.kind == "vault_missing" and "Failure mode C" in problem.next_step
    assert "version history" in problem.next_step


def test_an_operation_that_changed_nothing_states_the_last_known_health_with_its_age_never_that_it_works():
    disabled = assess(facts(record=record(status="disabled"), value_accepted=False), INVENTORY)

    unchecked = unchanged_text(None, NOW)
    known = unchanged_text(disabled, disabled.checked_at + timedelta(hours=3))

    assert unchecked == "the vault holds the value it held before (not checked yet: `/cftoken verify` checks it)"
    assert known.startswith("the vault holds the value it held before; its last known health (")
    assert "3 h ago) is failing" in known
    assert "works" not in unchecked + known


def test_companion_drift_of_the_management_token_never_promises_a_roll():
    management = INVENTORY.management
    drift = assess(facts(token=management, scopes_text=None), INVENTORY).problem("companions")
    ordinary = assess(facts(scopes_text=None), INVENTORY).problem("companions")

    assert drift is not None and "a roll" not in drift.next_step
    assert f"the bot never rolls {management.name}: an operator rotates it (failure mode D)" in drift.next_step
    assert ordinary is not None and f"a roll of {WAF.name} also rewrites __EXPIRES_AT" in ordinary.next_step
