"""PII masking: typed placeholders for names, phones, e-mails, addresses, INN, SNILS, passports.
Device names and serial numbers are kept (the AI needs them)."""

from __future__ import annotations

import re

import phonenumbers

from nlp.results import Span

PLACEHOLDERS = {
    "person": "[ФИО]",
    "phone": "[ТЕЛЕФОН]",
    "email": "[EMAIL]",
    "address": "[АДРЕС]",
    "inn": "[ИНН]",
    "snils": "[СНИЛС]",
    "passport": "[ПАСПОРТ]",
}

_STREET = r"(?:ул\.|улица|пр\.|пр-т|проспект|пер\.|переулок|ш\.|шоссе|наб\.|набережная|бульвар|б-р|пл\.|площадь|мкр\.?|микрорайон|проезд|туп\.)"
_HOUSE = r"(?:д\.|дом)\s*\d+[а-яА-Я]?(?:/\d+)?(?:\s*,?\s*(?:корп\.|к\.|стр\.|строение|оф\.|офис|кв\.|пом\.)\s*\d+[а-яА-Я]?)*"
ADDRESS_RE = re.compile(
    rf"(?:\b\d{{6}},\s*)?(?:(?:г\.|город)\s*[А-ЯЁ][\w\-]+,?\s*)?{_STREET}\s*[А-ЯЁ0-9][^,\n]{{1,40}},\s*{_HOUSE}",
    re.I,
)
INN_RE = re.compile(r"(?<=ИНН)[\s:№]*(\d{10}|\d{12})(?!\d)", re.I)
SNILS_RE = re.compile(r"(?<!\d)(\d{3}-\d{3}-\d{3}[ -]\d{2})(?!\d)|(?<=СНИЛС)[\s:№]*(\d{11})(?!\d)", re.I)
PASSPORT_RE = re.compile(r"паспорт\w*[^\n\d]{0,25}?(\d{2}\s?\d{2}\s*№?\s*\d{6})(?!\d)", re.I)


def rule_spans(text: str) -> list[Span]:
    spans = [Span(m.start(), m.end(), "address", m.group(0)) for m in ADDRESS_RE.finditer(text)]
    spans += [Span(m.start(1), m.end(1), "inn", m.group(1)) for m in INN_RE.finditer(text)]
    for m in SNILS_RE.finditer(text):
        g = 1 if m.group(1) else 2
        spans.append(Span(m.start(g), m.end(g), "snils", m.group(g)))
    spans += [Span(m.start(1), m.end(1), "passport", m.group(1)) for m in PASSPORT_RE.finditer(text)]
    return spans


def _safety_net(text: str, protected: list[Span]) -> list[Span]:
    """Any number phonenumbers can read as a phone, wherever it stands, unless it is a serial."""
    spans = []
    for m in phonenumbers.PhoneNumberMatcher(text, "RU", leniency=phonenumbers.Leniency.POSSIBLE):
        if any(p.start < m.end and m.start < p.end for p in protected):
            continue
        digits = re.sub(r"\D", "", m.raw_string)
        if len(digits) >= 10:
            spans.append(Span(m.start, m.end, "phone", m.raw_string))
    return spans


def mask(text: str, spans: list[Span], protected: list[Span]) -> str:
    candidates = list(spans) + rule_spans(text) + _safety_net(text, protected)
    keep = [s for s in candidates if not any(p.start < s.end and s.start < p.end for p in protected)
            or s.kind in ("email", "phone") and not any(p.start <= s.start and s.end <= p.end for p in protected)]
    # longest first, then drop overlaps
    keep.sort(key=lambda s: (s.start, -(s.end - s.start)))
    chosen: list[Span] = []
    for s in keep:
        if chosen and s.start < chosen[-1].end:
            if s.end > chosen[-1].end and s.kind == chosen[-1].kind:
                chosen[-1] = Span(chosen[-1].start, s.end, s.kind)
            continue
        chosen.append(s)
    out = []
    pos = 0
    for s in chosen:
        out.append(text[pos:s.start])
        out.append(PLACEHOLDERS[s.kind])
        pos = s.end
    out.append(text[pos:])
    return "".join(out)
