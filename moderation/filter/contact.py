"""Contact details and links: found in the text itself, so they can be masked in place.

Phone numbers are parsed with `phonenumbers` (Google's libphonenumber), so a year, a price or
an order number is not mistaken for one. Crisis lines on the policy's allow-list (999, 111,
116 123, 85258...) are never masked: people must be able to share them.
"""

import re
from dataclasses import dataclass

import phonenumbers

EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]{1,64}\s?(?:@|\(at\)|\[at\])\s?[a-z0-9-]{1,63}(?:\s?(?:\.|\(dot\)|\[dot\])\s?[a-z0-9-]{1,63})+",
    re.IGNORECASE,
)
# "name at example dot com": spelled out so a filter reading for "@" misses it.
EMAIL_SPELLED = re.compile(
    r"\b[\w.+-]{2,64} at [a-z0-9-]{2,63} dot (?:com|org|net|co|uk|io|me)(?: dot [a-z]{2,3})?\b",
    re.IGNORECASE,
)
HANDLE = re.compile(r"(?<![\w@.])@[a-z0-9_.]*[a-z][a-z0-9_.]{0,29}", re.IGNORECASE)
URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"']+"
    r"|(?<![\w@.-])(?:[a-z0-9-]{1,63}\.)+(?:com|org|net|uk|io|co|me|ly|gg|app|xyz|info|biz|tv|ru"
    r"|de|fr|link|site|online|to|cc|us|eu|ai|test|example)\b(?:/[^\s<>\"']*)?",
    re.IGNORECASE,
)
URL_SPELLED = re.compile(
    r"\b[a-z0-9-]{2,63} dot (?:com|org|net|co dot uk|io|me|ly|gg)\b", re.IGNORECASE
)
POSTCODE = re.compile(r"\b[a-z]{1,2}\d[a-z\d]?\s?\d[abd-hjlnp-uw-z]{2}\b", re.IGNORECASE)
STREET = re.compile(
    r"\b\d{1,4}[a-z]?,?\s+(?:[a-z]+\s+){1,3}(?:street|st|road|rd|avenue|ave|lane"
    r"|crescent|terrace|gardens|mews)\b",
    re.IGNORECASE,
)
# Cheap tests that decide whether the slower searches need to run at all.
_DOMAIN_HINT = re.compile(r"[a-z0-9]\.[a-z]{2}", re.IGNORECASE)
_STREET_WORD = re.compile(
    r"\b(?:street|st|road|rd|avenue|ave|lane|crescent|terrace|gardens|mews)\b", re.IGNORECASE
)


@dataclass(frozen=True)
class Found:
    start: int
    end: int
    rule: str  # contact.phone, contact.email, contact.handle, contact.platform, contact.address,
    # links.url


@dataclass(frozen=True)
class ContactPolicy:
    allowed_numbers: frozenset[str]
    allowed_domains: tuple[str, ...]
    platform_pattern: re.Pattern | None
    region: str = "GB"


def _fold(text: str) -> tuple[str, list[int]]:
    """Fold look-alike letters, accents, width forms and stand-ins to ASCII, dropping invisible
    characters, keeping for each character the offset it came from (and one past the end)."""
    from moderation.filter.normalise import UNICODE_TABLE

    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isascii():
            chars.append(char)
            origin.append(index)
            continue
        replacement = UNICODE_TABLE[ord(char)]
        if replacement is None:
            continue
        chars.append(replacement)
        origin.extend([index] * len(replacement))
    origin.append(len(text))
    return "".join(chars), origin


def _collapsed(text: str, origin: list[int], longest: int) -> tuple[str, list[int]]:
    """Letters repeated three times or more cut down to `longest` ("snaaap" -> "snap")."""
    chars: list[str] = []
    kept: list[int] = []
    run = 0
    for index, char in enumerate(text):
        run = run + 1 if chars and char == chars[-1] and char.isalpha() else 1
        if run > longest and _TRIPLE.match(text, max(0, index - run + 1)):
            continue
        chars.append(char)
        kept.append(origin[index])
    kept.append(origin[-1])
    return "".join(chars), kept


_TRIPLE = re.compile(r"(?!www)([a-z])\1\1", re.IGNORECASE)
_LEET_IN_WORD = re.compile(r"[a-z][0-9@$|]|[0-9@$|][a-z]", re.IGNORECASE)


def _variants(text: str, marks, *, spaced_digits: bool) -> list[tuple[str, list[int] | None]]:
    """The text as typed (folded to ASCII) and undisguised: leetspeak read as letters, repeated
    letters collapsed, spaced letters joined. What is found in any is masked in the original.
    """
    if text.isascii():
        base, origin = text, list(range(len(text) + 1))
    else:
        base, origin = _fold(text)
    variants = [(base, origin)]
    if "leet" in marks:
        from moderation.filter.normalise import decode_leet

        variants.append((decode_leet(base.lower()), origin))
    if "repeat" in marks:
        for longest in (1, 2):
            variants.append(_collapsed(base, origin, longest))
    if ("spaced" in marks or spaced_digits) and _SPACED.search(base):
        variants.append(_joined(base, origin))
    return variants


# Digits a phone number needs to be read from digits typed one at a time: a full UK number.
# Fewer spaced digits are more often grades, scores or a list ("9 8 7 7 6 6 5 5").
JOINED_PHONE_DIGITS = 10


# Three or more single letters or digits, each followed by one separator ("0 7 7", "s.n.a.p").
_SPACED = re.compile(r"(?<![^\s])(?:[a-z0-9_][ .](?=[a-z0-9_](?:[ .,?]|$))){2,}[a-z0-9_]", re.I)


def _joined(text: str, origin: list[int]) -> tuple[str, list[int]]:
    """Letters spaced or dotted apart written together again ("s n a p" -> "snap")."""
    chars: list[str] = []
    kept: list[int] = []
    position = 0
    for m in _SPACED.finditer(text):
        for index in range(position, m.start()):
            chars.append(text[index])
            kept.append(origin[index])
        for index in range(m.start(), m.end()):
            if text[index] not in " .":
                chars.append(text[index])
                kept.append(origin[index])
        position = m.end()
    for index in range(position, len(text)):
        chars.append(text[index])
        kept.append(origin[index])
    kept.append(origin[-1])
    return "".join(chars), kept


def find(
    text: str, policy: ContactPolicy, *, hint_ascii: str, hint_groups=None, marks=None
) -> list[Found]:
    """Return contact details and links in `text`, in order, not overlapping.

    `hint_ascii` is the message already folded to ASCII; `hint_groups` the evidence the engine
    found in its normalised views (platform names, street words) and `marks` the disguises it
    saw (leet, repeat, spaced). Together they decide cheaply what to look for: most messages
    have none of it and cost a few string searches.
    """
    digits = len(hint_ascii) - len(hint_ascii.encode("ascii").translate(None, _DIGIT_BYTES))
    groups = hint_groups if hint_groups is not None else {}
    marks = marks if marks is not None else _marks_of(hint_ascii)
    has_at = "@" in hint_ascii or "(at)" in hint_ascii or "[at]" in hint_ascii
    # Checked again in each variant: "streeeet" only reads as a street once undisguised.
    address = digits > 0 and (
        "street" in groups
        or "repeat" in marks
        or hint_groups is None
        or _POSTCODE_HINT.search(hint_ascii) is not None
    )
    has_domain = (
        "://" in hint_ascii or "www" in hint_ascii or " dot " in hint_ascii or _dotted(hint_ascii)
    )
    if policy.platform_pattern is None:
        has_platform = False
    elif hint_groups is not None:
        has_platform = "platform" in hint_groups
    else:
        has_platform = policy.platform_pattern.search(hint_ascii) is not None
    if not (digits >= 5 or address or has_domain or has_platform or has_at):
        return []
    found: list[Found] = []
    for variant, origin in _variants(text, marks, spaced_digits=digits >= 5):
        for item in _find_in(variant, policy, digits, address, has_at, has_domain, has_platform):
            if item.rule == "contact.phone" and origin is not None and _spread(item, origin):
                continue
            end = origin[max(item.end - 1, item.start)] + 1
            found.append(Found(origin[item.start], end, item.rule))
    return _without_overlaps(found)


_DIGIT_BYTES = b"0123456789"
_POSTCODE_HINT = re.compile(r"\d ?[a-z]{2}\b", re.IGNORECASE)


def _dotted(text: str) -> bool:
    """Whether a dot joins two words ("example.com"), as in a link or an email address."""
    index = text.find(".")
    last = len(text) - 2
    while index != -1:
        if 0 < index < last and text[index - 1].isalnum() and text[index + 1 : index + 3].isalpha():
            return True
        index = text.find(".", index + 1)
    return False


def _marks_of(text: str) -> set[str]:
    """The disguises to undo when the engine has not said (direct calls)."""
    marks = set()
    if _LEET_IN_WORD.search(text):
        marks.add("leet")
    if _TRIPLE.search(text):
        marks.add("repeat")
    if _SPACED.search(text):
        marks.add("spaced")
    return marks


def _spread(item: Found, origin: list[int]) -> bool:
    """A phone number found only by joining up spaced digits, with too few digits for one."""
    typed_width = origin[item.end - 1] - origin[item.start] + 1
    digits = item.end - item.start
    return typed_width >= 2 * digits - 1 and digits < JOINED_PHONE_DIGITS


def _find_in(clean, policy, digits, address, has_at, has_domain, has_platform) -> list[Found]:
    found: list[Found] = []
    lowered = clean.lower()
    if "@" in clean or "(at)" in lowered or "[at]" in lowered:
        found += [Found(m.start(), m.end(), "contact.email") for m in EMAIL.finditer(clean)]
    if " dot " in lowered and " at " in lowered:
        found += [Found(m.start(), m.end(), "contact.email") for m in EMAIL_SPELLED.finditer(clean)]
    if "@" in clean:
        found += [Found(m.start(), m.end(), "contact.handle") for m in HANDLE.finditer(clean)]
    if has_platform:
        found += [
            Found(m.start(), m.end(), "contact.platform")
            for m in policy.platform_pattern.finditer(clean)
        ]
    if digits >= 5:
        found += _phones(clean, policy)
    # The slower searches run only where their cheap sign is.
    if address and _STREET_WORD.search(clean):
        found += [Found(m.start(), m.end(), "contact.address") for m in STREET.finditer(clean)]
    if address and _POSTCODE_HINT.search(clean):
        found += [Found(m.start(), m.end(), "contact.address") for m in POSTCODE.finditer(clean)]
    if has_domain:
        for start, end in _link_tokens(clean):
            for m in URL.finditer(clean, start, end):
                if not _allowed_link(m.group(0), policy.allowed_domains):
                    found.append(Found(m.start(), m.end(), "links.url"))
        if " dot " in lowered:
            for m in URL_SPELLED.finditer(clean):
                if not _allowed_link(m.group(0), policy.allowed_domains):
                    found.append(Found(m.start(), m.end(), "links.url"))
    return found


def _link_tokens(text: str) -> list[tuple[int, int]]:
    """The stretches between spaces that have a dot or "://" in them: the only places a link
    can be. Searching these alone keeps the link pattern off the rest of the message."""
    tokens = []
    for marker in (".", "://"):
        index = text.find(marker)
        while index != -1:
            start = max(text.rfind(" ", 0, index), text.rfind("\n", 0, index)) + 1
            end = min((i for i in (text.find(" ", index), text.find("\n", index)) if i != -1),
                      default=len(text))  # fmt: skip
            tokens.append((start, end))
            index = text.find(marker, end)
    return sorted(set(tokens))


def _phones(text: str, policy: ContactPolicy) -> list[Found]:
    result = []
    matcher = phonenumbers.PhoneNumberMatcher(
        text, policy.region, leniency=phonenumbers.Leniency.POSSIBLE, max_tries=20
    )
    for match in matcher:
        national = str(match.number.national_number)
        raw_digits = re.sub(r"\D", "", match.raw_string)
        if national in policy.allowed_numbers or raw_digits in policy.allowed_numbers:
            continue
        if len(raw_digits) < 7 or re.search(r"[a-z]", match.raw_string, re.IGNORECASE):
            continue
        # Part of a reference ("ORD-2024-558812"), or digits one at a time that are too few
        # for a phone number ("9 8 7 7 6 6 5 5", exam grades).
        before = text[max(0, match.start - 2) : match.start]
        if before[-1:].isalnum() or (before[-1:] in "-/" and before[:1].isalnum()):
            continue
        groups = re.findall(r"\d+", match.raw_string)
        if len(raw_digits) < 10 and sum(len(g) == 1 for g in groups) > 3:
            continue
        result.append(Found(match.start, match.end, "contact.phone"))
    return result


def _allowed_link(link: str, allowed: tuple[str, ...]) -> bool:
    host = re.sub(r"^(?:https?://)?(?:www\.)?", "", link.lower()).split("/", 1)[0]
    host = host.split(":", 1)[0].rstrip(".")
    return any(host == domain or host.endswith("." + domain) for domain in allowed)


def _without_overlaps(found: list[Found]) -> list[Found]:
    """Keep the earliest, then longest, of overlapping finds (an email over its domain)."""
    kept: list[Found] = []
    for item in sorted(found, key=lambda f: (f.start, -(f.end - f.start))):
        if kept and item.start < kept[-1].end:
            continue
        kept.append(item)
    return kept


def mask(text: str, found: list[Found], replacement: str) -> str:
    """Return `text` with every contact detail (not links) replaced."""
    pieces = []
    position = 0
    for item in found:
        if not item.rule.startswith("contact."):
            continue
        pieces.append(text[position : item.start])
        pieces.append(replacement)
        position = item.end
    pieces.append(text[position:])
    return "".join(pieces)
