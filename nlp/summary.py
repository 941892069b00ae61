"""Summary: Sumy's LexRank with a razdel tokenizer and pymorphy3 lemmas (no NLTK data)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

GREETING = re.compile(
    r"^\s*(добр(ый|ое|ого)\s+(день|утро|вечер|времени суток)|здравствуйте|здраствуйте|привет|hello|hi|good\s+\w+|"
    r"уважаем\w+[^.!?]{0,60}|коллеги|дорогие[^.!?]{0,40})[\s,!.]*"
    r"((коллеги|господа|друзья|ребята|[А-ЯЁ][а-яё]+(\s+[А-ЯЁ][а-яё]+)?)[\s,!.]*)?$",
    re.I,
)
CLOSING = re.compile(r"^\s*(заранее спасибо|спасибо заранее|спасибо|с уважением|thanks[^.]*|regards)[\s,!.]*$", re.I)
MAX_CHARS = 400


class RazdelTokenizer:
    """The tokenizer protocol Sumy's parsers expect, built on razdel."""

    language = "russian"

    def to_sentences(self, paragraph: str) -> tuple[str, ...]:
        from razdel import sentenize

        return tuple(s.text for s in sentenize(paragraph))

    def to_words(self, sentence: str) -> tuple[str, ...]:
        from razdel import tokenize

        return tuple(t.text for t in tokenize(sentence) if re.search(r"\w", t.text))


@lru_cache(maxsize=20000)
def _lemma(word: str) -> str:
    from nlp.loaders import get_morph

    return get_morph().parse(word.lower())[0].normal_form


def stop_words() -> frozenset[str]:
    """Sumy ships no Russian list: ours, in nlp/data (lemmas, since words are lemmatised)."""
    path = Path(__file__).parent / "data" / "stopwords_ru.txt"
    words = (ln.strip() for ln in path.read_text(encoding="utf-8").splitlines())
    return frozenset(w for w in words if w and not w.startswith("#"))


class Summarizer:
    def __init__(self):
        from sumy.summarizers.lex_rank import LexRankSummarizer

        self.tokenizer = RazdelTokenizer()
        self.lexrank = LexRankSummarizer(_lemma)
        self.lexrank.stop_words = stop_words()

    def sentences(self, text: str) -> list[str]:
        from razdel import sentenize

        out = []
        for paragraph in re.split(r"\n\s*\n", text):
            paragraph = " ".join(paragraph.split())
            for s in sentenize(paragraph):
                sentence = s.text.strip()
                if "[" in sentence and len(re.findall(r"[^\W\d_]{2,}", re.sub(r"\[[^\]]+\]", "", sentence))) < 3:
                    continue  # "[ФИО], тел. [ТЕЛЕФОН]." says nothing
                if sentence and not GREETING.match(sentence) and not CLOSING.match(sentence) \
                        and re.search(r"[^\W\d_]{2,}", sentence):
                    out.append(sentence)
        return out

    def summarize(self, text: str, count: int = 2) -> str:
        from sumy.parsers.plaintext import PlaintextParser

        sentences = self.sentences(text)
        if len(sentences) > count:
            import numpy

            parser = PlaintextParser.from_string("\n".join(sentences), self.tokenizer)
            with numpy.errstate(invalid="ignore", divide="ignore"):  # sentences with no shared words
                picked = {str(s) for s in self.lexrank(parser.document, count)}
            sentences = [s for s in sentences if s in picked][:count] or sentences[:count]
        summary = " ".join(sentences)
        if len(summary) > MAX_CHARS:
            summary = summary[:MAX_CHARS].rsplit(" ", 1)[0] + "…"
        return summary


def build_summarizer() -> Summarizer:
    return Summarizer()
