"""A dry-run look-alike never opens a real request: each is the dry run or a refusal that says what to type
(bot/dry_run_flag.py; the table is the README's promise, typed after `roll CF_PAGES_DEPLOY`)."""

from __future__ import annotations

import pytest

from bot.commands import parse_command
from bot.dry_run_flag import is_flag, look_alike, words_of
from domain.errors import UsageError
from domain.inventory import load_inventory
from domain.settings import DEFAULT_INVENTORY

INVENTORY = load_inventory(DEFAULT_INVENTORY)
TOKEN = "CF_PAGES_DEPLOY"
ZWSP, SOFT_HYPHEN, BOM = "\u200b", "\u00ad", "\ufeff"

THE_DRY_RUN = [  # read as the flag: the dry run, which changes nothing
    "--dry-run", "--DRY-RUN", "--Dry-Run", "-dry-run", "---dry-run", "--dryrun", "--dry_run",
    "\u2014dry-run", "\u2013dry-run", "\u2010\u2010dry\u2010run", "\u2212\u2212dry\u2212run", "--dry\u2011run",
    "`--dry-run`", "--dry-run.", "--dry-run,", "(--dry-run)", "\u201c--dry-run\u201d", "*--dry-run*", "_--dry-run_",
    f"--dry-run{ZWSP}", f"{ZWSP}--dry-run", f"{BOM}--dry-run",
    "\uff0d\uff0d\uff44\uff52\uff59\uff0d\uff52\uff55\uff4e",  # fullwidth
    "--dr\u0443-run",  # a Cyrillic у for the y
]

REFUSED = [  # looks like the flag but is not it: nothing opened, the answer says what to type
    "--dry run", "--dry-rn", "--dry-ru", "--dryrn", "--dry", "--dr-run", "--dyr-run", "--dry-runn", "\u2014dry run",
    "dry -run", "-n", "--force",
    "dry-run", "dryrun", "dry_run", "DRY-RUN", "Dry-Run", "dry\u2013run", "dry-rn", "dry-ru", "dyrrun", "dry-runs",
    "dryrunning", "dry-run.", "`dry-run`", "\uff44\uff52\uff59\uff0d\uff52\uff55\uff4e", "dr\u0443-run",
    "dry run", "Dry Run", "dry rn", "dry run of DR plan failed",
    f"--dry{ZWSP}-run", f"--dry{SOFT_HYPHEN}run",
    "--dry-run dry-run",  # the flag beside a look-alike: which was meant is not clear
]

ORDINARY = [  # reasons with ordinary words: a real request, as typed
    "dry weather broke the CI runner", "run 42 leaked it", "re-run of the pipeline leaked it", "INC-1234 \u2014 leaked",
    "the DR drill ran dry", "-> see INC-9", "rerun", "runs dry",
]


@pytest.mark.parametrize("typed", THE_DRY_RUN)
def test_the_flag_however_it_was_typed_is_the_dry_run(typed):
    command = parse_command(f"roll {TOKEN} {typed}", INVENTORY)

    assert (command.verb, command.token.name, command.dry_run, command.reason) == ("roll", TOKEN, True, "")


@pytest.mark.parametrize("typed", REFUSED)
def test_a_look_alike_opens_nothing_and_is_told_both_commands_to_type(typed):
    with pytest.raises(UsageError) as refused:
        parse_command(f"roll {TOKEN} {typed}", INVENTORY)

    told = str(refused.value)
    assert "is not `--dry-run`" in told and "nothing was requested" in told
    assert f"`/cftoken roll {TOKEN} --dry-run`" in told and f"`/cftoken roll {TOKEN}` without it" in told


@pytest.mark.parametrize("reason", ORDINARY)
def test_a_reason_of_ordinary_words_is_a_real_request(reason):
    command = parse_command(f"roll {TOKEN} {reason}", INVENTORY)

    assert (command.dry_run, command.reason) == (False, reason)


def test_the_table_covers_the_issues_32_and_more():
    assert len(THE_DRY_RUN) + len(REFUSED) >= 50
    assert not set(THE_DRY_RUN) & set(REFUSED)


def test_the_refusal_names_the_verb_the_token_and_a_revokes_reason():
    with pytest.raises(UsageError) as refused:
        parse_command(f"REVOKE {TOKEN.lower()} leaked dry-run", INVENTORY)

    assert f"`/cftoken revoke {TOKEN} REASON --dry-run`" in str(refused.value)


def test_a_word_split_by_an_invisible_character_is_said_to_be():
    with pytest.raises(UsageError, match="invisible character"):
        parse_command(f"roll {TOKEN} --dry{ZWSP}-run", INVENTORY)


def test_a_look_alike_before_the_verb_or_in_place_of_the_name_opens_nothing():
    for text in (f"dry-run roll {TOKEN}", f"roll dry-run {TOKEN}", "roll --dry-rn"):
        with pytest.raises(UsageError, match="is not `--dry-run`"):
            parse_command(text, INVENTORY)


def test_the_pure_pieces():
    assert words_of(f"roll{ZWSP}X  --dry-run{SOFT_HYPHEN}") == ["roll", "X", "--dry-run"]
    assert is_flag("\u2014DRY_RUN") and not is_flag("dry-run") and not is_flag("--dry")
    assert look_alike(["leaked", "dry", "run"]) == "dry run"
    assert look_alike(["dry", "weather"]) is None
