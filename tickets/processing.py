"""Ticket processing after ingestion (NLP, then the AI draft).

Called by the RQ job ``tickets.jobs.process_ticket``; never by ingestion directly,
so receiving mail never waits for models or the AI.
"""

import logging
import time

from django.db import transaction

from tickets.models import Message, ProcessingRun, Ticket

logger = logging.getLogger(__name__)

NLP_STAGE = "nlp"
_STICKY_FIELDS = {"full_name", "phone", "email", "company", "device_type", "device_serial"}


def _field_values(ticket: Ticket, result: dict, sender: str) -> dict:
    """Ticket fields from an nlp result dict; values are cut to the columns' lengths."""
    ents = result["entities"]
    phones = ents.get("phones") or []
    phone = ""
    if phones:
        first = phones[0]
        phone = f"{first['number']} доб. {first['ext']}" if first.get("ext") else first["number"]
    emails = ents.get("emails") or []
    company = ents.get("company") or ""
    facility = ents.get("facility") or ""
    if facility and facility != company:
        company = f"{company}, {facility}" if company else facility
    values = {
        "full_name": ents.get("person") or "",
        "phone": phone,
        "email": emails[0] if emails else (sender or ticket.email),
        "company": company,
        "device_type": ents.get("device_type") or "",
        "device_serial": ents.get("serial") or "",
        "sentiment": result["sentiment"]["label"],
        "sentiment_score": result["sentiment"]["score"],
        "sentiment_backend": result["sentiment"]["backend"],
        "summary": result.get("summary") or "",
        "masked_text": result.get("masked_text") or "",
        "priority": result.get("priority") or Ticket.Priority.NORMAL,
        "intent": result.get("intent") or "",
        "intent_confidence": result.get("intent_confidence"),
    }
    for name, value in values.items():
        max_length = getattr(Ticket._meta.get_field(name), "max_length", None)
        if max_length and isinstance(value, str):
            values[name] = value[:max_length]
    return values


def ticket_process(ticket_id: int) -> None:
    """NLP stage: analyse the latest inbound mail, fill the ticket, record a ProcessingRun and
    queue the AI draft after commit. Bad input is recorded on the ticket, never raised."""
    from nlp.service import analyze, backend_names

    started = time.perf_counter()
    last = (Message.objects.filter(ticket_id=ticket_id, direction=Message.Direction.INBOUND)
            .only("id", "message_id", "body_text", "from_address").order_by("-received_at", "-id").first())
    # Analyse with no lock held: the models take milliseconds, and the reply service, the
    # admin and the poller must not wait on this ticket's row meanwhile.
    backend = "nlp"
    try:
        backend = backend_names()
        analysis = analyze(last.body_text if last else "", sender_email=last.from_address if last else "")
        result = analysis.to_dict()
        result["timings_ms"] = analysis.timings_ms
        failure = None
    except Exception as exc:  # a bad mail or a broken model must not kill the worker
        logger.exception("nlp failed for ticket %s", ticket_id)
        result, failure = None, exc
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
        if ticket is None:
            logger.warning("ticket %s vanished before processing", ticket_id)
            return
        if ticket.status == Ticket.Status.NEW:
            ticket.status = Ticket.Status.PROCESSING
        if failure is None:
            try:
                values = _field_values(ticket, result, last.from_address if last else "")
            except Exception as exc:  # noqa: BLE001 - an unexpected result shape is a failure too
                logger.exception("nlp result unusable for ticket %s", ticket_id)
                failure = exc
        if failure is not None:
            ticket.processing_error = f"Ошибка анализа текста: {type(failure).__name__}: {failure}"[:2000]
            ticket.save(update_fields=["status", "processing_error", "updated_at"])
            ProcessingRun.objects.create(
                ticket=ticket, stage=NLP_STAGE, backend=backend[:255], ok=False,
                latency_ms=(time.perf_counter() - started) * 1000, error=f"{type(failure).__name__}: {failure}"[:5000],
                result={"message_id": last.message_id if last else None},
            )
            return
        for name, value in values.items():
            # A short follow-up ("не помогло") names no phone or serial: keep what the thread
            # already told us. Sentiment, summary and intent describe the latest mail.
            if name in _STICKY_FIELDS and not value:
                continue
            setattr(ticket, name, value)
        ticket.processing_error = ""
        ticket.save(update_fields=[*values, "status", "processing_error", "updated_at"])
        ProcessingRun.objects.create(
            ticket=ticket, stage=NLP_STAGE, backend=backend[:255], ok=True,
            latency_ms=(time.perf_counter() - started) * 1000,
            result={"message_id": last.message_id if last else None, **result},
        )
        from tickets.jobs import enqueue_draft

        pk = ticket.pk
        transaction.on_commit(lambda: enqueue_draft(pk))
