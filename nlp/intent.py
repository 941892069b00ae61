"""Intent (what the customer wants) and priority, by weighted keyword rules."""

from __future__ import annotations

import re

from nlp.results import Intent

INTENTS = ("malfunction", "calibration", "documents", "spare_parts", "warranty", "consultation", "thanks", "other")

RULES: dict[str, list[tuple[str, float]]] = {
    "malfunction": [
        (r"не работает|не включается|не реагирует|не срабатывает|не проходит|неисправн\w*|сломал\w*|вышел из строя|"
         r"ошибк\w*|error|failed|отказ сенсора|ложн\w* (?:тревог|срабатыван)\w*|срабатывает без|пищит|разряжается|"
         r"показыва\w* (?:ерунду|ноль|постоянно|0)|начал\w* показывать|пропал\w*|выда[её]т (?:ошибк|сигнал|звук)\w*|мигает|"
         r"обрыв\w*|перестал\w*|не работал", 2.0),
        (r"ремонт\w*|показани\w*|сигнализирует", 0.5),
    ],
    "calibration": [(r"поверк\w*|поверить|калибровк\w*|метролог\w*|межповерочн\w*", 2.0)],
    "documents": [
        (r"паспорт\w*|сертификат\w*|документ\w*|копи[юяи]|скан\w*|акт\w*|сч[её]т-фактур\w*|договор\w*|"
         r"описани\w* типа|утверждени\w* типа|руководств\w* по эксплуатации|свидетельств\w*|оригинал\w*", 1.2),
    ],
    "spare_parts": [
        (r"сенсор\w*|запчаст\w*|запасн\w* част\w*|аккумулятор\w*|зарядн\w*|фильтр\w*|блок\w* питания|кронштейн\w*|"
         r"комплект\w*|коммерческ\w* предложени\w*|\bкп\b|прайс\w*|в наличии|наличие|заказ\w*|купить", 1.3),
    ],
    "warranty": [(r"гаранти\w*|рекламаци\w*|гарантийн\w*", 2.5)],
    "consultation": [
        (r"подскажите|можно ли|возможно ли|подходит ли|подойд[её]т|поддерживает ли|интересует|подберите|"
         r"опросн\w* лист|как (?:подключить|понять|вернуть|перенести)|какой|какую|нужен ли|нужно ли|advise|"
         r"кому можно", 1.2),
    ],
    "thanks": [(r"благодар\w*|признательн\w*|спасибо|thank\w*|молодц\w*", 2.0)],
}
_POLITE = re.compile(r"заранее спасибо|спасибо заранее|заранее благодар\w*|thanks in advance|^\s*thanks,?\s*$",
                     re.I | re.M)
_COMPILED = {k: [(re.compile(rf"(?<![\w]){rx}", re.I), w) for rx, w in v] for k, v in RULES.items()}


def classify_intent(text: str, sentiment_label: str = "neutral") -> Intent:
    text = _POLITE.sub(" ", text or "")
    scores = {k: 0.0 for k in INTENTS}
    for intent, rules in _COMPILED.items():
        for rx, weight in rules:
            hits = len(rx.findall(text))
            scores[intent] += weight * min(hits, 3)
    if sentiment_label != "positive":
        scores["thanks"] *= 0.3  # "спасибо" inside a complaint is not a thank-you note
    else:
        scores["thanks"] *= 1.5
    best = max(scores, key=scores.get)
    total = sum(scores.values())
    if scores[best] < 1.0:
        return Intent("other", 0.5)
    confidence = scores[best] / total if total else 0.0
    return Intent(best, round(min(0.99, 0.4 + 0.6 * confidence), 3))


DANGER = re.compile(
    r"авари\w*|утечк\w*|запах газа|взрыв\w*|пожар\w*|отравлен\w*|опасн\w*|котельная вста[её]т|остановлен\w*|"
    r"простой|простаива\w*|ложн\w* тревог\w*",
    re.I,
)
URGENT_WORDS = re.compile(r"срочн\w*|немедленно|сегодня|как можно (?:скорее|быстрее)|в кратчайшие сроки|asap|urgent",
                          re.I)
LEGAL_THREAT = re.compile(r"в суд|претензи\w*|прокуратур\w*|роспотребнадзор\w*|возврат\w*|верн(?:ите|уть)", re.I)


def classify_priority(text: str, sentiment_label: str, intent: str) -> str:
    text = text or ""
    danger = bool(DANGER.search(text))
    urgent = bool(URGENT_WORDS.search(text))
    threat = bool(LEGAL_THREAT.search(text))
    if danger and (intent == "malfunction" or sentiment_label == "negative"):
        return "urgent"
    if sentiment_label == "negative" and (urgent or threat):
        return "urgent"
    if sentiment_label == "negative" or urgent or (intent in ("malfunction", "warranty") and danger):
        return "high"
    if intent == "thanks" or sentiment_label == "positive":
        return "low"
    return "normal"
