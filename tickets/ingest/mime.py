"""Parse raw RFC 822 bytes into a :class:`ParsedMail`. Pure functions, no Django.

The standard library (``policy.default``) does the MIME work; this module adds what
real-world Russian mail needs: charset repair (undeclared or wrongly declared
cp1251/KOI8-R, raw 8-bit headers), HTML-only bodies turned into text, forwarded
``message/rfc822`` parts, attachment names in RFC 2231/2047, and detection of
auto-replies, bounces and bulk mail.
"""

from __future__ import annotations

import email
import email.header
import email.policy
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage

import html2text

__all__ = [
    "ParsedAttachment", "ParsedMail", "parse_mail", "parse_many", "header_message_id", "derive_message_id", "decode_bytes",
]

_POLICY = email.policy.default.clone(max_line_length=None)
_ID_RE = re.compile(r"<[^<>\s]+>")
_RUSSIAN_COMMON = set("оеаинтсрвлкмдпуяыьгзбчйхжшюцщэфъё")
_RUSSIAN_ALL = _RUSSIAN_COMMON | set("ОЕАИНТСРВЛКМДПУЯЫЬГЗБЧЙХЖШЮЦЩЭФЪЁ")
_CHARSET_ALIASES = {
    "unknown-8bit": None, "x-unknown": None, "default": None, "us-ascii": None, "ascii": None,
    "windows-1251": "cp1251", "win-1251": "cp1251", "x-cp1251": "cp1251", "cp-1251": "cp1251",
    "koi8r": "koi8-r", "utf8": "utf-8", "x-user-defined": None, "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030", "gbk": "gb18030",
}


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    payload: bytes
    is_inline: bool = False
    content_id: str = ""


@dataclass
class ParsedMail:
    message_id: str
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    from_name: str = ""
    from_address: str = ""
    to: list[str] = field(default_factory=list)
    cc: list[str] = field(default_factory=list)
    reply_to: str = ""
    subject: str = ""
    date: datetime | None = None
    text: str = ""
    html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    is_auto: bool = False
    auto_reason: str = ""
    notes: list[str] = field(default_factory=list)  # charset repairs, defects worth showing staff
    forwarded: list[str] = field(default_factory=list)  # text of forwarded message/rfc822 parts


# --- identifiers -------------------------------------------------------------------------

def normalized_sha256(raw: bytes) -> str:
    """Hash of the bytes with line endings unified, so CRLF (IMAP) and LF (files) copies match."""
    return hashlib.sha256(raw.replace(b"\r\n", b"\n")).hexdigest()


def derive_message_id(raw: bytes) -> str:
    """A stable Message-ID for mail that has none: the same bytes always give the same id."""
    return f"<sha256.{normalized_sha256(raw)[:40]}@enigma.invalid>"


def _first_id(value: str) -> str:
    match = _ID_RE.search(value or "")
    if match:
        return match.group(0)
    value = (value or "").strip()
    return f"<{value}>" if value and " " not in value else ""


def header_message_id(raw: bytes) -> str:
    """Message-ID from the headers only (cheap, used before full parsing), or a derived one."""
    try:
        headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
        value = _fix_header_text(str(headers.get("Message-ID", "") or ""))
    except Exception:  # noqa: BLE001 - a broken header block still gets a stable id
        value = ""
    return _clip(_first_id(value), 998) or derive_message_id(raw)


def _ids(value: str) -> list[str]:
    return _ID_RE.findall(value or "")


# --- text decoding -----------------------------------------------------------------------

_NON_ASCII_RE = re.compile(r"[^\x00-\x7f]")
_SCORE_SAMPLE = 8000


def _cyrillic_score(text: str) -> float:
    """How much ``text`` looks like Russian: share of common lowercase Russian letters among
    all non-ASCII characters (mojibake brings box-drawing signs and capitals). Scores a
    sample; counting is done in C (str.count, regex) because this runs on every legacy body."""
    sample = text[:_SCORE_SAMPLE]
    non_ascii = len(_NON_ASCII_RE.findall(sample))
    if not non_ascii:
        return 0.0
    common = sum(map(sample.count, _RUSSIAN_COMMON))
    return common / non_ascii + min(non_ascii, 50) / 1000  # tie-break towards more letters


_GOOD_SCORE = 0.7  # real Russian text scores ~0.85–1.0; mojibake stays well below 0.5


def decode_bytes(data: bytes, declared: str | None = None) -> tuple[str, str]:
    """Decode ``data`` sensibly; return ``(text, note)`` where ``note`` explains any repair.

    * ASCII is ASCII.
    * Valid UTF-8 with multi-byte sequences is UTF-8, whatever was declared: legacy
      Cyrillic text is practically never valid UTF-8 by accident.
    * A declared charset that decodes cleanly is trusted, except plain ASCII holding
      8-bit bytes, and cp1251/KOI8-R, which decode anything and are checked against
      each other by Russian letter statistics.
    * Otherwise charset-normalizer guesses.
    """
    if not data:
        return "", ""
    if data.isascii():
        return data.decode("ascii"), ""
    declared_norm = (declared or "").strip().strip('"').lower()
    codec = _CHARSET_ALIASES.get(declared_norm, declared_norm or None)
    try:
        text = data.decode("utf-8")
        return text, "" if codec == "utf-8" else f"кодировка определена: utf-8 (заявлена {declared_norm or 'нет'})"
    except UnicodeDecodeError:
        pass
    if codec and codec not in ("utf-8", "cp1251", "koi8-r"):
        try:
            return data.decode(codec), ""
        except (LookupError, UnicodeDecodeError):
            pass
    if codec in ("cp1251", "koi8-r"):
        declared_text = data.decode(codec, errors="replace")
        if _cyrillic_score(declared_text) >= _GOOD_SCORE:
            return declared_text, ""
    candidates = {alt: data.decode(alt, errors="replace") for alt in ("cp1251", "koi8-r")}
    best = max(candidates, key=lambda name: _cyrillic_score(candidates[name]))
    if codec in candidates and _cyrillic_score(candidates[codec]) >= _cyrillic_score(candidates[best]) - 0.05:
        best = codec
    if _cyrillic_score(candidates[best]) < 0.5:
        guess = _charset_normalizer_guess(data)
        if guess:
            best, candidates[best] = guess
    if best == codec:
        return candidates[best], ""
    return candidates[best], f"кодировка определена: {best} (заявлена {declared_norm or 'нет'})"


def _charset_normalizer_guess(data: bytes) -> tuple[str, str] | None:
    from charset_normalizer import from_bytes

    match = from_bytes(data[:200_000]).best()
    if match is None:
        return None
    return match.encoding, str(match)


def _fix_header_text(value: str) -> str:
    """Repair raw 8-bit header bytes (surrogate-escaped by the parser) and stray encoded words."""
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        raw = value.encode("utf-8", "surrogateescape")
        value, _ = decode_bytes(raw)
    if "=?" in value and "?=" in value:
        try:
            value = str(email.header.make_header(email.header.decode_header(value)))
        except (LookupError, UnicodeDecodeError, email.errors.HeaderParseError, ValueError):
            pass
    return value


def _clean(value: str) -> str:
    """Make text safe for PostgreSQL: no NUL characters, no lone surrogates."""
    if not value:
        return ""
    value = value.replace("\x00", "")
    return value.encode("utf-8", "replace").decode("utf-8")


def _clip(value: str, limit: int) -> str:
    return value[:limit]


# --- headers -----------------------------------------------------------------------------

def _header(msg: EmailMessage, name: str) -> str:
    """A header as text, never raising on malformed values.

    Raw 8-bit bytes in a header (common with Russian mailers) reach us surrogate-escaped
    in ``raw_items()``; ``policy.default`` would turn them into U+FFFD, so those are
    decoded here with charset detection instead.
    """
    try:
        raw_value = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    except Exception:  # noqa: BLE001
        raw_value = None
    if raw_value is None:
        return ""
    if not isinstance(raw_value, str):
        raw_value = str(raw_value)
    if raw_value.isascii() and "=?" not in raw_value:
        # Plain ASCII needs no policy header object (the costliest part of parsing).
        return _clean(re.sub(r"\r?\n[ \t]+", " ", raw_value)).strip()
    if any("\udc80" <= ch <= "\udcff" for ch in raw_value):
        text = _fix_header_text(re.sub(r"\r?\n[ \t]+", " ", raw_value))
    else:
        try:
            text = str(msg.get(name))
        except Exception:  # noqa: BLE001 - policy.default raises on some broken headers
            text = _fix_header_text(str(raw_value))
    return _clean(text).strip()


def _addresses(msg: EmailMessage, name: str) -> list[tuple[str, str]]:
    raw = _header(msg, name)
    if not raw:
        return []
    pairs = email.utils.getaddresses([raw])
    return [(_clean(n).strip(), a.strip().lower()) for n, a in pairs if a and "@" in a]


def _date(msg: EmailMessage) -> datetime | None:
    raw = _header(msg, "Date")
    if not raw:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        from datetime import timezone as dt_timezone

        parsed = parsed.replace(tzinfo=dt_timezone.utc)
    if not (1970 <= parsed.year <= 2100):
        return None
    return parsed


# --- auto-replies, bounces, bulk ------------------------------------------------------------

_AUTO_FROM_RE = re.compile(r"^(mailer-daemon|postmaster|no-?reply|do-?not-?reply|bounces?)([+@.-]|$)", re.I)


def detect_auto(msg: EmailMessage, from_address: str) -> str:
    """Return why the mail is automatic ("" for a human mail)."""
    auto_submitted = _header(msg, "Auto-Submitted").lower()
    if auto_submitted and not auto_submitted.startswith("no"):
        return f"auto-submitted: {auto_submitted[:40]}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder"):
        if _header(msg, name):
            return name.lower()
    if _header(msg, "X-Auto-Response-Suppress").lower() in ("all", "oof", "autoreply"):
        # Exchange marks its own out-of-office replies this way together with an OOF class.
        if _header(msg, "X-MS-Exchange-Generated-Message-Source") or "oof" in _header(msg, "Thread-Topic").lower():
            return "exchange-oof"
    precedence = _header(msg, "Precedence").lower()
    if precedence in ("bulk", "junk", "auto_reply", "list"):
        return f"precedence: {precedence}"
    if msg.get_content_type() == "multipart/report":
        return "delivery-report"
    if _AUTO_FROM_RE.match(from_address.split("@")[0] + "@") or from_address.startswith(("mailer-daemon@", "postmaster@")):
        return f"from: {from_address.split('@')[0]}"
    return_path = _header(msg, "Return-Path")
    if return_path.strip() == "<>":
        return "return-path: <>"
    return ""


# --- bodies and attachments ---------------------------------------------------------------

def _part_bytes(part: EmailMessage) -> bytes:
    try:
        payload = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - broken transfer encoding: keep what is there
        payload = None
    if payload is None:
        raw = part.get_payload()
        if isinstance(raw, str):
            payload = raw.encode("utf-8", "surrogateescape")
        else:
            payload = b""
    return payload


def _part_text(part: EmailMessage, notes: list[str]) -> str:
    try:
        declared = part.get_content_charset()
    except Exception:  # noqa: BLE001
        declared = None
    text, note = decode_bytes(_part_bytes(part), declared)
    if note:
        notes.append(note)
    return _clean(text)


def html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    converter.ignore_tables = False
    try:
        text = converter.handle(html)
    except Exception:  # noqa: BLE001 - html2text chokes on some broken markup
        text = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _filename(part: EmailMessage) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:  # noqa: BLE001
        name = ""
    if not name:
        try:  # Content-Type name= (older mailers)
            name = part.get_param("name", header="content-type") or ""
            if isinstance(name, tuple):
                name = email.utils.collapse_rfc2231_value(name)
        except Exception:  # noqa: BLE001
            name = ""
    name = _fix_header_text(str(name))
    name = re.sub(r"[\x00-\x1f/\\]", "_", _clean(name)).strip()
    return name[:255]


_EXTENSIONS = {
    "image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "application/pdf": ".pdf",
    "message/rfc822": ".eml", "text/plain": ".txt", "text/html": ".html",
}


def _is_attachment(part: EmailMessage) -> bool:
    disposition = (part.get_content_disposition() or "").lower()
    if disposition == "attachment":
        return True
    if part.get_content_maintype() in ("image", "audio", "video", "application", "model", "font"):
        return True
    return bool(_filename(part)) and part.get_content_maintype() != "multipart"


def _walk(msg: EmailMessage, mail: ParsedMail, body_parts: dict, depth: int = 0) -> None:
    """Collect body candidates and attachments; descend into forwarded messages."""
    try:
        parts = list(msg.iter_parts()) if msg.is_multipart() else []
    except Exception:  # noqa: BLE001
        parts = []
    ctype = msg.get_content_type()
    if ctype in ("message/delivery-status", "message/disposition-notification", "text/rfc822-headers"):
        body_parts.setdefault("report", []).append(_report_text(msg))
        return
    if ctype in ("message/rfc822", "message/global"):
        inner = parts[0] if parts else None
        if inner is not None:
            _forwarded(inner, mail, depth)
            payload = inner.as_bytes(policy=_POLICY) if hasattr(inner, "as_bytes") else b""
            name = _filename(msg) or (_header(inner, "Subject") or "forwarded")[:80] + ".eml"
            mail.attachments.append(ParsedAttachment(name, "message/rfc822", payload))
        return
    if msg.is_multipart():
        for part in parts:
            _walk(part, mail, body_parts, depth)
        return
    inline_text = ctype in ("text/plain", "text/html") and (msg.get_content_disposition() or "") != "attachment"
    if _is_attachment(msg) and not inline_text:
        payload = _part_bytes(msg)
        name = _filename(msg) or f"attachment{_EXTENSIONS.get(ctype, '.bin')}"
        content_id = _header(msg, "Content-ID").strip("<> ")
        inline = (msg.get_content_disposition() or "") == "inline" or (bool(content_id) and ctype.startswith("image/"))
        mail.attachments.append(ParsedAttachment(name, ctype[:255], payload, inline, content_id[:255]))
        return
    if ctype == "text/html":
        body_parts.setdefault("html", []).append(_part_text(msg, mail.notes))
    elif msg.get_content_maintype() == "text" or ctype == "application/octet-stream" and depth == 0:
        body_parts.setdefault("plain", []).append(_part_text(msg, mail.notes))


def _report_text(part: EmailMessage) -> str:
    """Delivery-status parts are parsed into header blocks; give staff their text."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return _clean("\n\n".join(str(block).strip() for block in payload))
    return _clean(str(payload))


def _forwarded(inner: EmailMessage, mail: ParsedMail, depth: int) -> None:
    """Append a forwarded message's headers and text to the body (customers forward complaints)."""
    inner_parts: dict = {}
    inner_mail = ParsedMail(message_id="")
    _walk(inner, inner_mail, inner_parts, depth + 1)
    text = _choose_text(inner_parts)
    header = ["---------- Пересланное сообщение ----------"]
    for label, name in (("От", "From"), ("Дата", "Date"), ("Тема", "Subject"), ("Кому", "To")):
        value = _header(inner, name)
        if value:
            header.append(f"{label}: {value}")
    mail.notes.extend(inner_mail.notes)
    mail.attachments.extend(inner_mail.attachments)
    mail.forwarded.extend(inner_mail.forwarded)
    mail.forwarded.append("\n".join(header) + "\n\n" + text)


def _choose_text(body_parts: dict) -> str:
    plain = "\n\n".join(p for p in body_parts.get("plain", []) if p.strip())
    if plain.strip():
        return plain.strip()
    html = "\n".join(body_parts.get("html", []))
    if html.strip():
        return html_to_text(html)
    return "\n\n".join(body_parts.get("report", [])).strip()


_HEADER_LINE_RE = re.compile(rb"^[A-Za-z][A-Za-z0-9-]{1,60}:[ \t]")


def _recover(raw: bytes) -> tuple[EmailMessage, str]:
    """A mail whose first line is not a header: skip junk before the headers (a pasted
    "Original message" line, a mangled first header), or keep it as headerless text.
    Binary data that is not text at all is refused."""
    lines = raw.splitlines(keepends=True)
    offset = 0
    for line in lines[:50]:
        if _HEADER_LINE_RE.match(line) and line.split(b":", 1)[0].lower() in _KNOWN_HEADERS:
            msg = email.message_from_bytes(raw[offset:], policy=_POLICY)
            if msg.keys():
                return msg, f"заголовки найдены после {offset} байт мусора в начале"
        offset += len(line)
    sample = raw[:4096]
    control = sum(1 for b in sample if b < 9 or 13 < b < 32 or b == 127)
    if not sample.strip() or control > len(sample) * 0.05:
        raise ValueError("не найдено ни одного заголовка и данные не похожи на текст: это не письмо RFC 822")
    msg = email.message_from_bytes(b"Content-Type: text/plain\n\n" + raw, policy=_POLICY)
    return msg, "письмо без заголовков: сохранено как текст"


_KNOWN_HEADERS = {
    b"from", b"to", b"cc", b"subject", b"date", b"message-id", b"return-path", b"received",
    b"mime-version", b"content-type", b"reply-to", b"sender", b"delivered-to", b"x-mailer",
}


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse raw RFC 822 bytes. Raises only when the bytes are not a message at all."""
    msg = email.message_from_bytes(raw, policy=_POLICY)
    recovery_note = ""
    if not msg.keys():
        msg, recovery_note = _recover(raw)
    message_id = _clip(_first_id(_header(msg, "Message-ID")), 998) or derive_message_id(raw)
    senders = _addresses(msg, "From") or _addresses(msg, "Sender") or _addresses(msg, "Return-Path")
    from_name, from_address = senders[0] if senders else ("", "")
    references = _ids(_header(msg, "References"))
    in_reply_to_ids = _ids(_header(msg, "In-Reply-To"))
    mail = ParsedMail(
        message_id=message_id,
        in_reply_to=in_reply_to_ids[0] if in_reply_to_ids else "",
        references=references,
        from_name=from_name[:255],
        from_address=from_address[:320],
        to=[a for _, a in _addresses(msg, "To")],
        cc=[a for _, a in _addresses(msg, "Cc")],
        reply_to=next((a for _, a in _addresses(msg, "Reply-To")), "")[:320],
        subject=_clip(re.sub(r"\s+", " ", _header(msg, "Subject")).strip(), 998),
        date=_date(msg),
    )
    if recovery_note:
        mail.notes.append(recovery_note)
    mail.auto_reason = detect_auto(msg, from_address)
    mail.is_auto = bool(mail.auto_reason)

    body_parts: dict = {}
    _walk(msg, mail, body_parts)
    mail.html = "\n".join(body_parts.get("html", []))
    text = _choose_text(body_parts)
    if mail.forwarded:
        text = "\n\n".join(t for t in [text, *mail.forwarded] if t.strip())
    mail.text = text
    for defect in getattr(msg, "defects", [])[:5]:
        mail.notes.append(f"дефект: {type(defect).__name__}")
    mail.notes = list(dict.fromkeys(mail.notes))
    return mail


def parse_many(raws: list[bytes | None]) -> list[ParsedMail | ValueError | None]:
    """Parse several mails (in a worker process: the results are pickled back). A mail that
    fails gives a ``ValueError`` carrying the reason; ``None`` in, ``None`` out."""
    results: list[ParsedMail | ValueError | None] = []
    for raw in raws:
        if raw is None:
            results.append(None)
            continue
        try:
            results.append(parse_mail(raw))
        except Exception as exc:  # noqa: BLE001 - reported per mail, like inline parsing
            results.append(ValueError(f"{type(exc).__name__}: {exc}"))
    return results
