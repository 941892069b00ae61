"""Subject normalisation and ticket tags. Pure functions."""

import re

TAG_RE = re.compile(r"\[#(\d{1,9})\]")
_PREFIX_RE = re.compile(
    r"^\s*(?:(?:re|fwd?|aw|wg|sv|vs|tr|ha|rif|antw|отв|ответ|пересл|переслать|fw)"
    r"\s*(?:\[\d+\]|\(\d+\)|\^\d+)?\s*[:：]\s*)+",
    re.IGNORECASE,
)


def ticket_number_from_subject(subject: str) -> int | None:
    match = TAG_RE.search(subject or "")
    return int(match.group(1)) if match else None


def normalize_subject(subject: str) -> str:
    """Strip reply/forward prefixes (Re:, RE[2]:, Ответ:, Fwd:, Пересл: …) and our ticket tag."""
    text = subject or ""
    previous = None
    while previous != text:
        previous = text
        text = _PREFIX_RE.sub("", text)
        text = TAG_RE.sub("", text, count=1).strip() if TAG_RE.match(text.strip()) else text
    return re.sub(r"\s+", " ", TAG_RE.sub("", text)).strip()
