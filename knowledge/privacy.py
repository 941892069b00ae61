"""Last line of defence before text leaves the company: scrub e-mails, phones and the
customer's known name/phone/e-mail from what goes into an AI prompt, even when the NLP
masking missed them. The device serial is kept (the AI needs it)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

EMAIL_RE = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
PHONE_RES = [
    # +7 / 8 and ten digits in any usual grouping: +7 (912) 345-67-89, 8-912-345-67-89, 89123456789
    re.compile(r"(?<![\w+])(?:\+\s?7|8)[\s\-.(]*\d{3}[\s\-.)]*\d{3}[\s\-.]*\d{2}[\s\-.]*\d{2}(?!\d)"),
    # other international numbers: +375 29 123-45-67, +49 30 1234567
    re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s\-.()]*\d){7,12}(?!\d)"),
    # a bare mobile number without prefix: 912 345-67-89
    re.compile(r"(?<!\d)9\d{2}[\s\-.]\d{3}[\s\-.]\d{2}[\s\-.]\d{2}(?!\d)"),
]
WORD_RE = re.compile(r"[A-Za-zА-Яа-яЁё]+")


@dataclass
class Scrubbed:
    text: str
    replaced: dict[str, int] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(self.replaced.values())


def name_forms(full_name: str) -> set[str]:
    """Every inflected form of each part of a person's name (lower case, ё→е)."""
    from knowledge.text import get_morph

    forms: set[str] = set()
    for part in WORD_RE.findall(full_name or ""):
        if len(part) < 3:
            continue
        low = part.lower().replace("ё", "е")
        forms.add(low)
        if re.fullmatch(r"[а-я]+", low):
            for parse in get_morph().parse(low)[:3]:
                if {"Name", "Surn", "Patr"} & set(parse.tag.grammemes) or parse.tag.POS == "NOUN":
                    forms.update(f.word.replace("ё", "е") for f in parse.lexeme)
    return forms


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


def scrub(text: str, *, names: tuple[str, ...] = (), phones: tuple[str, ...] = (), emails: tuple[str, ...] = (),
          keep: tuple[str, ...] = ()) -> Scrubbed:
    """Replace e-mails, phone numbers and the given people's names with placeholders.
    Strings in ``keep`` (the device serial) are protected from the phone patterns."""
    result = Scrubbed(text or "")
    protected: dict[str, str] = {}
    for number, value in enumerate(v for v in keep if v and len(v) >= 3):
        token = f"\uE000{number}\uE001"
        if value in result.text:
            protected[token] = value
            result.text = result.text.replace(value, token)

    def sub(pattern: re.Pattern, placeholder: str, kind: str) -> None:
        result.text, n = pattern.subn(placeholder, result.text)
        if n:
            result.replaced[kind] = result.replaced.get(kind, 0) + n

    for email in emails:
        if email:
            sub(re.compile(re.escape(email), re.IGNORECASE), "[EMAIL]", "email")
    sub(EMAIL_RE, "[EMAIL]", "email")
    for phone in phones:
        digits = _digits(phone)
        if len(digits) >= 7:
            # the same digits in any grouping, with or without +7/8
            core = digits[-10:] if len(digits) >= 10 else digits
            pattern = r"(?:(?:\+\s?7|\b7|\b8)[\s\-.()]*)?" + r"[\s\-.()]*".join(core)
            sub(re.compile(r"(?<!\d)" + pattern + r"(?!\d)"), "[ТЕЛЕФОН]", "phone")
    for pattern in PHONE_RES:
        sub(pattern, "[ТЕЛЕФОН]", "phone")

    forms: set[str] = set()
    for name in names:
        forms |= name_forms(name)
    if forms:
        def replace_word(match: re.Match) -> str:
            if match.group().lower().replace("ё", "е") in forms:
                result.replaced["name"] = result.replaced.get("name", 0) + 1
                return "[ФИО]"
            return match.group()

        result.text = WORD_RE.sub(replace_word, result.text)
        result.text = re.sub(r"\[ФИО\](?:\s+\[ФИО\])+", "[ФИО]", result.text)

    for token, value in protected.items():
        result.text = result.text.replace(token, value)
    return result


def leaks(text: str, *, names: tuple[str, ...] = (), phones: tuple[str, ...] = (),
          emails: tuple[str, ...] = (), keep: tuple[str, ...] = ()) -> list[str]:
    """What personal data is still visible in ``text`` (kinds only, never the values)."""
    found = []
    for value in keep:
        if value and len(value) >= 3:
            text = (text or "").replace(value, " ")
    low = (text or "").lower()
    if any(e and e.lower() in low for e in emails) or EMAIL_RE.search(text or ""):
        found.append("email")
    text_digits = _digits(text)
    if any(len(_digits(p)) >= 7 and _digits(p)[-10:] in text_digits for p in phones) or \
            any(p.search(text or "") for p in PHONE_RES):
        found.append("phone")
    words = {w.lower().replace("ё", "е") for w in WORD_RE.findall(text or "")}
    for name in names:
        parts = [p.lower().replace("ё", "е") for p in WORD_RE.findall(name or "") if len(p) >= 3]
        if parts and any(p in words for p in parts):
            found.append("name")
            break
    return found
