"""Views of a message that rules can match against, whatever disguise the text wears.

A *view* is lower-case ASCII words separated by single spaces, padded with one space at each
end, so a term " word " in an Aho-Corasick automaton only ever matches whole words.

Two ways to build it, giving the same string:

- `plain_view` (fast): for text with no disguise markers, which is nearly every message:
  one table translation of bytes, one split and join.
- `deep_view` (thorough): leetspeak inside words, and repeated letters (all runs collapsed to
  one letter; terms are collapsed the same way), each only when the plain view showed a sign of
  it; `spaced_runs` joins letters spaced or dotted apart.

Both start from `ascii_of`: look-alike letters, accents, invisible characters and emoji
stand-ins folded through `UNICODE_TABLE`, a translation table filled one character at a time.

Text that showed leetspeak is also read with its short numbers as letters
(`numbers_as_letters`, "d0 17"), beside the view that keeps them as amounts.

`mapped_view` builds the deep or plain view again with, for every character, its offset in
the original text; `PlainOrigin` gives the same offsets for plain ASCII text word by word.
They run only when a rule has fired and a moderator needs to see where; tests check they agree
with the fast views and with each other.
"""

import bisect
import itertools
import json
import re
import string
import unicodedata
from functools import cache
from importlib import resources

# Characters read as a letter when they sit inside a word ("k1ll", "$uicide", "b|ade").
LEET = {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b", "9": "g"}
LEET_SYMBOLS = {"@": "a", "$": "s", "!": "i", "|": "l", "+": "t", "€": "e", "£": "l"}

# Apostrophes split contractions into words of their own ("i'm" -> "i m"), the same for terms.
APOSTROPHES = "'\u2018\u2019\u02bc\u0060\u00b4"

# Number tokens that are not leetspeak: ordinals, times, doses, sizes ("2nd", "3pm", "5h").
NUMBER_WITH_UNIT = re.compile(
    r"\d*1st|\d*2nd|\d*3rd|\d*[04-9]th|1[123]th"
    r"|\d+(?:am|pm|h|hr|hrs|m|min|mins|s|sec|secs|mg|ml|g|kg|k|x|p|yo|mb|gb|mph)?"
)

_ASCII_KEEP = string.ascii_lowercase + string.digits
_PLAIN_TABLE = bytes(
    (c + 32) if 65 <= c <= 90 else c if chr(c) in _ASCII_KEEP else 32 for c in range(256)
)
# The deep view keeps leet symbols inside words until they are decoded.
_DEEP_TABLE = bytes(
    (c + 32) if 65 <= c <= 90 else c if chr(c) in _ASCII_KEEP or chr(c) in "@$!|+" else 32
    for c in range(256)
)

_LEET_TOKEN = re.compile(
    r"(?<![a-z0-9@$!|+])[a-z0-9@$!|+]*(?:[a-z][0-9@$!|+]|[0-9@$!|+][a-z])[a-z0-9@$!|+]*"
)
_LEET_DECODE = str.maketrans({**LEET, **LEET_SYMBOLS})
_SYMBOLS_TO_SPACE = str.maketrans(dict.fromkeys("@$!|+", " "))
SPACED_RUN = re.compile(r"(?<= )[a-z0-9](?: [a-z0-9]){2,}(?= )")
_REPEATS = re.compile(r"([a-z])\1+")


def collapse_repeats(text: str) -> str:
    """Collapse every run of one letter to a single letter ("pilllls" -> "pils")."""
    return _REPEATS.sub(r"\1", text)


# Unicode ---------------------------------------------------------------------------------------


@cache
def _confusables() -> dict[str, str]:
    """Map look-alike characters to the ASCII letter or digit they imitate (Unicode TR39)."""
    import confusable_homoglyphs

    data = json.loads(
        resources.files(confusable_homoglyphs).joinpath("confusables.json").read_text("utf-8")
    )
    mapping: dict[str, str] = {}
    for target in string.ascii_letters + string.digits:
        for entry in data.get(target, ()):
            glyph = entry["c"]
            if len(glyph) == 1 and not glyph.isascii():
                mapping.setdefault(glyph, target.lower())
    return mapping


class _UnicodeTable(dict):
    """`str.translate` table for non-ASCII text, filled in one character at a time."""

    stand_ins: dict[str, str] = {}

    def __missing__(self, codepoint: int):
        replacement = self._replacement(chr(codepoint))
        self[codepoint] = replacement
        return replacement

    def _replacement(self, char: str):
        if char in self.stand_ins:
            return " " + self.stand_ins[char] + " "
        if char in APOSTROPHES:
            return " "
        category = unicodedata.category(char)
        if category in ("Mn", "Me", "Cf"):
            return None  # combining marks, zero-width and direction controls
        if category in ("Cc", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"):
            return " "
        confusable = _confusables().get(char)
        decomposed = unicodedata.normalize("NFKD", char)
        stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
        if stripped.isascii() and stripped.strip():
            return stripped.lower()
        if confusable is not None:
            return confusable
        if category.startswith("P") or category.startswith("S"):
            return " "  # punctuation and symbols without a stand-in separate words
        return char.lower()


UNICODE_TABLE = _UnicodeTable()


def set_stand_ins(stand_ins: dict[str, str]) -> None:
    """Use these emoji (and other symbol) stand-ins for words from now on."""
    if stand_ins != _UnicodeTable.stand_ins:
        _UnicodeTable.stand_ins = dict(stand_ins)
        UNICODE_TABLE.clear()


def _pad(text: str) -> str:
    words = " ".join(text.split())
    return f" {words} " if words else " "


def ascii_of(text: str) -> str:
    if text.isascii():
        return text
    # Lone surrogates (from JSON "\ud800") cannot be encoded; they become spaces here.
    return text.translate(UNICODE_TABLE).encode("ascii", "replace").decode("ascii")


def plain_view(text: str) -> str:
    """Return the view of plain-ASCII text: lower case, punctuation as spaces, padded."""
    return _pad(text.encode("ascii").translate(_PLAIN_TABLE).decode("ascii"))


def _leet_token(match: re.Match) -> str:
    token = match.group(0)
    stripped = token.strip("!|+")
    if NUMBER_WITH_UNIT.fullmatch(stripped):
        return token
    # "help!" keeps its word; only symbols inside a word stand for letters.
    lead = len(token) - len(token.lstrip("!|+"))
    tail = len(token) - len(token.rstrip("!|+"))
    inner = token[lead : len(token) - tail]
    return " " * lead + inner.translate(_LEET_DECODE) + " " * tail


def deep_view(ascii_text: str, *, leet: bool, collapse: bool) -> str:
    """Return the view of `ascii_text` with leetspeak decoded and/or repeated letters collapsed.

    Each step runs only when the plain view showed a sign of that disguise, so ordinary text
    (which has doubled letters, and digits next to letters in "3pm") stays on the fast path.
    """
    if leet:
        view = ascii_text.encode("ascii").translate(_DEEP_TABLE).decode("ascii")
        view = _LEET_TOKEN.sub(_leet_token, view).translate(_SYMBOLS_TO_SPACE)
    else:
        view = ascii_text.encode("ascii").translate(_PLAIN_TABLE).decode("ascii")
    view = _pad(view)
    return collapse_repeats(view) if collapse else view


_SHORT_NUMBER = re.compile(r"(?<= )\d{1,4}[a-z]{0,3}(?= )")


def decode_leet(lowered: str) -> str:
    """Read leetspeak inside words as letters, keeping every character's place."""
    return _LEET_TOKEN.sub(_leet_token, lowered)


def numbers_as_letters(view: str) -> str:
    """Return the view with short numbers read as leetspeak too ("d0 17" -> "do it", "700k").

    Used beside the view that keeps them as numbers (amounts), only for text that already
    showed leetspeak. Same length as `view`, so evidence found in either lines up.
    """
    return _SHORT_NUMBER.sub(lambda m: m.group(0).translate(_LEET_DECODE), view)


def spaced_runs(view: str) -> list[tuple[int, int, str]]:
    """Return the runs of letters spaced or dotted apart: (start, end in the view, letters).

    "p i l l s" -> (start, end, "pills"): the engine reads the letters joined up.
    """
    runs = []
    for m in SPACED_RUN.finditer(view):
        letters = m.group(0).replace(" ", "")
        if len(letters) == 3 and letters[:2] in _CONTRACTED:
            continue  # "I'm a mess", "I'd a feeling": a contraction and a word, not spacing
        runs.append((m.start(), m.end(), letters))
    return runs


# "i'm", "i'd" become "i m", "i d" in the view (apostrophes split words, for terms alike).
_CONTRACTED = frozenset({"im", "id"})


def mapped_view(text: str, *, leet: bool, collapse: bool) -> tuple[str, list[int]]:
    """Return the view with, for each of its characters, the offset it came from in `text`.

    The padding spaces map to the start and the end of the text.
    """
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isascii():
            replacement = char
        else:
            replacement = UNICODE_TABLE[ord(char)] or ""
            replacement = replacement.encode("ascii", "replace").decode("ascii")
        table = _DEEP_TABLE if leet else _PLAIN_TABLE
        for piece in replacement.encode("ascii").translate(table).decode("ascii"):
            chars.append(piece)
            origin.append(index)
    view = "".join(chars)
    if leet:
        # Leet decoding keeps every token's length, so offsets carry over as they are.
        view = _LEET_TOKEN.sub(_leet_token, view).translate(_SYMBOLS_TO_SPACE)
    # Collapse whitespace (and, deep, repeated letters), keeping the first offset of each run.
    out_chars = [" "]
    out_origin = [0]
    for char, where in zip(view, origin, strict=True):
        previous = out_chars[-1]
        if char == " " and previous == " ":
            continue
        if collapse and char == previous and "a" <= char <= "z":
            continue
        out_chars.append(char)
        out_origin.append(where)
    if out_chars[-1] != " ":
        out_chars.append(" ")
        out_origin.append(len(text))
    return "".join(out_chars), out_origin


class PlainOrigin:
    """`mapped_view`'s offsets for plain ASCII text, found word by word rather than per
    character: the plain view is the text's words, lower-cased, one space apart."""

    def __init__(self, text: str):
        translated = text.encode("ascii").translate(_PLAIN_TABLE).decode("ascii")
        # Words and runs of spaces alternate, words at even places ("" first if the text
        # starts with spaces): split and summed in C, then one pass to keep the words.
        parts = _SPACES.split(translated)
        starts = list(itertools.accumulate(map(len, parts), initial=0))
        words = parts[0::2]
        self._text_starts = [
            start for start, word in zip(starts[0::2], words, strict=False) if word
        ]
        # Each word starts one past the end of the one before (the view's single spaces).
        widths = map((1).__add__, map(len, filter(None, words)))
        self._view_starts = list(itertools.accumulate(widths, initial=1))[:-1]
        self._text_length = len(text)

    def __len__(self) -> int:
        return (self._view_starts[-1] if self._view_starts else 0) + self._text_length + 2

    def __getitem__(self, view_index: int) -> int:
        word = bisect.bisect_right(self._view_starts, view_index) - 1
        if word < 0:
            return 0
        offset = view_index - self._view_starts[word]
        return min(self._text_starts[word] + offset, self._text_length)


_SPACES = re.compile(r"( +)")


def term_key(term: str) -> str:
    """Return the form a lexicon term takes in the view (for the word-bound automaton)."""
    return plain_view(ascii_of(term))


def deep_term_key(term: str) -> str:
    return collapse_repeats(term_key(term))
