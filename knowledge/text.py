"""Russian text helpers for the knowledge base: lemmas for BM25 and page-aware chunking.

BM25 over raw words misses Russian inflection («поверки», «поверку», «поверке»), so every
word is reduced to its pymorphy3 lemma; a short stem of the lemma is added as a second
token so that related words of one family meet («поверка» / «межповерочный» / «поверять»).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

WORD_RE = re.compile(r"[0-9a-zа-я]+(?:[-‑–][0-9a-zа-я]+)*")
CYRILLIC_RE = re.compile(r"^[а-я]+$")
SENTENCE_END_RE = re.compile(r"(?<=[.!?;:])\s+(?=[«\"(]?[A-ZА-ЯЁ0-9])")
HYPHEN_BREAK_RE = re.compile(r"(\w)[-\u00ad]\n(\w)")
STEM_LEN = 5
RU_PREFIXES = ("меж", "пере", "недо", "само")

STOPWORDS = frozenset("""
а без более бы был была были было быть в вам вас весь во вот все всего всех вы где да даже для до его
ее ей ему если есть еще же за здесь и из или им их к как какой когда который ли либо мне может мой мы на
над наш не него нее нет ни них но ну о об однако он она они оно от очень по под после при про с сам свой
себя так также такой там те тем то того тоже той только том ты у уже хотя чего чей чем что чтобы чье эта
эти это этот я подсказать пожалуйста здравствуйте добрый день спасибо нужно надо можно ли
""".split())

def get_morph():
    """The pymorphy3 analyzer, shared with the nlp app: one per process."""
    from nlp.loaders import get_morph as nlp_morph

    return nlp_morph()


@lru_cache(maxsize=200_000)
def lemma(word: str) -> str:
    if not CYRILLIC_RE.match(word):
        return word
    return get_morph().parse(word)[0].normal_form.replace("ё", "е")


def _stem(word: str) -> str | None:
    if len(word) <= STEM_LEN or not CYRILLIC_RE.match(word):
        return None
    for prefix in RU_PREFIXES:
        if word.startswith(prefix) and len(word) - len(prefix) > STEM_LEN:
            word = word[len(prefix):]
            break
    return "~" + word[:STEM_LEN]


def tokens(text: str) -> list[str]:
    """BM25 tokens: lemmas (and the parts of hyphenated words like «сигнал-4м») plus stems."""
    out: list[str] = []
    for match in WORD_RE.finditer(text.lower().replace("ё", "е")):
        word = match.group()
        parts = re.split(r"[-‑–]", word)
        words = [word.replace("‑", "-").replace("–", "-")] + parts if len(parts) > 1 else [word]
        for item in words:
            if item in STOPWORDS or (len(item) < 2 and not item.isdigit()):
                continue
            base = lemma(item)
            if base in STOPWORDS:
                continue
            out.append(base)
            stem = _stem(base)
            if stem:
                out.append(stem)
    return out


def clean_page_text(text: str) -> str:
    """Undo PDF line breaks: join hyphenated words, collapse whitespace."""
    text = text.replace("\x00", "")
    text = HYPHEN_BREAK_RE.sub(r"\1\2", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class Chunk:
    page: int
    text: str


def split_page(text: str, page: int, size: int = 700, overlap: int = 150) -> list[Chunk]:
    """Pack whole sentences into chunks of about ``size`` characters, repeating up to
    ``overlap`` characters of trailing sentences at the start of the next chunk. A sentence
    longer than ``size`` is cut on word boundaries. Chunks never cross a page, so every hit
    has one page number."""
    text = clean_page_text(text)
    if not text:
        return []
    sentences: list[str] = []
    for sentence in SENTENCE_END_RE.split(text):
        while len(sentence) > size:
            cut = sentence.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            sentences.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            sentences.append(sentence)

    chunks: list[Chunk] = []
    current: list[str] = []
    length = 0
    for sentence in sentences:
        if current and length + len(sentence) + 1 > size:
            chunks.append(Chunk(page, " ".join(current)))
            tail: list[str] = []
            tail_len = 0
            for previous in reversed(current):
                if tail_len + len(previous) > overlap:
                    break
                tail.insert(0, previous)
                tail_len += len(previous) + 1
            current, length = tail, tail_len
        current.append(sentence)
        length += len(sentence) + 1
    if current:
        chunk = Chunk(page, " ".join(current))
        if not chunks or chunk.text not in chunks[-1].text:
            chunks.append(chunk)
    return chunks
