"""Take the customer's new words only: cut quoted history and mail-client noise, keep the
signature (its name, phone and company are what entity extraction needs)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

MAX_CHARS = 20_000  # longer mails are analysed on their first 20k characters (a warning is added)

_QUOTE_HEADERS = [
    re.compile(r"^\s*-{2,}\s*(original message|исходное сообщение|пересылаемое сообщение|forwarded message|"
               r"переадресованное сообщение)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*_{5,}\s*$"),  # Outlook's separator line before From:/От:
    # "On Mon, 1 Jan 2024, X wrote:", "12.11.2024, 10:00, X пишет:", "X написал(а):"
    re.compile(r"^.{0,200}\b(wrote|пишет|написал|написала|написал\(а\))\s*:\s*$", re.I),
]
# Outlook/Thunderbird header block: a From/От line followed by Sent/Date/To/Subject lines.
_HEADER_FROM = re.compile(r"^\s*(from|от)\s*:\s*\S", re.I)
_HEADER_NEXT = re.compile(r"^\s*(sent|date|to|subject|cc|отправлено|дата|кому|тема|копия)\s*:", re.I)

_NOISE = re.compile(
    r"^\s*(отправлено (с|из) .{0,60}|sent from my .{0,60}|sent from .{0,40}(iphone|android|outlook|mail)\S*|"
    r"get outlook for .{0,40}|отправлено из мобильной почты.{0,40}|"
    r"this (e-?mail|message) (and any attachments )?(is|are) confidential.*|"
    r"(данное|это) (сообщение|письмо)( и (все )?(любые )?вложения)? (является|являются|содерж).{0,200}конфиденц.*)\s*$",
    re.I,
)
_SIGNATURE_START = re.compile(
    r"^\s*(--\s*|с уважением.*|с наилучшими пожеланиями.*|best regards.*|kind regards.*|regards,?.*|"
    r"всего (доброго|хорошего).*)$",
    re.I,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff\ufffd]")


@dataclass
class CleanText:
    text: str  # new words + signature: what entities and masking work on
    body: str  # new words without the signature: sentiment, intent, summary
    signature: str
    quoted: str  # what was cut (not analysed)
    truncated: bool = False

    @property
    def signature_offset(self) -> int:
        return len(self.text) - len(self.signature) if self.signature else len(self.text)


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\t", " ")
    return _CONTROL.sub("", text)


def _quote_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        if any(p.match(line) for p in _QUOTE_HEADERS):
            return i
        if _HEADER_FROM.match(line) and any(_HEADER_NEXT.match(nxt) for nxt in lines[i + 1:i + 4]):
            return i
        # a run of '>' lines after some text starts the quoted history
        if line.lstrip().startswith(">") and i > 0:
            return i
    return None


def clean(raw: str) -> CleanText:
    text = normalize(raw or "")
    truncated = len(text) > MAX_CHARS
    if truncated:
        text = text[:MAX_CHARS]
    lines = text.split("\n")
    cut = _quote_start(lines)
    quoted = "\n".join(lines[cut:]) if cut is not None else ""
    if cut is not None:
        lines = lines[:cut]
    kept = [ln.rstrip() for ln in lines if not ln.lstrip().startswith(">") and not _NOISE.match(ln)]
    # collapse runs of blank lines and strip the ends
    out: list[str] = []
    for ln in kept:
        if not ln.strip() and (not out or not out[-1].strip()):
            continue
        out.append(ln)
    while out and not out[-1].strip():
        out.pop()
    sig_at = None
    for i, ln in enumerate(out):
        if i > 0 and _SIGNATURE_START.match(ln):
            sig_at = i
            break
    body_lines = out[:sig_at] if sig_at is not None else out
    signature = "\n".join(out[sig_at:]) if sig_at is not None else ""
    full = "\n".join(out)
    return CleanText(text=full, body="\n".join(body_lines).strip(), signature=signature, quoted=quoted,
                     truncated=truncated)


_REQUEST = re.compile(r"\?|подскажите|прошу|просим|пришлите|направьте|вышлите|сообщите|please|could you", re.I)

def strip_polite_thanks(text: str) -> str:
    """Drop closing formulas ("Заранее спасибо", a last "Спасибо." after a request): they are
    courtesy, not a thank-you note, for sentiment and intent."""
    text = re.sub(r"заранее спасибо|спасибо заранее|заранее благодар\w*|thanks in advance", " ", text, flags=re.I)
    stripped = text.rstrip()
    if _REQUEST.search(stripped):
        stripped = re.sub(r"(?:^|(?<=[.!?\s]))(?:большое )?(?:спасибо|благодарю|thanks|thank you)(?: большое)?[.!)]*\s*$",
                          "", stripped, flags=re.I)
    return stripped
