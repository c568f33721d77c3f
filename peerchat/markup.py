"""The little markup staff may author (agreements, resource cards), sanitised on output."""

import bleach

ALLOWED_TAGS = ["p", "ul", "ol", "li", "strong", "em", "a", "br"]
ALLOWED_ATTRIBUTES = {"a": ["href"]}
ALLOWED_PROTOCOLS = ["https", "mailto", "tel"]


def staff_markup(html: str) -> str:
    """Return `html` with only the allow-listed tags, attributes and link protocols."""
    return bleach.clean(
        html or "",
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        protocols=ALLOWED_PROTOCOLS,
        strip=True,
    )
