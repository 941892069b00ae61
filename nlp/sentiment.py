"""Sentiment backends (one protocol: ``predict(texts) -> list[Sentiment]``), chosen by settings.

``SENTIMENT_BACKEND``: ``lexicon`` (offline rules tuned to complaint mail), ``dostoevsky``
(FastTextSocialNetworkModel loaded from ``DOSTOEVSKY_MODEL_PATH``), or empty/``auto``:
Dostoevsky when its model file exists, else the lexicon.
"""

from __future__ import annotations

import logging
import math
import os
import re
from typing import Protocol

from nlp.results import Sentiment

logger = logging.getLogger(__name__)


class SentimentBackend(Protocol):
    name: str

    def predict(self, texts: list[str]) -> list[Sentiment]: ...


# --- lexicon -------------------------------------------------------------------------------------

# (regex, weight). Written for complaint mail: anger, threats, repeated failures, ignored calls.
NEGATIVE = [
    (r"безобрази\w*|недопустим\w*|возмутит\w*|возмущ\w*|ужасн\w*|кошмар\w*|отвратит\w*|издева\w*|позор\w*|"
     r"бардак\w*|халтур\w*|отписк\w*|хамств\w*|обман\w*|разочарова\w*|недовол\w*|неудовлетворит\w*", 2.0),
    (r"никуда не год\w*|сколько можно|в который раз|(?:второй|третий|четв[её]ртый) раз|уже (?:третье|второе) письмо|"
     r"что за отношение|за что мы платили|вы (?:вообще|издева)\w*|это (?:вообще )?нормально\??|это сервис|"
     r"не устраива\w*|категорически|хватит|кормить завтраками|никому не посоветую|разберитесь", 2.0),
    (r"верн(?:ите|уть) (?:деньги|предоплату)|возврат\w* (?:денег|платеж\w*|средств)|компенс\w*|в суд|суд(?:а|е|ом|у)?(?!\w)|"
     r"претензи\w*|прокуратур\w*|роспотребнадзор\w*|жалоб\w*|отзыв\w* везде|штраф\w*|оштрафова\w*", 1.5),
    (r"до сих пор|никто не|никакой информации|ответа (?:нет|ноль)|не отвеча\w*|не перезвонил\w*|молчит|"
     r"невозможно|дозвониться|пропада\w*|теря\w* деньги|простаива\w*|простой|простои|требу(?:ю|ем)\b|немедленно|наконец|"
     r"сорван\w*|обещал\w*|опасно|ерунд\w*|не нормально|не может дать ответ|не можем добиться", 1.0),
    (r"не работает|не включается|сломал\w*|неисправн\w*|вышел из строя|ошибк\w*|отказ\w*", 0.4),
]
POSITIVE = [
    (r"благодар\w*|признательн\w*|спасибо|молодц\w*|отличн\w*|профессионал\w*|приятно|рекомендовать", 2.0),
    (r"претензий нет|без замечаний|всё в порядке|все в порядке|работает как новый|вс[её] работает|"
     r"оперативн\w*|быстр\w*|качественн\w*|доволен|довольны|рады|полезн\w*|thank\w*", 1.0),
]
_POLITE = re.compile(r"заранее спасибо|спасибо заранее|заранее благодар\w*|thanks in advance|^\s*thanks,?\s*$",
                     re.I | re.M)
_NEGATED = re.compile(r"(?:\bне|\bни|\bnot)\s+$", re.I)
_INTENSIFIER = re.compile(r"(?:очень|крайне|совершенно|абсолютно|просто)\s+$", re.I)


def _compiled(table):
    return [(re.compile(rf"(?<![\w]){rx}", re.I), w) for rx, w in table]


class LexiconBackend:
    """Rules with negation and intensity; no model file, no download."""

    name = "lexicon-v1"

    def __init__(self):
        self.negative = _compiled(NEGATIVE)
        self.positive = _compiled(POSITIVE)

    def _score(self, text: str) -> tuple[float, float]:
        text = _POLITE.sub(" ", text)
        neg = pos = 0.0
        for table, sign in ((self.negative, -1), (self.positive, 1)):
            for rx, weight in table:
                for m in rx.finditer(text):
                    before = text[max(0, m.start() - 12):m.start()]
                    w = weight * (1.5 if _INTENSIFIER.search(before) else 1.0)
                    negated = bool(_NEGATED.search(before))
                    if sign > 0 and not negated:
                        pos += w
                    elif sign > 0 and negated:
                        neg += 2 * w  # "не доволен", "не помогли": negated praise is a complaint
                    elif not negated:
                        neg += w
        # shouting: !!!, ???, ALL CAPS
        neg += 1.0 * len(re.findall(r"[!?]{2,}", text))
        words = re.findall(r"[А-ЯЁA-Zа-яёa-z]{4,}", text)
        caps = [w for w in words if w.isupper()]
        if words and len(caps) / len(words) > 0.5 and len(caps) >= 5:
            neg += 2.0
        return neg, pos

    def predict(self, texts: list[str]) -> list[Sentiment]:
        out = []
        for text in texts:
            neg, pos = self._score(text or "")
            margin = pos - neg
            if neg >= 2.0 and neg > pos:
                label, strength = "negative", neg - pos
            elif pos >= 2.0 and pos > neg:
                label, strength = "positive", margin
            else:
                label, strength = "neutral", 2.0 - max(neg, pos)
            score = 1 / (1 + math.exp(-strength)) if label != "neutral" else 0.5 + 0.25 * max(0.0, min(strength, 2.0)) / 2
            out.append(Sentiment(label=label, score=round(score, 3), backend=self.name))
        return out


# --- Dostoevsky -------------------------------------------------------------------------------

# RuSentiment labels -> ours
_DOSTOEVSKY_MAP = {"negative": "negative", "positive": "positive", "neutral": "neutral", "skip": "neutral",
                   "speech": "neutral"}


class DostoevskyBackend:
    """dostoevsky's FastTextSocialNetworkModel with the model file from a configured path."""

    def __init__(self, model_path: str):
        from dostoevsky.models import FastTextSocialNetworkModel
        from dostoevsky.tokenization import RegexTokenizer

        class ConfiguredModel(FastTextSocialNetworkModel):
            MODEL_PATH = model_path

        self.model = ConfiguredModel(tokenizer=RegexTokenizer())
        self.name = f"dostoevsky-fasttext:{os.path.basename(model_path)}"

    def predict(self, texts: list[str]) -> list[Sentiment]:
        # fastText predicts one line: newlines would end the input early
        prepared = [" ".join((t or "").split()) or "." for t in texts]
        out = []
        for scores in self.model.predict(prepared, k=-1):
            totals = {"negative": 0.0, "neutral": 0.0, "positive": 0.0}
            for label, value in scores.items():
                totals[_DOSTOEVSKY_MAP.get(label, "neutral")] += float(value)
            label = max(totals, key=totals.get)
            out.append(Sentiment(label=label, score=round(min(1.0, totals[label]), 3), backend=self.name))
        return out


def build_backend(name: str) -> SentimentBackend:
    from nlp.loaders import setting

    name = (name or "auto").strip().lower()
    model_path = setting("DOSTOEVSKY_MODEL_PATH")
    if name == "lexicon":
        return LexiconBackend()
    if name == "dostoevsky":
        if not model_path or not os.path.isfile(model_path):
            raise RuntimeError(f"SENTIMENT_BACKEND=dostoevsky but DOSTOEVSKY_MODEL_PATH is not a file: {model_path!r}")
        return DostoevskyBackend(model_path)
    if name == "auto":
        if model_path and os.path.isfile(model_path):
            return DostoevskyBackend(model_path)
        return LexiconBackend()
    raise ValueError(f"unknown SENTIMENT_BACKEND {name!r} (use lexicon, dostoevsky or auto)")
