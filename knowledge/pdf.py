"""Read a PDF into pages of text with pypdf, and tell text from garbage.

A scan has no text layer; a PDF whose fonts lack a ToUnicode map yields private-use or
control characters instead of letters. Both are reported as "no text", never indexed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

MIN_LETTERS = 40          # fewer letters in the whole document: nothing to index
MIN_GOOD_RATIO = 0.85     # share of letters/digits/punctuation/spaces among all characters
LETTER_RE = re.compile(r"[A-Za-zА-Яа-яЁё]")


class PdfError(Exception):
    """The file cannot be read as a PDF."""


@dataclass
class PdfText:
    title: str
    pages: list[str] = field(default_factory=list)  # index 0 is page 1
    problem: str = ""  # non-empty: the document has no usable text

    @property
    def ok(self) -> bool:
        return not self.problem


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _good_char(ch: str) -> bool:
    if ch.isspace() or ch.isalnum():
        return unicodedata.category(ch) not in ("Co", "Cn")
    return unicodedata.category(ch)[0] in ("P", "S", "N")


def text_problem(pages: list[str]) -> str:
    """Why this text is not worth indexing (Russian, for staff), or '' when it is fine."""
    joined = "".join(pages)
    letters = len(LETTER_RE.findall(joined))
    if letters < MIN_LETTERS:
        return "В PDF нет текстового слоя (скан или изображение) — нужен PDF с текстом или распознавание (OCR)."
    good = sum(1 for ch in joined if _good_char(ch))
    if good / max(len(joined), 1) < MIN_GOOD_RATIO or letters / max(len(joined.split()), 1) < 1.5:
        return "Текст PDF не извлекается корректно (шрифты без таблицы ToUnicode) — получается «мусор»."
    return ""


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()))


def strip_running_lines(pages: list[str]) -> list[str]:
    """Drop running headers/footers: first/last lines that repeat (page numbers aside) on
    most pages. They add nothing to a passage and crowd its quote."""
    if len(pages) < 3:
        return pages
    counts: dict[str, int] = {}
    for text in pages:
        lines = [line for line in text.splitlines() if line.strip()]
        for line in {_shape(line) for line in lines[:2] + lines[-2:]}:
            counts[line] = counts.get(line, 0) + 1
    running = {line for line, n in counts.items() if n >= max(3, 0.6 * len(pages)) and len(line) > 3}
    if not running:
        return pages
    return ["\n".join(line for line in text.splitlines() if _shape(line) not in running) for text in pages]


def read_pdf(path: Path | str, fallback_title: str = "") -> PdfText:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            try:
                reader.decrypt("")
            except Exception as exc:  # noqa: BLE001 - any decrypt failure means "locked"
                raise PdfError(f"PDF защищён паролем: {exc}") from exc
        pages = []
        for number, page in enumerate(reader.pages, start=1):
            try:
                pages.append(page.extract_text() or "")
            except Exception as exc:  # noqa: BLE001 - one broken page must not lose the others
                logger.warning("%s: page %s unreadable: %s", path, number, exc)
                pages.append("")
        meta_title = ""
        try:
            meta_title = (reader.metadata.title or "").strip() if reader.metadata else ""
        except Exception:  # noqa: BLE001 - broken metadata is common and harmless
            meta_title = ""
    except PdfError:
        raise
    except (PyPdfError, OSError, ValueError, KeyError, TypeError) as exc:
        raise PdfError(f"Не удалось прочитать PDF: {exc}") from exc

    pages = strip_running_lines(pages)
    title = meta_title if meta_title and meta_title.lower() not in ("untitled", "(unspecified)") else ""
    if not title:
        title = fallback_title or Path(str(path)).stem
    return PdfText(title=title, pages=pages, problem=text_problem(pages))
