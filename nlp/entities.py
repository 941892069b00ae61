"""Entity extraction: Natasha NER + pymorphy3 for names, rules for the rest."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

from nlp.devices import find_devices
from nlp.loaders import get_morph, get_ner_tagger
from nlp.results import Entities, Phone, Span

# --- e-mails ---------------------------------------------------------------------------------

EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-zа-я]{2,}(?![\w-])", re.I)


def find_emails(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0).lower().strip(".")) for m in EMAIL_RE.finditer(text)]


# --- serial numbers ------------------------------------------------------------------------------

_SERIAL_KEY = (
    r"(?:зав(?:одск(?:ой|ого|им|ом|ие|их)|\.|\b)\s*(?:номер(?:ом|ами|а|ов)?|ном\.?|№|n|#)?|"
    r"серийн(?:ый|ого|ым|ые|ых)\s*(?:номер(?:ом|ами|а|ов)?|№)|сер\.\s*№|s/n|s\\n|sn|serial(?:\s+(?:number|no\.?|#))?)"
)
_SERIAL_VALUE = r"([A-ZА-ЯЁ0-9][A-ZА-ЯЁ0-9\-./]{0,24}[A-ZА-ЯЁ0-9]|\d)"
SERIAL_RE = re.compile(rf"(?<![\w]){_SERIAL_KEY}\s*[:.]?\s*(?:№\s*)?{_SERIAL_VALUE}", re.I)
# "СГГ-20Микро № 4512", "(№ 99031)": a number right after a device name
NUMBER_AFTER_DEVICE = re.compile(rf"^\s*[,(]?\s*(?:№|N|#)\s*{_SERIAL_VALUE}", re.I)


# "заводские номера 4411, 4412 и 4413": the numbers listed after the first one
MORE_SERIALS = re.compile(rf"^(?:\s*,\s*|\s+и\s+){_SERIAL_VALUE}", re.I)


def find_serials(text: str, devices: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    found = []
    for m in SERIAL_RE.finditer(text):
        value = m.group(1).rstrip(".-/")
        if any(ch.isdigit() for ch in value):
            found.append((m.start(1), m.start(1) + len(value), value))
            end = m.start(1) + len(value)
            while (more := MORE_SERIALS.match(text[end:end + 40])) and any(ch.isdigit() for ch in more.group(1)):
                extra = more.group(1).rstrip(".-/")
                start = end + more.start(1)
                found.append((start, start + len(extra), extra))
                end = start + len(extra)
    for _, end, _ in devices:
        m = NUMBER_AFTER_DEVICE.match(text[end:end + 40])
        if m and any(ch.isdigit() for ch in m.group(1)):
            value = m.group(1).rstrip(".-/")
            start = end + m.start(1)
            if not any(s <= start < e for s, e, _ in found):
                found.append((start, start + len(value), value))
    found.sort()
    return found


# --- phones ------------------------------------------------------------------------------------

_EXT_RE = re.compile(r"^\s*[,;]?\s*\(?(?:доб\.?|добавочный|вн\.?|внутр\.?|ext\.?|x)\s*[:.]?\s*(\d{1,6})\)?", re.I)
# a number after one of these words is not a phone (order, invoice, INN, …)
_NOT_PHONE_BEFORE = re.compile(
    r"(?<![\w])(заказ\w*|сч[её]т\w*|инн|кпп|огрн\w*|бик|р/с|к/с|договор\w*|накладн\w*|трек\w*|платеж\w*|платёж\w*|"
    r"зав\w*|серийн\w*|s/n|sn|№|n|акт\w*|рекламац\w*|артикул\w*|снилс|паспорт\w*)\W{0,4}$",
    re.I,
)
_PHONE_WORD_BEFORE = re.compile(r"(тел|телефон|моб|сот|т\.|ph|phone|tel|mob|факс|fax|whatsapp|звон)", re.I)


def find_phones(text: str, protected: list[tuple[int, int]] = ()) -> list[tuple[int, int, Phone]]:
    found = []
    for m in phonenumbers.PhoneNumberMatcher(text, "RU", leniency=phonenumbers.Leniency.POSSIBLE):
        start, end = m.start, m.end
        if any(s < end and start < e for s, e in protected):
            continue
        before = text[max(0, start - 30):start]
        digits = re.sub(r"\D", "", m.raw_string)
        if _NOT_PHONE_BEFORE.search(before) and not _PHONE_WORD_BEFORE.search(before[-12:]):
            continue
        # a bare run of digits (no +, no separators) needs a phone word or a mobile/trunk prefix
        if m.raw_string.isdigit() and not (digits.startswith(("89", "79")) and len(digits) == 11) \
                and not _PHONE_WORD_BEFORE.search(before):
            continue
        if not phonenumbers.is_possible_number(m.number):
            continue
        number = phonenumbers.format_number(m.number, phonenumbers.PhoneNumberFormat.E164)
        ext = m.number.extension or None
        ext_match = _EXT_RE.match(text[end:end + 30])
        if ext_match:
            ext = ext or ext_match.group(1)
            end += ext_match.end()
        found.append((start, end, Phone(number=number, ext=ext)))
    return found


# --- companies and facilities ----------------------------------------------------------------

_LEGAL = r"(?:ФГУП|ФГБУ|МУП|ГУП|МКУ|МБУ|ГБУ|ГКУ|ООО|ОАО|ЗАО|ПАО|НАО|АО|НПО|НПП|ТОО|ТСЖ|АНО)"
_QUOTED = r"(?:«[^»\n]{2,80}»|\"[^\"\n]{2,80}\"|“[^”\n]{2,80}”|„[^“\n]{2,80}“)"
COMPANY_RE = re.compile(
    rf"(?<![\w])(?P<form>{_LEGAL})\s*(?P<name>{_QUOTED}|[A-ZА-ЯЁ][\w\-]+(?:[ \-][A-ZА-ЯЁ][\w\-]+){{0,2}})"
    rf"|(?<![\w])(?P<ip>ИП)\s+(?P<ipname>[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?\s+[А-ЯЁ]\.\s?[А-ЯЁ]\.?)"
    rf"|(?P<latin>\b[A-Z][\w&\-]+(?:[ ]+[A-Z][\w&\-]+){{0,3}}[ ]+(?:GmbH|Ltd\.?|LLC|Inc\.?|AG|S\.p\.A\.|Oy|AB|B\.V\.))",
)
FACILITY_RE = re.compile(
    r"(?<![\w])(?P<kind>котельн(?:ая|ой|ую|ою)|ГРС|АГРС|ГРП|ГРПШ|ШРП|ТЭЦ|ГРЭС|КС|ЛПУМГ)"
    r"\s*(?P<name>№\s*\d+[а-яА-Я]?|-\s*\d+|«[^»\n]{2,40}»|\"[^\"\n]{2,40}\")",
    re.I,
)
BRANCH_RE = re.compile(r"(?<![\w])филиал\w*\s+(?:«[^»\n]{2,60}»|[А-ЯЁA-Z][\w\-]+(?:\s+[А-ЯЁA-Z][\w\-]+){0,3})")


def _quote_norm(name: str) -> str:
    inner = name.strip("«»\"“”„ ")
    return f"«{inner}»"


# Hasty mail writes the legal form in lowercase ("ооо строймонолит"). Only unambiguous forms:
# "ао" and "ип" are ordinary words too often.
LOWER_COMPANY_RE = re.compile(r"(?<![\w])(?P<form>ооо|оао|зао|пао|муп|гуп)\s+(?P<name>[а-яё][а-яё\-]{2,30})(?![\w])")


def find_companies(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in LOWER_COMPANY_RE.finditer(text):
        found.append((m.start(), m.end(), f"{m.group('form').upper()} «{m.group('name').capitalize()}»"))
    for m in COMPANY_RE.finditer(text):
        if m.group("form"):
            name = m.group("name")
            name = _quote_norm(name) if name[0] in "«\"“„" else name
            found.append((m.start(), m.end(), f"{m.group('form')} {name}"))
        elif m.group("ip"):
            found.append((m.start(), m.end(), "ИП " + re.sub(r"\.\s+", ".", m.group("ipname"))))
        else:
            found.append((m.start(), m.end(), m.group("latin")))
    return found


def find_facilities(text: str) -> list[tuple[int, int, str]]:
    found = []
    for m in FACILITY_RE.finditer(text):
        kind = m.group("kind")
        kind = "котельная" if kind.lower().startswith("котельн") else kind.upper()
        name = m.group("name")
        if name.startswith("№"):
            name = "№" + name[1:].strip()
        elif name.startswith("-"):
            name = "№" + name[1:].strip()
            kind = kind  # "ГРС-5" -> "ГРС №5"
        else:
            inner = name.strip("«»\" ")
            name = f"«{inner[:1].upper()}{inner[1:]}»"
        found.append((m.start(), m.end(), f"{kind} {name}"))
    for m in BRANCH_RE.finditer(text):
        found.append((m.start(), m.end(), m.group(0)))
    found.sort()
    return found


# --- persons -----------------------------------------------------------------------------------

NAME_TAGS = {"Name", "Surn", "Patr"}
CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct")
_WORD_RE = re.compile(r"[А-ЯЁа-яё]+(?:-[А-ЯЁа-яё]+)?|[A-Za-z]+")
_INITIALS = r"[А-ЯЁ]\.\s?[А-ЯЁ]\.?"
INITIALS_RE = re.compile(
    rf"(?<![\w])(?P<s1>[А-ЯЁ][а-яё]+(?:-[А-ЯЁ][а-яё]+)?)\s+(?P<i1>{_INITIALS})(?![\w])"
    rf"|(?<![\w])(?P<i2>{_INITIALS})\s?(?P<s2>[А-ЯЁ][а-яё]+)(?![\w])"
)
# words around a name that say it is not the customer (addressee, our staff, third parties)
_NOT_CUSTOMER_BEFORE = re.compile(
    r"(уважаем\w*|спасибо|благодар\w*|инженер\w*|мастер\w*|менеджер\w*|специалист\w*|передайте|"
    r"директор\w* ваш\w*|ваш\w*|добрый день|здравствуйте|привет|для)[\s,]*$",
    re.I,
)
_CUSTOMER_BEFORE = re.compile(r"(меня зовут|обращается|пишет вам|на связи|от|с уважением|regards|уважением)[\s,:]*$", re.I)
_NON_NAME_WORDS = {"мастер", "прибор", "датчик", "сигнал", "котельная", "добрый", "день", "роман", "вера", "любовь",
                   "надежда", "слава", "лев"}


@dataclass
class PersonCandidate:
    start: int
    end: int
    text: str  # normalised
    tokens: int
    source: str  # ner | morph | initials


@lru_cache(maxsize=50_000)
def _name_parses(word: str) -> tuple:
    """pymorphy3 parses of a word that are names (Name/Surn/Patr); cached: mail vocabulary repeats."""
    morph = get_morph()
    return tuple(p for p in morph.parse(word) if NAME_TAGS & set(p.tag.grammemes) and p.score >= 0.01)


def _normalise_person(words: list[str]) -> str:
    """Put a name into the nominative, agreeing gender across its words."""
    if not words:
        return ""
    if all(re.fullmatch(r"[A-Za-z\-]+", w) for w in words):
        return " ".join(w[:1].upper() + w[1:].lower() for w in words)
    parses = [_name_parses(w) if not re.fullmatch(_INITIALS, w) else None for w in words]
    # choose a (case, gender) shared by all named words, preferring nominative and the first parse
    options = None
    for plist in parses:
        if plist is None:
            continue
        opts = {(p.tag.case, p.tag.gender) for p in plist}
        opts |= {(p.tag.case, None) for p in plist}
        options = opts if options is None else options & opts
    gender = None
    case = None
    if options:
        genders = [g for c, g in options if g in ("masc", "femn")]
        # the gender of a first name or patronymic is the reliable one
        for plist in parses:
            if plist and any({"Name", "Patr"} & set(p.tag.grammemes) for p in plist):
                g = {p.tag.gender for p in plist if {"Name", "Patr"} & set(p.tag.grammemes)}
                g &= set(genders) if genders else g
                if len(g) == 1:
                    gender = g.pop()
                    break
        cases = [c for c, g in options if g == gender or g is None]
        case = "nomn" if "nomn" in cases else next((c for c in CASES if c in cases), None)
    out = []
    for word, plist in zip(words, parses):
        if plist is None:
            out.append(re.sub(r"\s", "", word.upper()))
            continue
        chosen = None
        for p in sorted(plist, key=lambda p: "Fixd" in p.tag.grammemes):  # "Анне": the declinable name first
            if (case is None or p.tag.case == case) and (gender is None or p.tag.gender in (gender, None, "ms-f")):
                chosen = p
                break
        form = word
        if chosen is not None:
            grammemes = {"nomn", "sing"}
            if gender and "Surn" in chosen.tag.grammemes:
                grammemes.add(gender)
            inflected = chosen.inflect(grammemes) or chosen.inflect({"nomn"})
            if inflected is not None:
                form = inflected.word
                if "ё" not in word.lower():
                    form = form.replace("ё", "е")
        out.append(form[:1].upper() + form[1:].lower())
    return " ".join(out)


def _morph_candidates(text: str) -> list[PersonCandidate]:
    """Names Natasha misses (lowercase, ALL CAPS): runs of 2–3 words tagged Name/Surn/Patr."""
    words = list(_WORD_RE.finditer(text))
    found = []
    i = 0
    while i < len(words):
        run = []
        j = i
        while j < len(words) and len(run) < 3:
            w = words[j]
            if run and text[run[-1].end():w.start()].strip():  # only whitespace between words
                break
            if "\n" in text[run[-1].end():w.start()] if run else False:
                break
            lower = w.group(0).lower()
            if lower in _NON_NAME_WORDS and not (run and lower in ("роман", "вера", "любовь", "надежда", "лев")):
                break
            tags = set()
            for p in _name_parses(lower) if re.match(r"[а-яё]", lower) else []:
                tags |= NAME_TAGS & set(p.tag.grammemes)
            if not tags:
                break
            run.append(w)
            j += 1
        if len(run) >= 2:
            tagsets = []
            for w in run:
                t = set()
                for p in _name_parses(w.group(0).lower()):
                    t |= NAME_TAGS & set(p.tag.grammemes)
                tagsets.append(t)
            has_name = any("Name" in t for t in tagsets)
            has_other = any(("Surn" in t) or ("Patr" in t) for t in tagsets)
            if has_name and has_other:
                words_text = [w.group(0) for w in run]
                found.append(PersonCandidate(run[0].start(), run[-1].end(), _normalise_person(words_text),
                                             len(run), "morph"))
                i = j
                continue
        i += 1
    return found


@dataclass
class NerSpan:
    start: int
    stop: int
    type: str
    text: str


def _ner_spans(text: str) -> list[NerSpan]:
    """Natasha's slovnet NER straight on the text (its own tokenizer; a full natasha ``Doc``
    segmentation would cost ~2 ms more per mail and is not needed)."""
    markup = get_ner_tagger()(text)
    return [NerSpan(s.start, s.stop, s.type, text[s.start:s.stop]) for s in markup.spans]


_SIGNOFF_LINE = re.compile(r"^\s*(с уважением|best regards|kind regards|regards|thanks|спасибо)[\s,.!]*$", re.I)
_NAME_LINE = re.compile(r"^\s*([A-ZА-ЯЁ][a-zа-яё]+(?:-[A-ZА-ЯЁ][a-zа-яё]+)?(?:\s+[A-ZА-ЯЁ][a-zа-яё]+){1,2})\s*[,]?\s*$")


def _ner_candidates(text: str, ner_spans) -> list[PersonCandidate]:
    found = []
    for span in ner_spans:
        if span.type != "PER":
            continue
        # Natasha may run a span over a line break ("Захаров Михаил\nИП Захаров М.В."): split it
        offset = span.start
        for part in span.text.split("\n"):
            start = offset + (len(part) - len(part.lstrip()))
            part_clean = part.strip().rstrip(" /,;:-")
            offset += len(part) + 1
            if not part_clean:
                continue
            end = start + len(part_clean)
            if re.search(_INITIALS, part_clean):
                continue  # initials are handled by INITIALS_RE
            words = part_clean.split()
            text_norm = part_clean if len(words) < 2 else _normalise_person(words)
            found.append(PersonCandidate(start, end, text_norm, len(words), "ner"))
    return found


def _signature_line_candidates(text: str) -> list[PersonCandidate]:
    """The line right after "С уважением," / "Best regards," holding two or three capitalised words."""
    found = []
    lines = text.split("\n")
    pos = 0
    offsets = []
    for ln in lines:
        offsets.append(pos)
        pos += len(ln) + 1
    for i, ln in enumerate(lines[:-1]):
        if _SIGNOFF_LINE.match(ln):
            m = _NAME_LINE.match(lines[i + 1])
            if m:
                words = m.group(1).split()
                start = offsets[i + 1] + m.start(1)
                found.append(PersonCandidate(start, start + len(m.group(1)), _normalise_person(words), len(words),
                                             "signature"))
    return found


def find_persons(text: str, ner_spans=None) -> list[PersonCandidate]:
    found = _ner_candidates(text, ner_spans if ner_spans is not None else _ner_spans(text))
    for m in INITIALS_RE.finditer(text):
        surname = m.group("s1") or m.group("s2")
        initials = re.sub(r"\s", "", m.group("i1") or m.group("i2"))
        if surname.lower() in _NON_NAME_WORDS or not _name_parses(surname.lower()):
            continue
        norm = _normalise_person([surname])
        if not initials.endswith("."):
            initials += "."
        found.append(PersonCandidate(m.start(), m.end(), f"{norm} {initials}", 2, "initials"))
    extra = _morph_candidates(text) + _signature_line_candidates(text)
    for cand in extra:
        overlapping = [c for c in found if c.start < cand.end and cand.start < c.end]
        if not overlapping:
            found.append(cand)
        elif all(cand.tokens > c.tokens and c.source != "initials" for c in overlapping):
            # "Ирина Сергеевна" from NER inside "Лебедева Ирина Сергеевна": keep the longer one
            for c in overlapping:
                found.remove(c)
            found.append(cand)
    found.sort(key=lambda c: c.start)
    return found


def choose_customer(text: str, candidates: list[PersonCandidate], signature_offset: int,
                    excluded: list[tuple[int, int]]) -> str:
    best, best_score = None, float("-inf")
    lines_start = [0] + [m.end() for m in re.finditer("\n", text)]
    for c in candidates:
        if c.tokens < 2 or any(s <= c.start < e for s, e in excluded):
            continue
        score = 0.0
        line_start = max(s for s in lines_start if s <= c.start)
        before = text[line_start:c.start]
        if _NOT_CUSTOMER_BEFORE.search(text[max(0, c.start - 40):c.start]):
            score -= 5
        if _CUSTOMER_BEFORE.search(text[max(0, c.start - 40):c.start]):
            score += 2
        if c.start >= signature_offset:
            score += 3
        if not before.strip() or re.fullmatch(r"\s*(от|from)\s*:\s*", before, re.I):
            score += 2  # the name starts its line: a signature
        if c.start > len(text) * 0.6:
            score += 1
        score += 0.5 * c.tokens + 0.01 * c.start / max(1, len(text))
        if re.search(r"[А-ЯЁа-яё]", c.text):
            score += 0.5  # "Igor Konovalov / Коновалов Игорь": a Russian desk keeps the Cyrillic form
        if c.source == "initials":
            score -= 0.6  # "Поляков А.И. / Поляков Артём Игоревич": the full form wins
        if score > best_score:
            best, best_score = c, score
    if best is not None and best.source == "initials":
        surname = best.text.split()[0].lower()
        fuller = [c for c in candidates if c.tokens >= 2 and c.source != "initials"
                  and surname in c.text.lower().split() and not any(s <= c.start < e for s, e in excluded)]
        if fuller:
            best = max(fuller, key=lambda c: c.tokens)
    return best.text if best else ""


# --- all together --------------------------------------------------------------------------------

@dataclass
class Extraction:
    entities: Entities
    spans: list[Span]  # personal data to mask
    protected: list[Span]  # device names and serials: never masked


def extract(text: str, signature_offset: int | None = None) -> Extraction:
    if signature_offset is None:
        signature_offset = len(text)
    devices = find_devices(text)
    serials = find_serials(text, devices)
    protected = [Span(s, e, "device", v) for s, e, v in devices] + [Span(s, e, "serial", v) for s, e, v in serials]
    emails = find_emails(text)
    phones = find_phones(text, [(s.start, s.end) for s in protected] + [(s, e) for s, e, _ in emails])
    companies = find_companies(text)
    facilities = find_facilities(text)
    ner_spans = _ner_spans(text) if text.strip() else []
    persons = find_persons(text, ner_spans)
    # a name inside a company («ИП Захаров», «ООО "Иванов и партнёры"») is not the customer
    org_ranges = [(s, e) for s, e, _ in companies] + [(s.start, s.end) for s in protected]

    entities = Entities()
    entities.person = choose_customer(text, persons, signature_offset, org_ranges)
    seen = set()
    for _, _, phone in phones:
        key = (phone.number, phone.ext)
        if key not in seen:
            seen.add(key)
            entities.phones.append(phone)
    entities.emails = list(dict.fromkeys(v for _, _, v in emails))
    if companies:
        counts: dict[str, int] = {}
        for _, _, name in companies:
            counts[name.lower()] = counts.get(name.lower(), 0) + 1
        # the most mentioned, ties to the last one (the signature)
        entities.company = max(reversed(companies), key=lambda c: counts[c[2].lower()])[2]
    if facilities:
        entities.facility = facilities[0][2]
        if not entities.company:
            entities.company = entities.facility
    entities.serial = serials[0][2] if serials else ""
    entities.device_type = devices[0][2] if devices else ""

    spans = [Span(s, e, "email", v) for s, e, v in emails]
    spans += [Span(s, e, "phone", str(p)) for s, e, p in phones]
    for c in persons:
        if not any(a <= c.start < b for a, b in [(s.start, s.end) for s in protected]):
            spans.append(Span(c.start, c.end, "person", c.text))
    return Extraction(entities=entities, spans=spans, protected=protected)
