"""The one entry point: ``analyze(text) -> Analysis`` (clean → entities → sentiment → summary →
intent/priority → mask). Used by the ticket job, the API view and the ``analyze_text`` command."""

from __future__ import annotations

import re
import time

from nlp import cleaning
from nlp.entities import extract
from nlp.intent import classify_intent, classify_priority
from nlp.loaders import get_sentiment_backend, get_summarizer
from nlp.masking import mask
from nlp.results import Analysis, Entities, Intent, Sentiment

NER_BACKEND = "natasha-slovnet-ner+pymorphy3"
MAX_INPUT_CHARS = 2_000_000


class AnalysisError(ValueError):
    """The input cannot be analysed at all (wrong type)."""


def _as_text(text) -> str:
    if text is None:
        return ""
    if isinstance(text, (bytes, bytearray, memoryview)):
        return bytes(text).decode("utf-8", errors="replace")
    if not isinstance(text, str):
        raise AnalysisError(f"expected text, got {type(text).__name__}")
    return text


def backend_names() -> str:
    return f"{get_sentiment_backend().name}+{NER_BACKEND}"


def analyze(text, *, sender_email: str = "") -> Analysis:
    raw = _as_text(text)
    warnings: list[str] = []
    if len(raw) > MAX_INPUT_CHARS:
        raw = raw[:MAX_INPUT_CHARS]
    timings: dict[str, float] = {}

    def lap(stage: str, started: float) -> float:
        now = time.perf_counter()
        timings[stage] = round((now - started) * 1000, 2)
        return now

    t = time.perf_counter()
    cleaned = cleaning.clean(raw)
    if cleaned.truncated:
        warnings.append(f"текст длиннее {cleaning.MAX_CHARS} символов: проанализировано начало")
    t = lap("clean", t)
    letters = len(re.findall(r"[^\W\d_]", cleaned.text))
    if letters < 2:
        warnings.append("нет текста для анализа" if not cleaned.text.strip() else "в тексте нет слов")
        entities = Entities()
        entities.emails = [sender_email.lower()] if sender_email else []
        return Analysis(entities=entities, sentiment=Sentiment("neutral", 0.0, "none"), summary="",
                        intent=Intent("other", 0.0), priority="normal", masked_text=cleaned.text,
                        cleaned_text=cleaned.text, timings_ms=timings, warnings=warnings)
    if len(re.findall(r"[\ufffd]", raw)) > 0.2 * max(1, len(raw)) or letters < 0.2 * len(cleaned.text):
        warnings.append("текст похож на двоичные данные")

    extraction = extract(cleaned.text, cleaned.signature_offset)
    entities = extraction.entities
    if not entities.emails and sender_email:
        entities.emails = [sender_email.lower()]
    t = lap("entities", t)

    body = cleaned.body or cleaned.text
    judged = cleaning.strip_polite_thanks(body)  # "Заранее спасибо" is courtesy, not praise
    sentiment = get_sentiment_backend().predict([judged])[0]
    t = lap("sentiment", t)

    masked = mask(cleaned.text, extraction.spans, extraction.protected)
    t = lap("masking", t)

    # the summary is built from the masked body: it travels in events and notifications
    masked_body = masked[: len(masked) - _masked_signature_len(masked, cleaned)] if cleaned.signature else masked
    summary = get_summarizer().summarize(masked_body)
    t = lap("summary", t)

    intent = classify_intent(judged, sentiment.label)
    priority = classify_priority(judged, sentiment.label, intent.label)
    lap("intent", t)
    timings["total"] = round(sum(timings.values()), 2)
    return Analysis(entities=entities, sentiment=sentiment, summary=summary, intent=intent, priority=priority,
                    masked_text=masked, cleaned_text=cleaned.text, timings_ms=timings, warnings=warnings)


def _masked_signature_len(masked: str, cleaned: cleaning.CleanText) -> int:
    """Length of the signature inside the masked text (masking changes lengths, so look for
    the signature's first line again)."""
    first = cleaned.signature.split("\n", 1)[0]
    idx = masked.rfind("\n" + first)
    return len(masked) - idx if idx >= 0 else 0
