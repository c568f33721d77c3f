"""Deterministic disguises of corpus cases, the ways people dodge a filter (DESIGN §7).

    from moderation.corpus.disguise import DISGUISES, disguise
    for kind in DISGUISES:
        text = disguise(case, kind)   # None when the disguise does not apply to this case

A case is a corpus record (`cases.jsonl`): its `text` and, for positives, `key`: the words that
carry the rule's evidence. Disguises change only those words (every occurrence, matched without
regard to case), so a disguised case is still the same message with the same meaning:

- upper: the key words in capitals.
- accents: a combining accent after every vowel of the key words.
- confusables: Cyrillic look-alikes (а е о р с х і у ѕ ј һ) for the Latin letters they imitate.
- leet: a→4 e→3 i→1 o→0 s→5 t→7 inside the key words.
- spaced / dotted: the letters of each key word apart ("p i l l s", "p.i.l.l.s").
- zero_width: U+200B / U+200D between the letters of each key word.
- repeats: one letter of each key word tripled ("piiills").
- emoji: a key word replaced by its common emoji stand-in (💊 🔪 🩸 ✂️ 💀 👻 📱).

Web and email addresses among the key words only take the disguises that leave them an
address a browser or mail program would still open (upper, accents, confusables, zero_width);
leet, spacing, dots or repeats would make them a different, or no, address.

Without a key, the character-level disguises (upper, accents, confusables, leet, zero_width,
repeats) apply to the whole text; spaced, dotted and emoji need key words. A disguise that
would leave the text unchanged (capitals of a phone number, leet of a word with none of those
letters) returns None, so recall per disguise counts only cases it really changed.
"""

import re

DISGUISES = (
    "upper",
    "accents",
    "confusables",
    "leet",
    "spaced",
    "dotted",
    "zero_width",
    "repeats",
    "emoji",
)

_WORD = re.compile(r"[^\W_]+")
_VOWELS = "aeiouAEIOU"
_ACCENTS = ("\u0301", "\u0308", "\u0300", "\u0302")
_ZERO_WIDTH = ("\u200b", "\u200d")

CONFUSABLES = {
    "a": "\u0430",  # а
    "e": "\u0435",  # е
    "o": "\u043e",  # о
    "p": "\u0440",  # р
    "c": "\u0441",  # с
    "x": "\u0445",  # х
    "i": "\u0456",  # і
    "y": "\u0443",  # у
    "s": "\u0455",  # ѕ
    "j": "\u0458",  # ј
    "h": "\u04bb",  # һ
    "A": "\u0410",
    "B": "\u0412",
    "C": "\u0421",
    "E": "\u0415",
    "H": "\u041d",
    "I": "\u0406",
    "K": "\u041a",
    "M": "\u041c",
    "O": "\u041e",
    "P": "\u0420",
    "T": "\u0422",
    "X": "\u0425",
}
LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}

# Whole words people swap for an emoji. Only generic words; compared in lower case.
EMOJI = {
    "pill": "\U0001f48a",
    "pills": "\U0001f48a",
    "tablet": "\U0001f48a",
    "tablets": "\U0001f48a",
    "meds": "\U0001f48a",
    "medication": "\U0001f48a",
    "painkillers": "\U0001f48a",
    "knife": "\U0001f52a",
    "knives": "\U0001f52a",
    "blade": "\U0001f52a",
    "blades": "\U0001f52a",
    "razor": "\U0001f52a",
    "blood": "\U0001fa78",
    "cut": "\u2702\ufe0f",
    "cuts": "\u2702\ufe0f",
    "die": "\U0001f480",
    "dead": "\U0001f480",
    "snap": "\U0001f47b",
    "snapchat": "\U0001f47b",
    "phone": "\U0001f4f1",
    "number": "\U0001f4f1",
}

# Key words the letter-spreading disguises leave alone: web and email addresses.
_ADDRESS = re.compile(r"@|://|www\.|[^\W_]\.[a-z]{2,}", re.IGNORECASE)


def _lower_same_length(text: str) -> str:
    """Lower case, character for character (offsets stay valid)."""
    return "".join(ch.lower() if len(ch.lower()) == 1 else ch for ch in text)


def key_spans(text: str, keys) -> list[tuple[int, int]]:
    """Where the key words occur in `text` (case-insensitive), non-overlapping, in order.

    Longer keys are placed first, so a key phrase wins over a key word inside it.
    """
    taken: list[tuple[int, int]] = []
    lowered = _lower_same_length(text)
    for key in sorted({k for k in keys if k}, key=len, reverse=True):
        needle = _lower_same_length(key)
        start = lowered.find(needle)
        while start != -1:
            end = start + len(needle)
            if all(end <= s or start >= e for s, e in taken):
                taken.append((start, end))
            start = lowered.find(needle, start + 1)
    return sorted(taken)


def _in_words(fragment: str, change) -> str:
    """Apply `change(word)` to every word (run of letters and digits) of `fragment`."""
    return _WORD.sub(lambda m: change(m.group(0)), fragment)


def _upper(fragment: str) -> str:
    return fragment.upper()


def _accents(fragment: str) -> str:
    out, n = [], 0
    for ch in fragment:
        out.append(ch)
        if ch in _VOWELS:
            out.append(_ACCENTS[n % len(_ACCENTS)])
            n += 1
    return "".join(out)


def _confusables(fragment: str) -> str:
    return "".join(CONFUSABLES.get(ch, ch) for ch in fragment)


def _leet(fragment: str) -> str:
    return _in_words(fragment, lambda w: "".join(LEET.get(ch.lower(), ch) for ch in w))


def _zero_width(fragment: str) -> str:
    def change(word):
        out = [word[0]]
        for n, ch in enumerate(word[1:]):
            out.append(_ZERO_WIDTH[n % 2])
            out.append(ch)
        return "".join(out)

    return _in_words(fragment, change)


def _repeats(fragment: str) -> str:
    def change(word):
        letters = [i for i, ch in enumerate(word) if ch.isalpha()]
        if not letters:
            return word
        vowels = [i for i in letters if word[i] in _VOWELS]
        at = vowels[0] if vowels else letters[len(letters) // 2]
        return word[:at] + word[at] * 3 + word[at + 1 :]

    return _in_words(fragment, change)


def _spread(separator: str):
    def spread(fragment: str) -> str:
        return _in_words(fragment, lambda w: separator.join(w) if len(w) > 1 else w)

    return spread


def _emoji(fragment: str) -> str:
    return _in_words(fragment, lambda w: EMOJI.get(w.lower(), w))


_CHAR_LEVEL = {
    "upper": _upper,
    "accents": _accents,
    "confusables": _confusables,
    "leet": _leet,
    "zero_width": _zero_width,
    "repeats": _repeats,
}
_WORD_LEVEL = {"spaced": _spread(" "), "dotted": _spread("."), "emoji": _emoji}
# Disguises that leave a web or email address one a browser or mail program would still take.
_ADDRESS_KINDS = ("upper", "accents", "confusables", "zero_width")


def disguise(case: dict, kind: str) -> str | None:
    """The case's text in disguise `kind` (one of DISGUISES), or None when it doesn't apply."""
    if kind not in DISGUISES:
        raise ValueError(f"unknown disguise {kind!r}; expected one of {', '.join(DISGUISES)}")
    text = case["text"]
    keys = case.get("key") or ()
    change = _CHAR_LEVEL.get(kind) or _WORD_LEVEL[kind]
    if not keys:
        if kind in _WORD_LEVEL:
            return None
        result = change(text)
        return result if result != text else None
    spans = key_spans(text, keys)
    if not spans:
        return None
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start])
        fragment = text[start:end]
        if kind not in _ADDRESS_KINDS and _ADDRESS.search(fragment):
            out.append(fragment)
        else:
            out.append(change(fragment))
        last = end
    out.append(text[last:])
    result = "".join(out)
    return result if result != text else None


def disguises_of(case: dict, kinds=DISGUISES) -> dict[str, str]:
    """Every disguise of the case that applies: {kind: text}."""
    found = {}
    for kind in kinds:
        text = disguise(case, kind)
        if text is not None:
            found[kind] = text
    return found
