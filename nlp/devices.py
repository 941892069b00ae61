"""Gas-analyzer gazetteer: canonical model names and loose patterns that find them in mail."""

from __future__ import annotations

import re
from functools import lru_cache

# Canonical spelling -> extra aliases (matched loosely: case, spaces and dashes ignored).
MODELS: dict[str, tuple[str, ...]] = {
    "АНКАТ-7664Микро": ("анкат 7664 микро", "ankat-7664micro"),
    "АНКАТ-7631Микро": (),
    "АНКАТ-7655": (),
    "АНКАТ-64М3": (),
    "СГГ-20Микро": ("сгг20 микро",),
    "СГГ-6М": (),
    "СГГ-10": (),
    "Сигнал-4": (),
    "Сигнал-4М": ("сигнал 4м",),
    "ГАЗОСКАН-200": ("газоскан 200", "gazoscan-200"),
    "ЭКОТЕСТ-3": ("экотест 3",),
    "Сигнал-02": (),
    "Сигнал-03": (),
    "Сигнал-033": (),
    "ДАХ-М": (),
    "Хоббит-Т": ("хоббит т", "hobbit-t"),
    "ИГС-98": (),
    "СТГ-1": (),
    "СТГ-3": (),
    "ЭССА": ("эсса-со", "эсса-ch4"),
    "СГОЭС": (),
    "СЗ-1": (),
    "СЗ-2": (),
    "СЗЦ-1": (),
    "ССС-903": (),
    "ДГС ЭРИС-210": ("эрис-210",),
    "Колион-1В": (),
    "АНТ-3М": (),
    "ИГМ-10": (),
    "ПКГ-4": (),
    "ГИАМ-315": (),
    "ФСТ-03В": (),
    "Сенсон-СВ-5022": (),
    "Seitron Chemist 400": ("chemist 400",),
    "Seitron RGD": (),
    "Dräger X-am 2500": ("drager x-am 2500", "draeger x-am 2500", "x-am 2500"),
    "Dräger X-am 5000": ("drager x-am 5000", "draeger x-am 5000", "x-am 5000"),
    "Dräger Pac 6500": ("drager pac 6500", "draeger pac 6500", "pac 6500"),
    "Dräger Pac 7000": ("drager pac 7000", "draeger pac 7000", "pac 7000"),
    "MSA Altair 4XR": ("altair 4xr",),
    "MSA Altair 5X": ("altair 5x",),
    "Testo 350": ("testo-350",),
}

# Families whose unknown models are still recognised: the family plus a model code.
# Not «Сигнал»: an everyday word ("звуковой сигнал 90 дБ" is no device).
FAMILIES = r"АНКАТ|СГГ|ИГС|СТГ|ДАХ|СГОЭС|ССС|ИГМ|ПКГ|ГИАМ|ФСТ|Колион|Сенсон|ЭРИС|ГАЗОСКАН|ЭКОТЕСТ"


def loose_key(text: str) -> str:
    return re.sub(r"[\s\-_.]+", "", text.lower().replace("ё", "е").replace("ä", "a").replace("ae", "a"))


def _loose_regex(name: str) -> str:
    # split into letter/digit chunks; between chunks allow spaces/dashes or nothing
    chunks = re.findall(r"[^\W\d_]+|\d+", name)
    return r"[\s\-]*".join(re.escape(c).replace("ä", "(?:ä|a|ae)") for c in chunks)


@lru_cache(maxsize=1)
def _patterns():
    entries = []
    for canonical, aliases in MODELS.items():
        for variant in (canonical, *aliases):
            entries.append((_loose_regex(variant), canonical))
    entries.sort(key=lambda e: -len(e[0]))
    alternation = "|".join(f"(?P<m{i}>{rx})" for i, (rx, _) in enumerate(entries))
    gazetteer = re.compile(rf"(?<![\w-])(?:{alternation})(?![\w])", re.I)
    canon = {f"m{i}": c for i, (_, c) in enumerate(entries)}
    family = re.compile(rf"(?<![\w-])(?:{FAMILIES})[\s-]?\d{{1,4}}[А-ЯA-Zа-я]{{0,5}}\d?(?![\w])", re.I)
    return gazetteer, canon, family


def find_devices(text: str) -> list[tuple[int, int, str]]:
    """(start, end, canonical name) for every device mention, in text order."""
    gazetteer, canon, family = _patterns()
    found: list[tuple[int, int, str]] = []
    for m in gazetteer.finditer(text):
        found.append((m.start(), m.end(), canon[m.lastgroup]))
    for m in family.finditer(text):
        if not any(s <= m.start() < e for s, e, _ in found):
            raw = m.group(0)
            found.append((m.start(), m.end(), raw[:1].upper() + raw[1:] if raw.islower() else raw))
    found.sort()
    return found
