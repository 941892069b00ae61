"""Heavy objects, loaded lazily once per process behind small cached getters.

Nothing here runs at import time. ``LOADS`` counts real loads so tests and the benchmark can
show that a second analysis in the same process (or in a child forked after ``warm_up()``)
does not load anything again.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from functools import lru_cache

logger = logging.getLogger(__name__)

LOADS: Counter = Counter()


def setting(name: str, default: str = "") -> str:
    """A Django setting when Django is configured, else the environment (nlp stays usable
    as plain Python, e.g. in the benchmark)."""
    try:
        from django.conf import settings

        if settings.configured:
            return getattr(settings, name, default) or default
    except ImportError:  # pragma: no cover - Django is always installed in this project
        pass
    return os.environ.get(name, default) or default


def _loaded(name: str, started: float) -> None:
    LOADS[name] += 1
    logger.info("nlp: loaded %s in %.0f ms", name, (time.perf_counter() - started) * 1000)


@lru_cache(maxsize=1)
def get_ner_tagger():
    """Natasha's NER (slovnet) with its navec embeddings; both ship inside the wheels."""
    from natasha import NewsEmbedding, NewsNERTagger

    started = time.perf_counter()
    tagger = NewsNERTagger(NewsEmbedding())
    _loaded("ner", started)
    return tagger


@lru_cache(maxsize=1)
def get_morph():
    """pymorphy3 (pymorphy2 does not run on Python 3.11)."""
    import pymorphy3

    started = time.perf_counter()
    morph = pymorphy3.MorphAnalyzer(lang="ru")
    _loaded("morph", started)
    return morph


@lru_cache(maxsize=4)
def get_sentiment_backend(name: str | None = None):
    from nlp.sentiment import build_backend

    started = time.perf_counter()
    backend = build_backend(name if name is not None else setting("SENTIMENT_BACKEND"))
    _loaded(f"sentiment:{backend.name}", started)
    return backend


@lru_cache(maxsize=1)
def get_summarizer():
    from nlp.summary import build_summarizer

    started = time.perf_counter()
    summarizer = build_summarizer()
    _loaded("summarizer", started)
    return summarizer


GETTERS = (get_ner_tagger, get_morph, get_sentiment_backend, get_summarizer)


def warm_up() -> dict:
    """Load every model now (a worker calls this before it forks children)."""
    started = time.perf_counter()
    get_ner_tagger()
    get_morph()
    get_sentiment_backend()
    get_summarizer()
    return {"ms": round((time.perf_counter() - started) * 1000, 1), "loads": dict(LOADS)}


def reset() -> None:
    for getter in GETTERS:
        getter.cache_clear()


def _on_setting_changed(*, setting: str, **kwargs) -> None:
    if setting in {"SENTIMENT_BACKEND", "DOSTOEVSKY_MODEL_PATH"}:
        get_sentiment_backend.cache_clear()


try:  # like django.contrib.auth.hashers: drop cached backends when tests override settings
    from django.core.signals import setting_changed  # noqa: F401
    from django.test.signals import setting_changed as _test_setting_changed

    _test_setting_changed.connect(_on_setting_changed, dispatch_uid="nlp-loaders-setting-changed")
except ImportError:  # pragma: no cover
    pass
