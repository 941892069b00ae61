"""Store and ingest one raw message: raw bytes first, then parse and thread.

Guarantees:
* the raw bytes are committed before parsing starts, so nothing received is lost;
* the same message (same Message-ID, or same bytes when it has none) never makes a
  second ticket, also when a previous run died between storing and parsing;
* a message that cannot be parsed stays stored, marked ``failed`` for staff.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from tickets.ingest.mime import ParsedMail, header_message_id, normalized_sha256, parse_mail
from tickets.ingest.threading import normalize_subject, ticket_number_from_subject
from tickets.models import Attachment, Contact, Message, OutboundEmail, Ticket

logger = logging.getLogger(__name__)


@dataclass
class IngestResult:
    message: Message
    ticket: Ticket | None = None
    created_ticket: bool = False
    duplicate: bool = False
    failed: bool = False


def ingest_raw(raw: bytes, *, source: str = Message.Source.FILE, folder: str = "", uid: int | None = None) -> IngestResult:
    """The one ingestion path for every mail that reaches us."""
    return ingest_batch([(raw, uid)], source=source, folder=folder)[0]


def ingest_batch(items: list[tuple[bytes, int | None]], *, source: str, folder: str = "", on_parsed=None,
                 parsed: list | None = None) -> list[IngestResult]:
    """Ingest several raw mails: one commit stores all raw bytes, then each mail is parsed
    and threaded in its own savepoint inside one transaction (commits are the costliest
    part of ingestion). ``parsed`` may hold the items' :func:`parse_many` results, computed
    in another process while the previous batch was stored. ``on_parsed()`` runs inside that transaction, so progress markers
    such as the IMAP last UID commit together with the tickets they describe.

    A crash after the first commit loses only parsing work: the stored rows stay
    ``pending`` and the next run completes them.
    """
    from tickets.jobs import enqueue_processing_many

    stored = store_raw_batch(items, source=source, folder=folder)
    results: list[IngestResult | None] = [None] * len(stored)
    failures: list[tuple[int, Exception]] = []
    to_process: list[int] = []
    with transaction.atomic():
        # Lock every pending row of the batch at once (another poller skips them).
        pending = Message.objects.select_for_update(skip_locked=True).filter(
            pk__in=[m.pk for m, _ in stored], parse_status=Message.ParseStatus.PENDING
        )
        locked = {m.pk: m for m in pending}
        for index, (message, _created) in enumerate(stored):
            if message.pk not in locked:
                results[index] = IngestResult(message=message, ticket=message.ticket, duplicate=True)
                continue
            try:
                with transaction.atomic():
                    results[index] = result = _parse_and_thread(
                        locked.pop(message.pk), parsed[index] if parsed is not None else None)
                if result.ticket is not None and not result.message.is_auto:
                    to_process.append(result.ticket.pk)
            except Exception as exc:  # noqa: BLE001 - recorded on the message; the run goes on
                logger.exception("ingestion of message %s failed", message.pk)
                failures.append((index, exc))
                Message.objects.filter(pk=message.pk).update(
                    parse_status=Message.ParseStatus.FAILED,
                    parse_error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=5)}"[:10000],
                )
        if on_parsed is not None:
            on_parsed()
        if to_process:
            ticket_ids = list(dict.fromkeys(to_process))
            transaction.on_commit(lambda: enqueue_processing_many(ticket_ids))
    for index, _ in failures:
        message = stored[index][0]
        message.refresh_from_db()
        results[index] = IngestResult(message=message, failed=True)
    return results


def store_raw(raw: bytes, *, source: str, folder: str = "", uid: int | None = None) -> tuple[Message, bool]:
    """Commit the raw bytes (or find the stored copy). Returns ``(message, created)``."""
    return store_raw_batch([(raw, uid)], source=source, folder=folder)[0]


def store_raw_batch(items: list[tuple[bytes, int | None]], *, source: str, folder: str = "") -> list[tuple[Message, bool]]:
    """Commit the raw bytes of every new mail in one transaction; find the stored copies of
    the others. Returns ``(message, created)`` per item, in order."""
    ids = [header_message_id(raw) for raw, _ in items]
    existing = {
        m.message_id: m
        for m in Message.objects.filter(message_id__in=set(ids)).only("id", "message_id", "parse_status", "ticket_id")
    }
    new_rows: dict[str, Message] = {}
    for message_id, (raw, uid) in zip(ids, items, strict=True):
        if message_id not in existing and message_id not in new_rows:
            new_rows[message_id] = Message(
                message_id=message_id, raw=raw, raw_sha256=normalized_sha256(raw), size=len(raw),
                source=source, imap_folder=folder, imap_uid=uid,
            )
    if new_rows:
        try:
            with transaction.atomic():
                Message.objects.bulk_create(new_rows.values())
        except IntegrityError:  # a concurrent poller stored some of them first: go one by one
            for message_id, row in list(new_rows.items()):
                try:
                    with transaction.atomic():
                        row.save(force_insert=True)
                except IntegrityError:
                    del new_rows[message_id]
                    existing[message_id] = Message.objects.get(message_id=message_id)
    results = []
    seen: set[str] = set()
    for message_id in ids:
        if message_id in new_rows and message_id not in seen:
            results.append((new_rows[message_id], True))
        else:
            results.append((existing.get(message_id) or new_rows[message_id], False))
        seen.add(message_id)
    return results


def _parse_and_thread(message: Message, parsed: ParsedMail | ValueError | None = None) -> IngestResult:
    """Parse a locked, pending message (unless parsed already) and attach it to its ticket."""
    from django.conf import settings

    raw = bytes(message.raw)
    if len(raw) > settings.MAIL_MAX_PARSE_BYTES:
        raise ValueError(f"письмо слишком большое для разбора: {len(raw)} байт")
    if isinstance(parsed, ValueError):
        raise parsed
    parsed = parsed or parse_mail(raw)
    _fill_message(message, parsed)
    ticket, created = _thread(message, parsed)
    message.ticket = ticket
    message.parse_status = Message.ParseStatus.PARSED
    message.save(update_fields=_PARSED_FIELDS)  # never rewrite the raw bytes
    _save_attachments(message, parsed)
    if ticket is not None and not created and not parsed.is_auto:
        _reopen(ticket)
    return IngestResult(message=message, ticket=ticket, created_ticket=created)


_PARSED_FIELDS = [
    "ticket", "parse_status", "direction", "in_reply_to", "references", "from_address", "from_name", "to",
    "cc", "reply_to", "subject", "sent_at", "body_text", "body_html", "is_auto", "auto_reason", "charset_note",
]


def _fill_message(message: Message, parsed: ParsedMail) -> None:
    message.direction = Message.Direction.INBOUND
    message.in_reply_to = parsed.in_reply_to[:998]
    message.references = " ".join(parsed.references)
    message.from_address = parsed.from_address
    message.from_name = parsed.from_name
    message.to = ", ".join(parsed.to)
    message.cc = ", ".join(parsed.cc)
    message.reply_to = parsed.reply_to
    message.subject = parsed.subject
    message.sent_at = parsed.date
    message.body_text = parsed.text
    message.body_html = parsed.html
    message.is_auto = parsed.is_auto
    message.auto_reason = parsed.auto_reason[:64]
    message.charset_note = "; ".join(parsed.notes)[:255]


def _find_ticket(parsed: ParsedMail) -> Ticket | None:
    """The ticket this mail continues: by In-Reply-To/References, then by the [#N] subject tag."""
    ids = [i for i in [parsed.in_reply_to, *reversed(parsed.references)] if i]
    if ids:
        ticket_id = (
            Message.objects.filter(message_id__in=ids, ticket__isnull=False)
            .exclude(message_id=parsed.message_id)
            .order_by("-received_at")
            .values_list("ticket_id", flat=True)  # never the raw bytes of the thread
            .first()
        ) or OutboundEmail.objects.filter(message_id__in=ids).values_list("ticket_id", flat=True).first()
        if ticket_id:
            return Ticket.objects.get(pk=ticket_id)
    number = ticket_number_from_subject(parsed.subject)
    if number is not None:
        ticket = Ticket.objects.filter(number=number).select_related("contact").first()
        # Ticket numbers are sequential: a bare "[#N]" from a stranger must not let them read or
        # steer someone else's ticket (the next answer goes to the last writer).
        if ticket is not None and _is_participant(ticket, parsed.from_address):
            return ticket
    return None


def _is_participant(ticket: Ticket, address: str) -> bool:
    if not address:
        return False
    if address in (ticket.email.lower(), (ticket.contact.email if ticket.contact_id else "").lower()):
        return True
    return ticket.messages.filter(direction=Message.Direction.INBOUND, from_address=address).exists()


def _thread(message: Message, parsed: ParsedMail) -> tuple[Ticket | None, bool]:
    ticket = _find_ticket(parsed)
    if ticket is not None:
        return ticket, False
    contact = None
    if parsed.from_address and not parsed.is_auto:
        contact = _contact_for(parsed)
    now = timezone.now()
    ticket = Ticket.objects.create(
        subject=normalize_subject(parsed.subject)[:998] or "(без темы)",
        contact=contact,
        email=parsed.from_address if "@" in parsed.from_address else "",
        full_name=parsed.from_name,
        is_auto=parsed.is_auto,
        # Automatic mail that continues nothing is kept for the record but needs no work.
        status=Ticket.Status.CLOSED if parsed.is_auto else Ticket.Status.NEW,
        closed_at=now if parsed.is_auto else None,
    )
    return ticket, True


def _contact_for(parsed: ParsedMail) -> Contact:
    contact, created = Contact.objects.get_or_create(
        email=parsed.from_address, defaults={"name": parsed.from_name}
    )
    if not created and parsed.from_name and not contact.name:
        contact.name = parsed.from_name
        contact.save(update_fields=["name", "updated_at"])
    return contact


def _reopen(ticket: Ticket) -> None:
    """A customer's new mail on an existing ticket brings it back to staff."""
    if ticket.status in (Ticket.Status.ANSWERED, Ticket.Status.CLOSED, Ticket.Status.DRAFT_READY):
        ticket.status = Ticket.Status.CUSTOMER_REPLIED
        ticket.closed_at = None
        ticket.save(update_fields=["status", "closed_at", "updated_at"])


def _save_attachments(message: Message, parsed: ParsedMail) -> None:
    import hashlib

    rows = []
    for item in parsed.attachments:
        digest = hashlib.sha256(item.payload).hexdigest()
        attachment = Attachment(
            message=message,
            filename=item.filename,
            content_type=item.content_type,
            size=len(item.payload),
            sha256=digest,
            is_inline=item.is_inline,
            content_id=item.content_id,
        )
        attachment.file.save(_storage_name(item.filename), ContentFile(item.payload), save=False)
        rows.append(attachment)
    if rows:
        Attachment.objects.bulk_create(rows)


def _storage_name(filename: str) -> str:
    from django.utils.text import get_valid_filename

    try:
        name = get_valid_filename(filename)
    except Exception:  # noqa: BLE001 - SuspiciousFileOperation for names like ".."
        name = ""
    return name[-120:] or "attachment.bin"
