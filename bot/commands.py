"""Pure parsing of `/cftoken …` text into a Command, or a UsageError that says exactly what to type."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from domain.errors import UsageError
from domain.inventory import Inventory, Token
from domain.messages import escape

Verb = Literal["help", "list", "history", "verify", "roll", "revoke", "provision"]
EXAMPLE_NAME = "CF_WAF_EDIT_RAXX_APP"

# verb -> the usage line shown when it is typed wrong
USAGE: dict[str, str] = {
    "help": "/cftoken help",
    "list": "/cftoken list",
    "history": "/cftoken history NAME",
    "verify": "/cftoken verify NAME",
    "roll": "/cftoken roll NAME [reason]",
    "revoke": "/cftoken revoke NAME reason",
    "provision": "/cftoken provision NAME [reason]",
}
_NO_ARGUMENTS = ("help", "list")
_NAME_ONLY = ("history", "verify")


@dataclass(frozen=True)
class Command:
    verb: Verb
    token: Token | None = None
    reason: str = ""


def parse_command(text: str, inventory: Inventory) -> Command:
    """Turn the text after `/cftoken` into a Command; raise UsageError naming the fix."""
    words = text.split()
    if not words:
        return Command("help")
    verb = words[0].lower()
    if verb not in USAGE:
        raise UsageError(_unknown_verb(words[0]))
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
            f"`/cftoken {verb}` takes only a token name, not `{escape(rest)}`. Type `/cftoken {verb} {token.name}`."
        )
    if verb == "revoke" and not rest:
        raise UsageError(
            f"A revoke needs a reason: it goes into the incident ticket. "
            f"Type `/cftoken revoke {token.name} REASON`, e.g. `/cftoken revoke {token.name} leaked in a CI log`."
        )
    return Command(verb, token, rest)  # type: ignore[arg-type]


def _find_token(verb: str, name: str, inventory: Inventory) -> Token:
    token = inventory.find(name)
    if token is not None:
        return token
    guess = inventory.suggest(name)
    if guess:
        raise UsageError(
            f"There is no token called `{escape(name)}`: did you mean {guess}? Type `/cftoken {verb} {guess}`."
        )
    names = ", ".join(inventory.names)
    raise UsageError(f"There is no token called `{escape(name)}`. The tokens are: {names}.")


def _unknown_verb(word: str) -> str:
    guess = difflib.get_close_matches(word.lower(), list(USAGE), n=1, cutoff=0.6)
    hint = f" Did you mean `/cftoken {guess[0]}`?" if guess else ""
    commands = ", ".join(f"`{usage}`" for usage in USAGE.values())
    return f"`{escape(word)}` is not a /cftoken command.{hint} Type one of: {commands}."
