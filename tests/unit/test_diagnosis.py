"""verify NAME's decisions: Facts → Diagnosis, one case per failure mode and drift, and the rendered report."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.cloudflare_tokens import CfToken, Verification
from domain.errors import (
    ManagementTokenInvalid,
    NotAuthorized,
    ServiceUnavailable,
    TokenInvalid,
    TokenNotFound,
    VaultAccessDenied,
)
from domain.health import Probe
from domain.inventory import load_inventory
from domain.settings import DEFAULT_INVENTORY
from domain.vault import NoTokenId
from workers.verify.diagnosis import diagnose
from workers.verify.diagnosis_messages import render_diagnosis
from workers.verify.report import Diagnosis, Facts

INVENTORY = load_inventory(DEFAULT_INVENTORY)
NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
EXPIRES = NOW + timedelta(days=62)
ACCOUNT = "01a7362d577a6c3019a474fd6f485823"
ZONE = {name: f"com.cloudflare.api.account.zone.{zone_id}" for name, zone_id in INVENTORY.zones.items()}
GROUP = INVENTORY.permission_groups
# pinned, as the runbook's table pins it (the shipped inventory leaves the id to the vault's __TOKEN_ID)
WAF = INVENTORY.find("CF_WAF_EDIT_RAXX_APP").model_copy(update={"token_id": "d0cf0adeda107092f6e8c0646460f8f8"})
PAGES = INVENTORY.find("CF_PAGES_DEPLOY")
MGMT = INVENTORY.find("CF_ACCESS_MGMT")
PAGES_ID = "aa11bb22cc33dd44ee55ff6677889900"
ALL_ZONES = PAGES.model_copy(update={"zones": ("*",), "permissions": ("DNS Read",)})  # an all-zones declaration
MGMT_ID = "0123456789abcdef0123456789abcdef"
TITLES = ("Vault", "Active at Cloudflare", "Cloudflare record", "Zones", "Permissions", "Job probe")
D_NEXT_STEP = (
    "Failure mode D: escalate to an operator; rotate CF_ACCESS_MGMT in the dashboard "
    "(https://dash.cloudflare.com/profile/api-tokens)"
)


def allow(resources: dict[str, Any], *groups: str, effect: str = "allow") -> dict[str, Any]:
    return {
        "effect": effect,
        "resources": resources,
        "permission_groups": [{"id": GROUP[name], "name": name} for name in groups],
    }


def record(
    token_id: str,
    *policies: dict[str, Any],
    status: str = "active",
    expires_on: datetime | None = EXPIRES,
    name: str = "CF_WAF_EDIT_RAXX_APP",
) -> CfToken:
    return CfToken.model_validate(
        {
            "id": token_id,
            "name": name,
            "status": status,
            "expires_on": expires_on,
            "last_used_on": NOW - timedelta(hours=3),
            "policies": list(policies),
        }
    )


NEW_ID = "abcabcabcabcabcabcabcabcabcabcab"
WAF_POLICY = allow({ZONE["raxx.app"]: "*"}, "Zone WAF Write", "Zone Read")


def waf_record(*policies: dict[str, Any], **fields: Any) -> CfToken:
    policies = policies or (allow({ZONE["raxx.app"]: "*"}, "Zone WAF Write", "Zone Read"),)
    return record(WAF.token_id, *policies, **fields)


def healthy_waf(**changes: Any) -> Facts:
    facts = Facts(
        token=WAF,
        now=NOW,
        vault_path="/MooseQuest/cloudflare",
        vault_environment="prod",
        value_present=True,
        expires_at_text=EXPIRES.strftime("%Y-%m-%dT%H:%M:%SZ"),
        scopes_text=WAF.scope,
        token_id_text=WAF.token_id,
        verification=Verification(id=WAF.token_id, status="active", expires_on=EXPIRES),
        management=waf_record(),
        token_id=WAF.token_id,
        probes=(Probe("GET /zones/{zone_id}/rulesets/phases/http_ratelimit/entrypoint", "raxx.app"),),
        named=(waf_record(),),
    )
    return replace(facts, **changes)


def healthy_pages(**changes: Any) -> Facts:
    pages = record(PAGES_ID, allow({f"com.cloudflare.api.account.{ACCOUNT}": "*"}, "Pages Write"), name="CF_PAGES_DEPLOY")
    facts = healthy_waf(
        token=PAGES,
        named=(pages,),
        probes=None,
        scopes_text=PAGES.scope,
        token_id_text=PAGES_ID,
        token_id=PAGES_ID,
        verification=Verification(id=PAGES_ID, status="active", expires_on=EXPIRES),
        management=record(
            PAGES_ID, allow({f"com.cloudflare.api.account.{ACCOUNT}": "*"}, "Pages Write"), name="CF_PAGES_DEPLOY"
        ),
    )
    return replace(facts, **changes)


def healthy_all_zones(**changes: Any) -> Facts:
    facts = healthy_pages(
        token=ALL_ZONES,
        management=record(PAGES_ID, allow({"com.cloudflare.api.account.zone.*": "*"}, "DNS Read"),
                          name="CF_PAGES_DEPLOY"),
    )
    return replace(facts, **changes)


def healthy_mgmt(**changes: Any) -> Facts:
    facts = healthy_waf(
        token=MGMT,
        probes=None,
        scopes_text=MGMT.scope,
        token_id_text=MGMT_ID,
        token_id=MGMT_ID,
        verification=Verification(id=MGMT_ID, status="active", expires_on=EXPIRES),
        management=record(
            MGMT_ID,
            allow({"com.cloudflare.api.user.5c0f9d5a2b8f4b3c9a1e2d3f4a5b6c7d": "*"}, "API Tokens Write"),
            allow({f"com.cloudflare.api.account.{ACCOUNT}": "*"}, "Access: Apps and Policies Write",
                  "Account API Tokens Write"),
            allow({"com.cloudflare.api.account.zone.*": "*"}, "Zone Read"),
            name="CF_ACCESS_MGMT",
        ),
    )
    return replace(facts, **changes)


def check(diagnosis: Diagnosis, title: str):
    return next(c for c in diagnosis.checks if c.title == title)


def invalid() -> TokenInvalid:
    return TokenInvalid("Cloudflare rejected the token under test: Invalid API token (code 1000)")


# (case id, facts, expected state, {check title: (status, words the line must contain)})
CASES = [
    (
        "healthy",
        healthy_waf(),
        "healthy",
        {
            "Vault": ("ok", "present at /MooseQuest/cloudflare (env prod)"),
            "Active at Cloudflare": ("ok", "active"),
            "Cloudflare record": ("ok", "status active, expires_on 2026-07-05T12:00:00Z (62 days left), last used"),
            "Zones": ("ok", "raxx.app, as the inventory expects"),
            "Permissions": ("ok", "Zone WAF Write, Zone Read"),
            "CF_WAF_EDIT_RAXX_APP__EXPIRES_AT": ("ok", "agrees with Cloudflare"),
            "CF_WAF_EDIT_RAXX_APP__TOKEN_ID": ("ok", "agrees with the inventory"),
            "CF_WAF_EDIT_RAXX_APP__SCOPES": ("ok", "present"),
        },
    ),
    (
        "A: zone missing",
        healthy_waf(
            management=waf_record(
                allow({"com.cloudflare.api.user.5c0f9d5a2b8f4b3c9a1e2d3f4a5b6c7d": "*"}, "Zone WAF Write", "Zone Read")
            )
        ),
        "failing",
        {"Zones": ("fail", "missing raxx.app")},
    ),
    (
        "A: wrong zone",
        healthy_waf(management=waf_record(allow({ZONE["getraxx.com"]: "*"}, "Zone WAF Write", "Zone Read"))),
        "failing",
        {"Zones": ("fail", "missing raxx.app; extra getraxx.com")},
    ),
    (
        "A: extra zone",
        healthy_waf(
            management=waf_record(allow({ZONE["raxx.app"]: "*", ZONE["raxx.io"]: "*"}, "Zone WAF Write", "Zone Read"))
        ),
        "warning",
        {"Zones": ("warn", "extra raxx.io (over-privileged)")},
    ),
    (
        "A: all zones where one expected",
        healthy_waf(
            management=waf_record(allow({"com.cloudflare.api.account.zone.*": "*"}, "Zone WAF Write", "Zone Read"))
        ),
        "warning",
        {"Zones": ("warn", "grants all zones; the inventory expects only raxx.app (over-privileged)")},
    ),
    (
        "A: missing permission",
        healthy_waf(management=waf_record(allow({ZONE["raxx.app"]: "*"}, "Zone Read"))),
        "failing",
        {"Permissions": ("fail", "missing Zone WAF Write")},
    ),
    (
        "A: extra permission",
        healthy_waf(management=waf_record(allow({ZONE["raxx.app"]: "*"}, "Zone WAF Write", "Zone Read", "DNS Write"))),
        "warning",
        {"Permissions": ("warn", "extra DNS Write (over-privileged)")},
    ),
    (
        "A: deny policies do not count as grants",
        healthy_waf(
            management=waf_record(
                allow({ZONE["raxx.app"]: "*"}, "Zone WAF Write", "Zone Read"),
                allow({ZONE["raxx.io"]: "*"}, "DNS Write", effect="deny"),
            )
        ),
        "healthy",
        {"Zones": ("ok", "raxx.app"), "Permissions": ("ok", "Zone WAF Write, Zone Read")},
    ),
    (
        "A: all-zones token with zone.*",
        healthy_all_zones(),
        "healthy",
        {"Zones": ("ok", "all zones, as the inventory expects"), "CF_PAGES_DEPLOY__TOKEN_ID": ("ok", "id in use")},
    ),
    (
        "A: all-zones token granted account-wide",
        healthy_all_zones(
            management=record(
                PAGES_ID,
                allow(
                    {f"com.cloudflare.api.account.{ACCOUNT}": {"com.cloudflare.api.account.zone.*": "*"}}, "DNS Read"
                ),
            )
        ),
        "healthy",
        {"Zones": ("ok", "all zones")},
    ),
    (
        "A: all-zones token granted one zone",
        healthy_all_zones(management=record(PAGES_ID, allow({ZONE["raxx.app"]: "*"}, "DNS Read"))),
        "failing",
        {"Zones": ("fail", "grants only raxx.app; the inventory expects all zones")},
    ),
    (
        "A: an account-level token is checked on the account, not on zones",
        healthy_pages(),
        "healthy",
        {"Zones": ("ok", "not zone-scoped; Pages Write on account 01a7362d577a6c3019a474fd6f485823"), "Permissions": ("ok", "Pages Write")},
    ),
    (
        "A: an account-level permission granted on zones is not granted at all",
        healthy_pages(management=record(PAGES_ID, allow({"com.cloudflare.api.account.zone.*": "*"}, "Pages Write"))),
        "failing",
        {"Zones": ("fail", "Pages Write not granted on account 01a7362d577a6c3019a474fd6f485823")},
    ),
    (
        "A: the management token's zones and permissions",
        healthy_mgmt(),
        "healthy",
        {"Zones": ("ok", "all zones"), "Permissions": ("ok", "API Tokens Write")},
    ),
    (
        "B: expired",
        healthy_waf(verification=invalid(), management=waf_record(expires_on=NOW - timedelta(days=2))),
        "failing",
        {
            "Active at Cloudflare": ("fail", "the token expired on 2026-05-02T12:00:00Z (past expires_on)"),
            "Cloudflare record": ("fail", "expires_on 2026-05-02T12:00:00Z (expired 2 days ago)"),
        },
    ),
    (
        "B: disabled",
        healthy_waf(verification=invalid(), management=waf_record(status="disabled")),
        "failing",
        {
            "Active at Cloudflare": ("fail", "the token is disabled at Cloudflare"),
            "Cloudflare record": ("fail", "status disabled"),
        },
    ),
    (
        "B: deleted",
        healthy_waf(verification=invalid(), management=TokenNotFound("no token")),
        "failing",
        {
            "Active at Cloudflare": ("fail", "deleted (revoked) at Cloudflare"),
            "Cloudflare record": ("fail", "no token with id d0cf0adeda107092f6e8c0646460f8f8"),
            "Zones": ("warn", "not checked"),
        },
    ),
    (
        "B: vault out of step",
        healthy_waf(verification=invalid()),
        "failing",
        {
            "Active at Cloudflare": (
                "fail",
                "the vault holds a value Cloudflare no longer accepts — the token "
                "is active at Cloudflare, so the vault is out of step",
            ),
            "Cloudflare record": ("ok", "status active"),
        },
    ),
    (
        "B: rejected and the management view unavailable",
        healthy_waf(
            verification=invalid(),
            management=ManagementTokenInvalid("rejected"),
            expires_at_text="2026-05-01T00:00:00Z",
        ),
        "failing",
        {"Active at Cloudflare": ("fail", "__EXPIRES_AT says it expired on 2026-05-01T00:00:00Z")},
    ),
    (
        "C: value missing",
        healthy_waf(value_present=False, verification=None),
        "failing",
        {
            "Vault": ("fail", "CF_WAF_EDIT_RAXX_APP is missing at /MooseQuest/cloudflare in env prod"),
            "Active at Cloudflare": ("warn", "not checked"),
        },
    ),
    (
        "C: vault unreadable",
        healthy_waf(
            vault_error=VaultAccessDenied("denied"),
            value_present=False,
            verification=None,
            management=None,
            expires_at_text=None,
            scopes_text=None,
            token_id_text=None,
            token_id=None,
        ),
        "unknown",
        {
            "Vault": ("fail", "could not list /MooseQuest/cloudflare (env prod): denied"),
            "CF_WAF_EDIT_RAXX_APP__SCOPES": ("warn", "not checked"),
        },
    ),
    (
        "D: management token missing",
        healthy_waf(management_missing=True, management=None),
        "unknown",
        {
            "Active at Cloudflare": ("ok", "active"),
            "Cloudflare record": ("fail", "management token CF_ACCESS_MGMT is missing"),
            "Zones": ("warn", "not checked"),
            "Permissions": ("warn", "not checked"),
            "CF_WAF_EDIT_RAXX_APP__EXPIRES_AT": ("ok", "agrees with Cloudflare"),
        },
    ),
    (
        "D: management token invalid",
        healthy_waf(management=ManagementTokenInvalid("rejected")),
        "unknown",
        {
            "Cloudflare record": ("fail", "Cloudflare rejects the management token CF_ACCESS_MGMT"),
            "Permissions": ("warn", "not checked"),
        },
    ),
    (
        "D: management token not authorized",
        healthy_waf(management=NotAuthorized("may not")),
        "unknown",
        {"Cloudflare record": ("fail", "may not read API tokens")},
    ),
    (
        "D: the management token itself rejected",
        healthy_mgmt(verification=invalid(), management=ManagementTokenInvalid("rejected")),
        "failing",
        {
            "Active at Cloudflare": ("fail", "management token itself"),
            "Cloudflare record": ("fail", "Cloudflare rejects the management token"),
        },
    ),
    (
        "drift: __EXPIRES_AT differs",
        healthy_waf(expires_at_text="2026-08-01T00:00:00Z"),
        "warning",
        {
            "CF_WAF_EDIT_RAXX_APP__EXPIRES_AT": (
                "warn",
                "drift: says 2026-08-01T00:00:00Z, Cloudflare's expires_on is 2026-07-05T12:00:00Z",
            )
        },
    ),
    (
        "drift: __EXPIRES_AT agrees to the second",
        healthy_waf(expires_at_text="2026-07-05T12:00:00.400000+00:00"),
        "healthy",
        {"CF_WAF_EDIT_RAXX_APP__EXPIRES_AT": ("ok", "2026-07-05T12:00:00Z")},
    ),
    (
        "drift: __EXPIRES_AT missing",
        healthy_waf(expires_at_text=None),
        "warning",
        {"CF_WAF_EDIT_RAXX_APP__EXPIRES_AT": ("warn", "missing; Cloudflare's expires_on is 2026-07-05")},
    ),
    (
        "drift: __EXPIRES_AT unreadable",
        healthy_waf(expires_at_text="next tuesday"),
        "warning",
        {"CF_WAF_EDIT_RAXX_APP__EXPIRES_AT": ("warn", "not an ISO-8601 timestamp")},
    ),
    (
        "drift: __TOKEN_ID differs from the pin, and the value belongs to the pinned token",
        healthy_waf(token_id_text="ffffffffffffffffffffffffffffffff"),
        "warning",
        {
            "CF_WAF_EDIT_RAXX_APP__TOKEN_ID": (
                "warn",
                "says ffffffffffffffffffffffffffffffff, but the vault's value belongs to token "
                "d0cf0adeda107092f6e8c0646460f8f8 Set CF_WAF_EDIT_RAXX_APP__TOKEN_ID to d0cf0adeda107092f6e8c0646460f8f8.",
            )
        },
    ),
    (
        "drift: a stale pin (the vault's __TOKEN_ID is the token in use)",
        healthy_waf(token_id_text=NEW_ID, token_id=NEW_ID, named=(record(NEW_ID, WAF_POLICY),),
                    verification=Verification(id=NEW_ID, status="active", expires_on=EXPIRES),
                    management=record(NEW_ID, WAF_POLICY)),
        "warning",
        {
            "CF_WAF_EDIT_RAXX_APP__TOKEN_ID": (
                "warn",
                f'the inventory pins token_id = "{WAF.token_id}" but CF_WAF_EDIT_RAXX_APP__TOKEN_ID is {NEW_ID}; the '
                f'bot uses {NEW_ID}, the vault\'s Remove token_id from CF_WAF_EDIT_RAXX_APP in the inventory, or '
                f'update it to "{NEW_ID}".',
            ),
            "Zones": ("ok", "raxx.app"),
        },
    ),
    (
        "a second token with the name",
        healthy_waf(named=(waf_record(), record(NEW_ID, WAF_POLICY))),
        "warning",
        {"Same name": ("warn", f"also named CF_WAF_EDIT_RAXX_APP at Cloudflare: token {NEW_ID} (active, issued "
                       "unknown, last used 2026-05-04T09:00:00Z) Find out who still uses it")},
    ),
    (
        "two tokens with the name during an overlap rotation",
        healthy_waf(named=(waf_record(), record(NEW_ID, WAF_POLICY)), overlapping=True),
        "healthy",
        {"Same name": ("ok", "2 tokens are named CF_WAF_EDIT_RAXX_APP, as an overlap rotation")},
    ),
    (
        "drift: __TOKEN_ID differs from the value's id",
        healthy_pages(
            verification=Verification(id="99999999999999999999999999999999", status="active", expires_on=EXPIRES)
        ),
        "warning",
        {"CF_PAGES_DEPLOY__TOKEN_ID": ("warn", "the vault's value belongs to token 9999")},
    ),
    (
        "drift: __SCOPES missing",
        healthy_waf(scopes_text=None),
        "warning",
        {"CF_WAF_EDIT_RAXX_APP__SCOPES": ("warn", "missing")},
    ),
    (
        "no token id anywhere",
        healthy_pages(token_id_text=None, token_id=None, management=NoTokenId("CF_PAGES_DEPLOY has no token id")),
        "unknown",
        {
            "Cloudflare record": ("fail", "has no token id"),
            "CF_PAGES_DEPLOY__TOKEN_ID": ("warn", f"Set CF_PAGES_DEPLOY__TOKEN_ID to {PAGES_ID}"),
        },
    ),
    (
        "wrong token id, working value",
        healthy_waf(management=TokenNotFound("no token"), verification=Verification(id=PAGES_ID, status="active")),
        "unknown",  # not deleted: the value works as another token, whose record this verify did not read
        {"Cloudflare record": ("fail", f"the vault's value works (it belongs to token {PAGES_ID})")},
    ),
    (
        "expiring soon",
        healthy_waf(management=waf_record(expires_on=NOW + timedelta(days=5)), expires_at_text="2026-05-09T12:00:00Z"),
        "warning",
        {"Cloudflare record": ("warn", "5 days left")},
    ),
    (
        "Cloudflare down during verify",
        healthy_waf(verification=ServiceUnavailable("Cloudflare did not answer"), probes=None),
        "healthy",  # Cloudflare's record was read; the value's check is reported as not made, with its age
        {"Active at Cloudflare": ("warn", "could not verify the value: Cloudflare did not answer")},
    ),
]


def line_of(diagnosis: Diagnosis, title: str) -> str:
    found = check(diagnosis, title)
    return f"{found.detail} {found.next_step or ''}"


@pytest.mark.parametrize(("facts", "state", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_each_failure_mode_gives_its_state_and_names_the_problem(facts, state, expected):
    diagnosis = diagnose(facts, INVENTORY)

    assert diagnosis.state == state
    for title, (status, words) in expected.items():
        assert check(diagnosis, title).status == status, line_of(diagnosis, title)
        assert words in line_of(diagnosis, title)


@pytest.mark.parametrize(("facts", "state", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
def test_every_problem_names_a_next_step_and_checks_keep_the_runbook_order(facts, state, expected):
    diagnosis = diagnose(facts, INVENTORY)

    problems = [c for c in diagnosis.checks if c.status != "ok" and not c.detail.startswith("not checked")]
    assert all(c.next_step for c in problems), [c.title for c in problems if not c.next_step]
    titles = tuple(c.title for c in diagnosis.checks)
    name = facts.token.name
    assert titles == (*TITLES, f"{name}__EXPIRES_AT", f"{name}__TOKEN_ID", f"{name}__SCOPES", "Same name")


@pytest.mark.parametrize(
    "facts",
    [
        healthy_waf(verification=invalid(), management=waf_record(expires_on=NOW - timedelta(days=2))),
        healthy_waf(verification=invalid(), management=waf_record(status="disabled")),
        healthy_waf(verification=invalid(), management=TokenNotFound("gone")),
        healthy_waf(verification=invalid()),
    ],
    ids=["expired", "disabled", "deleted", "out of step"],
)
def test_a_rejected_value_is_failure_mode_b_with_the_roll_or_replacement_step(facts):
    verify = check(diagnose(facts, INVENTORY), "Active at Cloudflare")

    assert verify.next_step.startswith("Failure mode B")


@pytest.mark.parametrize(
    "facts",
    [
        healthy_waf(management_missing=True, management=None),
        healthy_waf(management=ManagementTokenInvalid("rejected")),
        healthy_waf(management=NotAuthorized("may not")),
    ],
    ids=["missing", "invalid", "not authorized"],
)
def test_a_failing_management_token_is_failure_mode_d_with_the_dashboard_escalation(facts):
    record_check = check(diagnose(facts, INVENTORY), "Cloudflare record")

    assert record_check.next_step.startswith(D_NEXT_STEP)


def test_a_missing_value_is_failure_mode_c_naming_path_and_env():
    vault = check(diagnose(healthy_waf(value_present=False, verification=None), INVENTORY), "Vault")

    assert vault.next_step.startswith("Failure mode C: confirm the path is /MooseQuest/cloudflare and the env is prod")


def test_policy_mismatch_is_failure_mode_a():
    facts = healthy_waf(management=waf_record(allow({ZONE["getraxx.com"]: "*"}, "Zone Read")))

    diagnosis = diagnose(facts, INVENTORY)

    assert check(diagnosis, "Zones").next_step.startswith("Failure mode A")
    assert check(diagnosis, "Permissions").next_step.startswith("Failure mode A")


def test_the_summary_of_a_healthy_token_gives_days_left_and_of_a_failing_one_the_first_failure():
    healthy = diagnose(healthy_waf(), INVENTORY)
    failing = diagnose(healthy_waf(value_present=False, verification=None, scopes_text=None), INVENTORY)

    assert healthy.summary == "active, 62 days left"
    assert failing.summary.startswith("no value in the vault at /MooseQuest/cloudflare (env prod)")
    assert failing.summary.endswith("(+1 more)")  # and __SCOPES missing


def test_the_diagnosis_carries_cloudflares_expiry_for_the_status_record():
    assert diagnose(healthy_waf(), INVENTORY).expires_on == EXPIRES
    assert diagnose(healthy_waf(management=ManagementTokenInvalid("x")), INVENTORY).expires_on == EXPIRES
    assert (
        diagnose(
            healthy_waf(value_present=False, verification=None, management=TokenNotFound("x")), INVENTORY
        ).expires_on
        is None
    )


def test_a_failing_report_puts_failing_checks_first_with_their_steps_and_offers_the_next_step():
    facts = healthy_waf(verification=invalid(), management=waf_record(status="disabled"), scopes_text=None)

    text, blocks = render_diagnosis(diagnose(facts, INVENTORY), requested_by="U0ALICE01")

    assert "*CF_WAF_EDIT_RAXX_APP* is *failing* — disabled at Cloudflare" in blocks[0]["text"]["text"]
    lines = [block["text"]["text"] for block in blocks if block["type"] == "section"][1:]
    assert lines[0].startswith("❌ *Active at Cloudflare* — Cloudflare rejects the vault's value: the token is disabled")
    assert "↳ _Next:_ Failure mode B (disabled)" in lines[0]
    assert lines[-1].startswith("⚠️ *CF_WAF_EDIT_RAXX_APP__SCOPES* — missing")
    assert all(not line.startswith("✅") for line in lines)
    (context,) = [b for b in blocks if b["type"] == "context"]
    assert context["elements"][0]["text"].startswith("✅ *Vault* — ")
    assert "`/cftoken verify CF_WAF_EDIT_RAXX_APP` <!date^" in context["elements"][0]["text"] and "asked by <@U0ALICE01> · " in context["elements"][0]["text"]
    assert [(e["text"]["text"], e["action_id"], e["value"]) for e in blocks[-1]["elements"]] == [
        ("Request roll", "roll_after_verify", "CF_WAF_EDIT_RAXX_APP"),
        ("Verify again", "request_verify", "CF_WAF_EDIT_RAXX_APP"),
    ]
    assert text.startswith("verify CF_WAF_EDIT_RAXX_APP: failing — disabled at Cloudflare")


def test_the_management_token_report_offers_no_roll():
    facts = healthy_waf(verification=invalid(), management=waf_record(status="disabled"))

    _, blocks = render_diagnosis(diagnose(facts, INVENTORY), can_roll=False)

    assert [e["text"]["text"] for e in blocks[-1]["elements"]] == ["Verify again"]


def test_a_requester_that_is_not_a_user_id_is_escaped():
    _, blocks = render_diagnosis(diagnose(healthy_waf(), INVENTORY), requested_by="<!channel>")

    assert "asked by &lt;!channel&gt; · " in blocks[-1]["elements"][0]["text"]


def test_a_healthy_report_is_one_line_with_the_checks_in_a_context_block():
    _, blocks = render_diagnosis(diagnose(healthy_waf(), INVENTORY))

    rendered = json.dumps(blocks, ensure_ascii=False)
    assert [b["type"] for b in blocks] == ["section", "context"]
    assert "Next" not in rendered and "actions" not in rendered
    assert rendered.count("✅") == 10  # the ten checks
    assert "🟢 *CF_WAF_EDIT_RAXX_APP* is *healthy*" in blocks[0]["text"]["text"]
    assert "asked by" not in rendered


@pytest.mark.parametrize("facts", [case[1] for case in CASES], ids=[c[0] for c in CASES])
def test_no_report_carries_anything_shaped_like_a_token_value(facts):
    text, blocks = render_diagnosis(diagnose(facts, INVENTORY), requested_by="U0BOB0002")

    assert "cfut_" not in text + json.dumps(blocks)
    assert "Bearer" not in text + json.dumps(blocks)


def test_facts_have_no_field_that_could_hold_a_token_value():
    fields = Facts.__dataclass_fields__

    assert "value" not in fields
    assert not any("SecretStr" in str(field.type) for field in fields.values())


def never_provisioned_pages() -> Facts:
    return healthy_pages(value_present=False, expires_at_text=None, scopes_text=None, token_id_text=None,
                         token_id=None, verification=None, probes=None, named=(),
                         management=NoTokenId("CF_PAGES_DEPLOY has no token id"))


def test_a_token_never_provisioned_is_reported_as_such_with_the_provision_command():
    diagnosis = diagnose(never_provisioned_pages(), INVENTORY)

    vault = check(diagnosis, "Vault")
    assert vault.detail.startswith("not provisioned") and vault.next_step == (
        "Provision it: `/cftoken provision CF_PAGES_DEPLOY`.")
    report = json.dumps(render_diagnosis(diagnosis))
    assert "Failure mode C" not in report and "version history" not in report
    assert "Set CF_PAGES_DEPLOY__" not in report and "__TOKEN_ID companion" not in report
    assert "never provisioned" in line_of(diagnosis, "CF_PAGES_DEPLOY__SCOPES")


def test_a_runbook_step_names_the_token_where_it_is_known_and_keeps_NAME_where_not():
    error = TokenInvalid("rejected")

    assert error.next_step("CF_WAF_EDIT_RAXX_APP") == (
        "Failure mode B: check CF_WAF_EDIT_RAXX_APP__EXPIRES_AT, then roll the token "
        "(`/cftoken roll CF_WAF_EDIT_RAXX_APP`).")
    assert "`/cftoken roll NAME`" in error.next_step()


def test_verifys_report_shows_the_runbook_step_with_the_tokens_name():
    refused = NotAuthorized("Cloudflare refused the request (code 9109)")

    active = check(diagnose(healthy_waf(verification=refused), INVENTORY), "Active at Cloudflare")

    assert "`/cftoken verify CF_WAF_EDIT_RAXX_APP`" in active.next_step and "NAME" not in active.next_step


def test_a_job_probe_not_made_gets_no_check_mark_and_says_why():
    diagnosis = diagnose(healthy_pages(), INVENTORY)  # CF_PAGES_DEPLOY: Pages Write, no job call to make

    probe = check(diagnosis, "Job probe")
    assert probe.status == "skip" and "names no job call for this token" in probe.detail
    report = json.dumps(render_diagnosis(diagnosis), ensure_ascii=False)
    assert "➖ *Job probe* — not checked: the inventory names no job call" in report
    assert "✅ *Job probe*" not in report
    assert diagnosis.state == "healthy"
