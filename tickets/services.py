"""Ticket workflows. API views, admin actions, the Telegram bot and jobs call these."""

from __future__ import annotations

import hashlib
import logging
import smtplib
import socket
from dataclasses import dataclass
from email.utils import formataddr, make_msgid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.html import escape, linebreaks

from tickets.ingest.mime import normalized_sha256
from tickets.ingest.threading import normalize_subject
from tickets.models import Message, OutboundEmail, Ticket

logger = logging.getLogger(__name__)

ACTIVE_REPLY_STATUSES = (OutboundEmail.Status.QUEUED, OutboundEmail.Status.SENDING, OutboundEmail.Status.SENT)


class ReplyError(Exception):
    """A reply that cannot be requested; ``str()`` is the operator-facing (Russian) reason."""


class ReplyConflict(ReplyError):
    """A reply is already queued, being sent, or sent; ``existing`` is that reply."""

    def __init__(self, message: str, existing: OutboundEmail):
        super().__init__(message)
        self.existing = existing


@dataclass
class ReplyRequest:
    outbound: OutboundEmail
    job_id: str | None


# --- assignment, closing, drafts ---------------------------------------------------------------

def ticket_assign(ticket_id: int, user) -> Ticket:
    """Assign the ticket to ``user`` (None unassigns). Returns the updated ticket."""
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        ticket.assignee = user
        ticket.save(update_fields=["assignee", "updated_at"])
    return ticket


def ticket_close(ticket_id: int) -> Ticket:
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        if ticket.status != Ticket.Status.CLOSED:
            ticket.status = Ticket.Status.CLOSED
            ticket.closed_at = timezone.now()
            ticket.save(update_fields=["status", "closed_at", "updated_at"])
    return ticket


def ticket_regenerate_draft(ticket_id: int) -> str | None:
    """Staff asked for a new draft: queue one that may replace their edits (after commit).
    Returns the job id, or None when called inside a transaction."""
    from tickets.jobs import enqueue_draft

    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(lambda: enqueue_draft(ticket_id, force=True))
        return None
    return enqueue_draft(ticket_id, force=True)


# --- requesting a reply ----------------------------------------------------------------------

def draft_fingerprint(text: str) -> str:
    """A short hash of a draft: a confirmation step (Telegram) sends only the text it showed."""
    return hashlib.sha256((text or "").strip().encode("utf-8")).hexdigest()[:12]


def reply_conflict(ticket: Ticket, last_inbound: Message | None) -> OutboundEmail | None:
    """The reply that makes a new one a duplicate: one queued or being sent, or one sent after
    the customer's latest mail. A customer's follow-up deserves a new answer."""
    existing = ticket.outbound_emails.filter(status__in=ACTIVE_REPLY_STATUSES).order_by("-created_at").first()
    if (existing is not None and existing.status == OutboundEmail.Status.SENT and last_inbound is not None
            and existing.created_at < last_inbound.received_at):
        return None
    return existing


def reply_request(ticket_id: int, *, user=None, text: str | None = None, resend: bool = False,
                  expected_fingerprint: str | None = None) -> ReplyRequest:
    """Validate, mark the ticket processed, queue one OutboundEmail; the job is enqueued after commit.

    ``text`` (staff edits) replaces ``llm_response`` first. A second request while a reply is
    queued or being sent, or after one was sent and the customer has not written since, raises
    :class:`ReplyConflict` unless ``resend`` is true. ``expected_fingerprint`` (see
    :func:`draft_fingerprint`) refuses to send a draft that changed since it was shown.
    """
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().get(pk=ticket_id)
        if text is not None:
            ticket.llm_response = text
        if expected_fingerprint is not None and draft_fingerprint(ticket.llm_response) != expected_fingerprint:
            raise ReplyError("Черновик изменился после того, как его показали: откройте заявку и проверьте текст заново.")
        body = (ticket.llm_response or "").strip()
        if not body:
            raise ReplyError("Текст ответа пуст: заполните черновик (llm_response) перед отправкой.")
        if ticket.is_auto:
            raise ReplyError("Заявка создана автоматическим письмом (автоответ, уведомление о доставке): ответ не отправляется.")
        last_inbound = (
            # Not a bounce or an out-of-office reply: the answer goes to the customer.
            ticket.messages.filter(direction=Message.Direction.INBOUND, parse_status=Message.ParseStatus.PARSED,
                                   is_auto=False)
            .defer("raw", "body_html").order_by("-received_at", "-id").first()
        )
        to_address = _customer_address(ticket, last_inbound)
        existing = reply_conflict(ticket, last_inbound)
        if existing and existing.status != OutboundEmail.Status.SENT:  # resend never doubles a pending reply
            raise ReplyConflict(f"Ответ по заявке #{ticket.number} уже в очереди на отправку.", existing)
        if existing and not resend:
            label = existing.get_status_display().lower()
            raise ReplyConflict(f"Ответ по заявке #{ticket.number} уже есть (статус: {label}). "
                                "Для повторной отправки укажите resend.", existing)

        ticket.processed = True
        ticket.status = Ticket.Status.REPLY_QUEUED
        ticket.save(update_fields=["llm_response", "processed", "status", "updated_at"])
        references = (last_inbound.references.split() if last_inbound else []) + (
            [last_inbound.message_id] if last_inbound else [])
        outbound = OutboundEmail.objects.create(
            ticket=ticket,
            to_address=to_address,
            subject=reply_subject(ticket),
            body=body,
            message_id=make_msgid(domain=settings.SUPPORT_EMAIL.rpartition("@")[2] or "enigma.local"),
            in_reply_to=last_inbound.message_id if last_inbound else "",
            references=" ".join(dict.fromkeys(references)),
            requested_by=user if getattr(user, "pk", None) else None,
        )
        request = ReplyRequest(outbound=outbound, job_id=None)
        transaction.on_commit(lambda: _enqueue_send(request))
    return request


def _customer_address(ticket: Ticket, last_inbound: Message | None) -> str:
    """Where the answer goes: the customer's Reply-To, else their From, else the ticket's e-mail."""
    candidates = [
        last_inbound.reply_to if last_inbound else "",
        last_inbound.from_address if last_inbound else "",
        ticket.email,
        ticket.contact.email if ticket.contact_id else "",
    ]
    address = next((c.strip() for c in candidates if c and c.strip()), "")
    if not address:
        raise ReplyError("У заявки нет адреса клиента: ответ некуда отправить.")
    try:
        validate_email(address)
    except ValidationError:
        raise ReplyError(f"Адрес клиента «{address}» некорректен: ответ не отправлен.") from None
    return address


def reply_subject(ticket: Ticket) -> str:
    return f"Re: {ticket.tag} {normalize_subject(ticket.subject) or 'Ваше обращение'}"[:998]


def _enqueue_send(request: ReplyRequest) -> None:
    import django_rq
    from redis.exceptions import RedisError
    from rq import Retry

    from tickets.jobs import send_reply

    outbound = request.outbound
    intervals = settings.REPLY_RETRY_INTERVALS
    retries = max(settings.REPLY_MAX_ATTEMPTS - 1, 0)
    try:
        job = django_rq.get_queue("default").enqueue(
            send_reply, outbound.pk, retry=Retry(max=retries, interval=intervals) if retries else None,
        )
    except (RedisError, OSError) as exc:
        logger.error("could not queue reply %s: %s", outbound.pk, exc)
        OutboundEmail.objects.filter(pk=outbound.pk).update(last_error=f"Очередь отправки недоступна: {exc}")
        return
    request.job_id = job.id
    OutboundEmail.objects.filter(pk=outbound.pk).update(job_id=job.id)


def requeue_stuck_replies(older_than_s: int = 300) -> int:
    """Queue again replies left "queued" without a live job (Redis was down when staff pressed
    «Отправить», or Redis lost its data). Called by ``poll_mailbox`` on every cycle."""
    from datetime import timedelta

    from rq.job import Job

    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    stuck = list(OutboundEmail.objects.filter(status=OutboundEmail.Status.QUEUED, created_at__lt=cutoff)[:200])
    if not stuck:
        return 0
    import django_rq

    connection = django_rq.get_queue("default").connection
    jobs = Job.fetch_many([o.job_id or f"missing-{o.pk}" for o in stuck], connection=connection)
    lost = [o for o, job in zip(stuck, jobs, strict=True) if job is None or job.get_status() in ("failed", "stopped", "canceled")]
    for outbound in lost:
        logger.warning("re-queueing reply %s (no live job)", outbound.pk)
        _enqueue_send(ReplyRequest(outbound=outbound, job_id=None))
    return len(lost)


# --- sending -----------------------------------------------------------------------------------

class TransientSendError(Exception):
    """SMTP trouble worth retrying (connection refused, timeout, 4xx)."""


def reply_send(outbound_id: int, *, last_attempt: bool) -> str:
    """Send one OutboundEmail over SMTP, exactly once. Returns the resulting status.

    Raises :class:`TransientSendError` when the caller should retry (and ``last_attempt``
    is false); permanent failures and the last transient one mark the reply failed.
    """
    with transaction.atomic():
        outbound = OutboundEmail.objects.select_for_update().select_related("ticket").get(pk=outbound_id)
        if outbound.status == OutboundEmail.Status.SENT:
            return outbound.status
        if outbound.status == OutboundEmail.Status.SENDING:
            # A previous attempt died mid-send: it may have reached the server. Never guess.
            _mark_failed(outbound, "Отправка была прервана (сбой обработчика); возможно, письмо уже доставлено. "
                                   "Проверьте и при необходимости отправьте повторно.")
            return outbound.status
        if outbound.status == OutboundEmail.Status.FAILED:
            return outbound.status
        outbound.status = OutboundEmail.Status.SENDING
        outbound.attempts += 1
        outbound.save(update_fields=["status", "attempts"])

    email = build_reply_email(outbound)
    try:
        with get_connection(timeout=settings.EMAIL_TIMEOUT) as connection:
            connection.send_messages([email])
    except (smtplib.SMTPAuthenticationError, smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused) as exc:
        return _fail(outbound, f"SMTP отказал: {_smtp_error(exc)}")
    except smtplib.SMTPResponseException as exc:
        if 400 <= exc.smtp_code < 500 and not last_attempt:
            _requeue(outbound, f"Временная ошибка SMTP: {_smtp_error(exc)}")
            raise TransientSendError(str(exc)) from exc
        return _fail(outbound, f"SMTP отказал: {_smtp_error(exc)}")
    except (smtplib.SMTPException, OSError, socket.timeout) as exc:
        message = f"Нет связи с SMTP-сервером {settings.EMAIL_HOST}:{settings.EMAIL_PORT}: {exc}"
        if last_attempt:
            return _fail(outbound, message)
        _requeue(outbound, message)
        raise TransientSendError(message) from exc

    _record_sent(outbound, email)
    return OutboundEmail.Status.SENT


def build_reply_email(outbound: OutboundEmail) -> EmailMultiAlternatives:
    headers = {"Message-ID": outbound.message_id}
    if outbound.in_reply_to:
        headers["In-Reply-To"] = outbound.in_reply_to
    if outbound.references:
        headers["References"] = outbound.references
    email = EmailMultiAlternatives(
        subject=outbound.subject,
        body=outbound.body,
        from_email=formataddr((settings.SUPPORT_NAME, settings.SUPPORT_EMAIL)),  # quotes names with commas
        to=[outbound.to_address],
        headers=headers,
    )
    email.encoding = "utf-8"
    email.attach_alternative(
        f'<html><body style="font-family:Arial,sans-serif;font-size:14px">{linebreaks(escape(outbound.body))}</body></html>',
        "text/html",
    )
    return email


def _smtp_error(exc: Exception) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{rcpt}: {code} {msg.decode('utf-8', 'replace')}" for rcpt, (code, msg) in exc.recipients.items())
    return str(exc)


def _requeue(outbound: OutboundEmail, error: str) -> None:
    OutboundEmail.objects.filter(pk=outbound.pk).update(status=OutboundEmail.Status.QUEUED, last_error=error)


def _fail(outbound: OutboundEmail, error: str) -> str:
    with transaction.atomic():
        outbound = OutboundEmail.objects.select_for_update().select_related("ticket").get(pk=outbound.pk)
        _mark_failed(outbound, error)
    return OutboundEmail.Status.FAILED


def _mark_failed(outbound: OutboundEmail, error: str) -> None:
    """Inside a transaction holding the row lock."""
    outbound.status = OutboundEmail.Status.FAILED
    outbound.last_error = error
    outbound.save(update_fields=["status", "last_error"])
    ticket = outbound.ticket
    # Back to "draft ready" so staff see it needs them (unless the customer wrote meanwhile or
    # staff closed it); processed stays true.
    ticket.status = _status_after_reply(ticket, outbound, Ticket.Status.DRAFT_READY)
    ticket.processing_error = f"Ответ не отправлен: {error}"
    ticket.save(update_fields=["status", "processing_error", "updated_at"])
    logger.warning("reply %s for ticket #%s failed: %s", outbound.pk, ticket.number, error)
    from notifications.events import publish_ticket_event

    publish_ticket_event("ticket.reply_failed", ticket)


def _status_after_reply(ticket: Ticket, outbound: OutboundEmail, status: str) -> str:
    """The ticket's status once a reply is settled: ``status``, unless staff closed the ticket or
    the customer wrote again while the reply waited (their mail must not hide behind "answered")."""
    if ticket.status == Ticket.Status.CLOSED:
        return ticket.status
    newer = ticket.messages.filter(direction=Message.Direction.INBOUND, is_auto=False,
                                   received_at__gt=outbound.created_at).exists()
    return Ticket.Status.CUSTOMER_REPLIED if newer else status


def _record_sent(outbound: OutboundEmail, email: EmailMultiAlternatives) -> None:
    now = timezone.now()
    with transaction.atomic():
        outbound = OutboundEmail.objects.select_for_update().select_related("ticket").get(pk=outbound.pk)
        outbound.status = OutboundEmail.Status.SENT
        outbound.sent_at = now
        outbound.last_error = ""
        outbound.save(update_fields=["status", "sent_at", "last_error"])
        raw = email.message().as_bytes()
        Message.objects.get_or_create(
            message_id=outbound.message_id,
            defaults=dict(
                ticket=outbound.ticket, direction=Message.Direction.OUTBOUND, in_reply_to=outbound.in_reply_to,
                references=outbound.references, from_address=settings.SUPPORT_EMAIL, from_name=settings.SUPPORT_NAME,
                to=outbound.to_address, subject=outbound.subject, sent_at=now, body_text=outbound.body, raw=raw,
                raw_sha256=normalized_sha256(raw), size=len(raw),
                parse_status=Message.ParseStatus.PARSED, source=Message.Source.SMTP,
            ),
        )
        ticket = outbound.ticket
        ticket.status = _status_after_reply(ticket, outbound, Ticket.Status.ANSWERED)
        ticket.processing_error = ""
        fields = ["status", "processing_error", "updated_at"]
        if ticket.first_response_at is None:
            ticket.first_response_at = now
            fields.append("first_response_at")
        ticket.save(update_fields=fields)
        from notifications.events import publish_ticket_event

        publish_ticket_event("ticket.reply_sent", ticket)
