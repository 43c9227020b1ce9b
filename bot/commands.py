"""Pure parsing of `/cftoken …` text into a Command, or a UsageError that says exactly what to type."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from bot.dry_run_flag import FLAG, has_invisible, is_flag, look_alike, words_of
from domain.errors import UsageError
from domain.inventory import Inventory, Token
from domain.messages import echo, reason_too_long

Verb = Literal["help", "list", "history", "verify", "roll", "revoke", "provision"]
EXAMPLE_NAME = "CF_WAF_EDIT_RAXX_APP"

# verb -> the usage line shown when it is typed wrong
USAGE: dict[str, str] = {
    "help": "/cftoken help",
    "list": "/cftoken list",
    "history": "/cftoken history NAME [page]",
    "verify": "/cftoken verify NAME",
    "roll": "/cftoken roll NAME [reason]",
    "revoke": "/cftoken revoke NAME reason",
    "provision": "/cftoken provision NAME [reason]",
}
_NO_ARGUMENTS = ("help", "list")
_NAME_ONLY = ("verify",)
DRY_RUN = FLAG
_MAY_DRY_RUN = ("roll", "revoke", "provision")
MAX_PAGE = 50


@dataclass(frozen=True)
class Command:
    verb: Verb
    token: Token | None = None
    reason: str = ""
    page: int = 1
    dry_run: bool = False  # `--dry-run`: the read-only pre-flight and the plan, no approval, nothing changed


def parse_command(text: str, inventory: Inventory) -> Command:
    """Turn the text after `/cftoken` into a Command; raise UsageError naming the fix."""
    typed = words_of(text)
    dry_run = any(is_flag(word) for word in typed)
    words = [word for word in typed if not is_flag(word)]
    mistyped = look_alike([word for word in words if inventory.find(word) is None])
    if mistyped is not None:
        raise UsageError(_looks_like_the_flag(mistyped, words, inventory, split=has_invisible(text)))
    if not words:
        if dry_run:
            raise UsageError(f"`{DRY_RUN}` goes after a roll, revoke or provision: "
                             f"type `/cftoken roll {EXAMPLE_NAME} {DRY_RUN}`.")
        return Command("help")
    verb = words[0].lower()
    if verb not in USAGE:
        raise UsageError(_unknown_verb(words, inventory))
    if dry_run and verb not in _MAY_DRY_RUN:
        raise UsageError(f"`/cftoken {verb}` changes nothing, so it has no `{DRY_RUN}`: type `{USAGE[verb]}`.")
    if verb in _NO_ARGUMENTS:
        if len(words) > 1:
            raise UsageError(f"`{USAGE[verb]}` takes nothing after it. Type `{USAGE[verb]}`.")
        return Command(verb)  # type: ignore[arg-type]
    if len(words) == 1:
        raise UsageError(
            f"`/cftoken {verb}` needs a token name. Type `{USAGE[verb]}`, "
            f"e.g. `/cftoken {verb} {EXAMPLE_NAME}{' why' if verb == 'revoke' else ''}`; "
            "`/cftoken list` shows the names."
        )
    token = _find_token(verb, words[1], inventory)
    rest = " ".join(words[2:])
    if verb in _NAME_ONLY and rest:
        raise UsageError(
            f"`/cftoken {verb}` takes only a token name, not `{echo(rest)}`. Type `/cftoken {verb} {token.name}`."
        )
    if verb == "history":
        return Command("history", token, page=_page(rest, token))
    if verb == "revoke" and not rest:
        flag = f" {DRY_RUN}" if dry_run else ""
        raise UsageError(
            f"A revoke needs a reason: it goes into the incident ticket. Type `/cftoken revoke {token.name} REASON"
            f"{flag}`, e.g. `/cftoken revoke {token.name} leaked in a CI log{flag}`."
        )
    too_long = reason_too_long(rest)
    if too_long:
        raise UsageError(f"{too_long} Shorten it and type the command again.")
    return Command(verb, token, rest, dry_run=dry_run)  # type: ignore[arg-type]


def _looks_like_the_flag(mistyped: str, words: list[str], inventory: Inventory, *, split: bool) -> str:
    """Nothing is opened for a word that looks like `--dry-run` but is not it: say how to type either command."""
    verb = words[0].lower() if words and words[0].lower() in _MAY_DRY_RUN else "roll"
    token = next((found for found in map(inventory.find, words) if found is not None), None)
    example = f"/cftoken {verb} {token.name if token else EXAMPLE_NAME}{' REASON' if verb == 'revoke' else ''}"
    hidden = " (the text held an invisible character, e.g. a zero-width space, which splits a word: retype it)"
    return (f"`{echo(mistyped.replace('`', ''))}` is not `{DRY_RUN}`, the only option /cftoken takes"
            f"{hidden if split else ''}, so nothing was requested. For a dry run type `{example} {DRY_RUN}` "
            f"(two hyphens); for a real request type `{example}` without it (a reason that says \"dry run\" needs "
            "other words).")


def _page(rest: str, token: Token) -> int:
    if not rest:
        return 1
    if not (rest.isascii() and rest.isdigit()) or not 1 <= int(rest) <= MAX_PAGE:
        raise UsageError(
            f"`/cftoken history {token.name}` takes a page number from 1 to {MAX_PAGE}, not `{echo(rest)}`. "
            f"Type `/cftoken history {token.name} 2` for the next 20 events."
        )
    return int(rest)


def _find_token(verb: str, name: str, inventory: Inventory) -> Token:
    token = inventory.find(name)
    if token is not None:
        return token
    guess = suggest_name(name, inventory)
    if guess:
        raise UsageError(
            f"There is no token called `{echo(name)}`: did you mean {guess}? Type `/cftoken {verb} {guess}`."
        )
    names = ", ".join(inventory.names)
    raise UsageError(f"There is no token called `{echo(name)}`. The tokens are: {names}.")


def suggest_name(name: str, inventory: Inventory) -> str | None:
    """The inventory name meant by a misspelt or shortened `name`: the only one it begins, else the closest."""
    wanted = name.strip().upper()
    starting = [known for known in inventory.names if known.startswith(wanted)]
    if len(starting) == 1 and len(wanted) >= 3:
        return starting[0]
    return inventory.suggest(name)


def _unknown_verb(words: list[str], inventory: Inventory) -> str:
    guess = difflib.get_close_matches(words[0].lower(), list(USAGE), n=1, cutoff=0.6)
    hint = ""
    if guess:
        corrected = [guess[0]]
        if len(words) > 1 and guess[0] not in _NO_ARGUMENTS:
            token = inventory.find(words[1])
            corrected.append(token.name if token else suggest_name(words[1], inventory) or echo(words[1]))
            corrected += [echo(" ".join(words[2:]))] if len(words) > 2 else []
        hint = f" Did you mean `/cftoken {' '.join(corrected)}`?"
    commands = ", ".join(f"`{usage}`" for usage in USAGE.values())
    return f"`{echo(words[0])}` is not a /cftoken command.{hint} Type one of: {commands}."
