"""What a revoke of a name deletes and leaves live, decided from the bot's records and Cloudflare's list by name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.cloudflare_tokens import CfToken
from domain.revoke_targets import (
    Kept,
    Known,
    Overlap,
    Stranger,
    approval_lines,
    decide,
    left_live_text,
    plan_lines,
)
from domain.timestamps import slack_date

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
NAME = "CF_DNS_EDIT_GETRAXX_COM"
SKEW = timedelta(minutes=5)
ALICE = "U0ALICE01"


def token(token_id: str, *, status: str = "active", issued: datetime = NOW - timedelta(days=30)) -> CfToken:
    return CfToken(id=token_id, name=NAME, status=status, issued_on=issued)


def test_the_vault_token_alone_is_deleted_and_a_live_namesake_the_bot_did_not_make_is_left_and_named():
    listed = [token("vault"), token("elsewhere"), token("old-disabled", status="disabled")]

    targets = decide("vault", Known(NOW), listed, skew=SKEW)

    assert targets.also == () and targets.strangers == (Stranger("elsewhere", NOW - timedelta(days=30)),)


def test_kept_tokens_are_deleted_only_while_cloudflare_lists_them_under_the_name():
    known = Known(NOW, kept=(Kept("kept-live", "roll-1", NOW, ALICE), Kept("kept-gone", "roll-2", NOW, None)))

    targets = decide("vault", known, [token("vault"), token("kept-live")], skew=SKEW)

    assert targets.also == ("kept-live",) and targets.strangers == ()


def test_an_open_overlap_takes_its_old_token_its_twin_and_any_twin_issued_since_its_intent():
    intent = NOW - timedelta(minutes=10)
    known = Known(NOW, overlap=Overlap("roll-1", "old", None, intent))
    listed = [token("old"), token("unrecorded-twin", issued=intent - timedelta(minutes=2)),
              token("made-before", issued=intent - timedelta(hours=1))]

    targets = decide("old", known, listed, skew=SKEW)

    assert targets.also == ("unrecorded-twin",)
    assert [s.id for s in targets.strangers] == ["made-before"]


def test_the_warning_names_each_token_left_live_and_what_to_do():
    one = left_live_text([Stranger("abc", NOW)])
    two = left_live_text([Stranger("abc", NOW), Stranger("def", None)])

    assert one == (f"A second live token with this name, abc, issued {slack_date(NOW)}, is not known to the bot: the "
                   "revoke leaves it; delete it in the Cloudflare dashboard if it may share the leak.")
    assert two.startswith("2 other live tokens with this name, abc (issued ") and "def (issued at a time" in two
    assert left_live_text([]) == ""


def test_the_approval_message_names_what_the_records_say_dated_as_redis_knowledge():
    known = Known(NOW, kept=(Kept("kept1", "roll-0123456789ab", NOW - timedelta(days=2), ALICE),),
                  overlap=Overlap("roll-fedcba987654", "old1", "twin1", NOW))

    lines = approval_lines(known)

    assert lines[0] == ("Also deletes the overlap's old token old1 and its twin twin1 (roll `roll-fedcba987654`, "
                        "which this revoke cancels first)")
    assert lines[1] == (f"Also deletes the old token kept1 kept on {slack_date(NOW - timedelta(days=2))} by <@{ALICE}> "
                        "(Keep old on `roll-0123456789ab`)")
    assert f"as of {slack_date(NOW)}" in lines[2] and "Cloudflare still lists" in lines[2]
    assert approval_lines(Known(NOW)) == []
    assert "did not sign was ignored" in approval_lines(Known(NOW, forged=True))[0]


def test_the_dry_run_plan_lists_every_token_it_would_delete_and_why_and_each_left_live():
    known = Known(NOW, kept=(Kept("kept1", "roll-0123456789ab", NOW, ALICE),))
    targets = decide("vault", known, [token("vault"), token("kept1"), token("stranger")], skew=SKEW)

    lines = plan_lines(targets, known)

    assert lines[:3] == ["Would delete 2 tokens at Cloudflare:", "• vault: the vault's __TOKEN_ID",
                         f"• kept1: the old token kept1 kept on {slack_date(NOW)} by <@{ALICE}> (Keep old on "
                         "`roll-0123456789ab`)"]
    assert lines[3].startswith("⚠️ A second live token with this name, stranger, issued ")
