"""`--dry-run` and its look-alikes (pure): a word is the flag, something that looks like it, or an ordinary word.

A mistyped flag must never open a real request with the typo as its reason, so what is read as typed:

- **the flag** (the dry run): dashes, then `dry`, then `run`, whatever the case, the dashes (Slack's autocorrect
  makes `--` an en or em dash), a `-`, `_` or nothing between the two halves, quotes, backticks or punctuation
  around it (`` `--dry-run` ``, `--dry-run.`), and invisible characters (a zero-width space ends a word);
- **a look-alike** (refused, saying what to type): any other word that starts with a dash and has a letter
  (`--dry`, `--dry-rn`, `-n`: /cftoken has one option only); a word without a dash whose letters are `dryrun` or
  one typo from it, or begin with it (`dry-run`, `DRYRUN`, `dry_rn`, `dry-runs`); or `dry` followed by `run` (or one
  typo from it) as two words.
  A genuine reason with those words in it ("dry run of DR plan failed") is refused too, and told to reword.

Letters are compared after Unicode compatibility folding (fullwidth and mathematical letters), with the few Cyrillic
and Greek letters that pass for d, r, y, u or n read as those.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

FLAG = "--dry-run"
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u2043\u2e3a\u2e3b\ufe58\ufe63\uff0d\u02d7"
_AROUND = "`'\"\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u00ab\u00bb\u2039\u203a()[]{}<>*~.,;:!?\u2026_|/\\"
_LOOKS_LIKE = str.maketrans({
    "\u0430": "a", "\u0435": "e", "\u043e": "o", "\u0440": "p", "\u0441": "c", "\u0443": "y", "\u0445": "x",
    "\u0501": "d", "\u0578": "n", "\u057d": "u", "\u0433": "r", "\u04af": "y", "\u03c5": "u", "\u03b7": "n",
    "\u1d05": "d", "\u0280": "r", "\u028f": "y", "\u1d1c": "u", "\u0274": "n", "\u027e": "r", "\u0262": "g",
})


def words_of(text: str) -> list[str]:
    """The words of a command as typed: split at spaces and at invisible characters (a zero-width space, a soft
    hyphen, a direction mark), which Slack shows as nothing."""
    return "".join(" " if _invisible(c) else c for c in text).split()


def is_flag(word: str) -> bool:
    """`--dry-run` as typed (see the module's docstring)."""
    dashes, letters, _ = _shape(word)
    return dashes > 0 and letters == "dryrun"


def look_alike(words: Sequence[str]) -> str | None:
    """The first word (or pair of words) in `words` that looks like the flag but is not it, as typed; else None."""
    shapes = [_shape(word) for word in words]
    for index, (dashes, letters, has_letter) in enumerate(shapes):
        if dashes > 0 and has_letter and letters != "dryrun":
            return words[index]
        if dashes == 0 and (_near(letters, "dryrun") or letters.startswith("dryrun")):
            return words[index]
        if dashes == 0 and letters == "dry" and index + 1 < len(words):
            following_dashes, following, _ = shapes[index + 1]
            if following_dashes == 0 and _near(following, "run"):
                return f"{words[index]} {words[index + 1]}"
    return None


def has_invisible(text: str) -> bool:
    """Whether `text` holds a character Slack shows as nothing (so a refusal can say the word was split there)."""
    return any(_invisible(c) for c in text)


def _shape(word: str) -> tuple[int, str, bool]:
    """(leading dashes, the remaining letters and digits folded to ASCII lower case, whether any is a letter)."""
    folded = unicodedata.normalize("NFKC", word)
    folded = "".join(c for c in folded if not _invisible(c) and unicodedata.category(c) != "Mn")
    folded = folded.strip(_AROUND).lower().translate(_LOOKS_LIKE)
    rest = folded.lstrip(DASHES)
    letters = "".join(c for c in rest if c.isalnum())
    return len(folded) - len(rest), letters, any(c.isalpha() for c in letters)


def _invisible(character: str) -> bool:
    return unicodedata.category(character) in ("Cf", "Cc", "Zl", "Zp") and character not in "\t\n\r"


def _near(letters: str, wanted: str) -> bool:
    """`letters` is `wanted` or one typo (a missing, extra, wrong or swapped letter) from it."""
    return len(letters) >= len(wanted) - 1 and _distance(letters, wanted) <= 1


def _distance(a: str, b: str) -> int:
    """Edit distance with adjacent transpositions (optimal string alignment)."""
    rows = [list(range(len(b) + 1))] + [[i] + [0] * len(b) for i in range(1, len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]
