"""Contact details and links: found in the text itself, so they can be masked in place.

Phone numbers are parsed with `phonenumbers` (Google's libphonenumber), so a year, a price or
an order number is not mistaken for one. Crisis lines on the policy's allow-list (999, 111,
116 123, 85258...) are never masked: people must be able to share them.
"""

import re
import unicodedata
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
_ADDRESS_HINT = re.compile(
    r"\d\s*[a-z]{2}\b|\b(?:street|road|avenue|lane|close|drive|crescent|court|terrace)\b",
    re.IGNORECASE,
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


def _clean(text: str) -> tuple[str, list[int]]:
    """Drop invisible characters and fold width forms, keeping each character's offset."""
    chars: list[str] = []
    origin: list[int] = []
    for index, char in enumerate(text):
        if char.isascii():
            chars.append(char)
            origin.append(index)
            continue
        if unicodedata.category(char) in ("Cf", "Mn", "Me"):
            continue
        folded = unicodedata.normalize("NFKC", char)
        if len(folded) != 1:
            folded = char
        chars.append(folded)
        origin.append(index)
    origin.append(len(text))
    return "".join(chars), origin


def find(text: str, policy: ContactPolicy, *, hint_ascii: str, hint_groups=None) -> list[Found]:
    """Return contact details and links in `text`, in order, not overlapping.

    `hint_ascii` is the message already folded to ASCII, and `hint_groups` the evidence the
    engine found (numbers, platform names); together they decide cheaply what to look for.
    """
    if hint_groups is None or "number" in hint_groups or not hint_ascii.isalpha():
        digits = sum(hint_ascii.count(d) for d in "0123456789")
    else:
        digits = 0
    has_at = "@" in hint_ascii
    has_domain = (
        "://" in hint_ascii
        or "www" in hint_ascii
        or " dot " in hint_ascii
        or ("." in hint_ascii and _DOMAIN_HINT.search(hint_ascii) is not None)
    )
    has_platform = policy.platform_pattern is not None and (
        (hint_groups is None or "platform" in hint_groups)
        and policy.platform_pattern.search(hint_ascii) is not None
    )
    if not (digits or has_at or has_domain or has_platform):
        return []
    if text.isascii():
        clean, origin = text, None
    else:
        clean, origin = _clean(text)
    found: list[Found] = []
    if has_at or has_domain:
        found += [Found(m.start(), m.end(), "contact.email") for m in EMAIL.finditer(clean)]
        found += [Found(m.start(), m.end(), "contact.email") for m in EMAIL_SPELLED.finditer(clean)]
    if has_at:
        found += [Found(m.start(), m.end(), "contact.handle") for m in HANDLE.finditer(clean)]
    if has_platform:
        found += [
            Found(m.start(), m.end(), "contact.platform")
            for m in policy.platform_pattern.finditer(clean)
        ]
    if digits >= 5:
        found += _phones(clean, policy)
    if digits and _ADDRESS_HINT.search(clean):
        found += [Found(m.start(), m.end(), "contact.address") for m in STREET.finditer(clean)]
        found += [Found(m.start(), m.end(), "contact.address") for m in POSTCODE.finditer(clean)]
    if has_domain:
        for pattern in (URL, URL_SPELLED):
            for m in pattern.finditer(clean):
                if not _allowed_link(m.group(0), policy.allowed_domains):
                    found.append(Found(m.start(), m.end(), "links.url"))
    found = _without_overlaps(found)
    if origin is not None:
        found = [Found(origin[f.start], origin[f.end - 1] + 1, f.rule) for f in found]
    return found


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
        if len(raw_digits) < 7:
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
