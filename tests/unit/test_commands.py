"""Parsing `/cftoken …` text: what a person types, and what they are told when it is wrong."""

from __future__ import annotations

import pytest

from bot.commands import Command, UsageError, parse_command
from domain.inventory import load_inventory
from domain.settings import DEFAULT_INVENTORY

INVENTORY = load_inventory(DEFAULT_INVENTORY)
WAF = INVENTORY.find("CF_WAF_EDIT_RAXX_APP")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Command("help")),
        ("help", Command("help")),
        ("HELP", Command("help")),
        ("list", Command("list")),
        ("  list  ", Command("list")),
        ("verify CF_WAF_EDIT_RAXX_APP", Command("verify", WAF)),
        ("verify cf_waf_edit_raxx_app", Command("verify", WAF)),
        ("Verify Cf_Waf_Edit_Raxx_App", Command("verify", WAF)),
        ("history CF_WAF_EDIT_RAXX_APP", Command("history", WAF)),
        ("history CF_WAF_EDIT_RAXX_APP 3", Command("history", WAF, page=3)),
        ("roll CF_WAF_EDIT_RAXX_APP " + "x" * 1000, Command("roll", WAF, "x" * 1000)),
        ("roll CF_WAF_EDIT_RAXX_APP", Command("roll", WAF, "")),
        ("roll CF_WAF_EDIT_RAXX_APP quarterly rotation", Command("roll", WAF, "quarterly rotation")),
        ("roll   CF_WAF_EDIT_RAXX_APP   two  spaces", Command("roll", WAF, "two spaces")),
        ("revoke CF_WAF_EDIT_RAXX_APP leaked in a CI log", Command("revoke", WAF, "leaked in a CI log")),
    ],
)
def test_well_formed_commands_parse(text, expected):
    assert parse_command(text, INVENTORY) == expected


@pytest.mark.parametrize(
    ("text", "told"),
    [
        ("rol CF_WAF_EDIT_RAXX_APP", ["`rol` is not a /cftoken command",
                                      "Did you mean `/cftoken roll CF_WAF_EDIT_RAXX_APP`?"]),
        ("rol CF_WAF", ["Did you mean `/cftoken roll CF_WAF_EDIT_RAXX_APP`?"]),
        ("rol CF_WAF_EDIT_RAXX_APX quarterly", ["Did you mean `/cftoken roll CF_WAF_EDIT_RAXX_APP quarterly`?"]),
        ("lst", ["Did you mean `/cftoken list`?"]),
        ("verify CF_WAF", ["no token called `CF_WAF`", "did you mean CF_WAF_EDIT_RAXX_APP?"]),
        ("roll CF_WAF_EDIT_RAXX_APP " + "x" * 1001, ["at most 1,000 characters", "yours is 1,001"]),
        ("roll CF_WAF_EDIT_RAXX_APP " + "&" * 201, ["at most 1,000 characters", "yours is 1,005"]),
        ("history CF_WAF_EDIT_RAXX_APP soon", ["takes a page number from 1 to 50, not `soon`"]),
        ("frobnicate", ["`frobnicate` is not a /cftoken command", "`/cftoken verify NAME`"]),
        ("CF_WAF_EDIT_RAXX_APP", ["not a /cftoken command", "`/cftoken roll NAME [reason]`"]),
        ("verify", ["needs a token name", "Type `/cftoken verify NAME`", "/cftoken verify CF_WAF_EDIT_RAXX_APP"]),
        ("roll", ["needs a token name", "`/cftoken roll NAME [reason]`"]),
        ("revoke", ["needs a token name", "`/cftoken revoke NAME reason`"]),
        ("history", ["needs a token name", "`/cftoken history NAME [page]`"]),
        (
            "verify CF_WAF_EDIT_RAXX_APX",
            ["no token called `CF_WAF_EDIT_RAXX_APX`", "did you mean CF_WAF_EDIT_RAXX_APP?"],
        ),
        (
            "roll cf_waf_edit_rax_app",
            ["did you mean CF_WAF_EDIT_RAXX_APP?", "Type `/cftoken roll CF_WAF_EDIT_RAXX_APP`"],
        ),
        ("verify NOPE", ["no token called `NOPE`", "The tokens are: CF_WAF_EDIT_RAXX_APP, CF_DNS_EDIT_GETRAXX_COM"]),
        ("revoke CF_WAF_EDIT_RAXX_APP", ["A revoke needs a reason", "`/cftoken revoke CF_WAF_EDIT_RAXX_APP REASON`"]),
        ("verify CF_WAF_EDIT_RAXX_APP now please", ["takes only a token name, not `now please`"]),
        ("list everything", ["`/cftoken list` takes nothing after it"]),
        ("help me", ["`/cftoken help` takes nothing after it"]),
    ],
)
def test_bad_input_says_exactly_what_to_type(text, told):
    with pytest.raises(UsageError) as refused:
        parse_command(text, INVENTORY)

    for phrase in told:
        assert phrase in str(refused.value)


def test_typed_text_is_escaped_in_the_answer():
    with pytest.raises(UsageError) as refused:
        parse_command("verify <!channel>", INVENTORY)

    assert "&lt;!channel&gt;" in str(refused.value)
    assert "<!channel>" not in str(refused.value)


def test_an_echoed_word_is_clipped():
    with pytest.raises(UsageError) as refused:
        parse_command("verify " + "Q" * 3100, INVENTORY)

    assert len(str(refused.value)) < 600 and "…" in str(refused.value)
