"""Ticket processing after ingestion (NLP, then the AI draft).

Called by the RQ job ``tickets.jobs.process_ticket``; never by ingestion directly,
so receiving mail never waits for models or the AI.
"""

import logging
import time

from django.db import transaction

from tickets.models import Message, ProcessingRun, Ticket

logger = logging.getLogger(__name__)


def ticket_process(ticket_id: int) -> None:
    started = time.perf_counter()
    with transaction.atomic():
        ticket = Ticket.objects.select_for_update().filter(pk=ticket_id).first()
        if ticket is None:
            logger.warning("ticket %s vanished before processing", ticket_id)
            return
        last = ticket.messages.filter(direction=Message.Direction.INBOUND).order_by("-received_at").first()
        ticket.processing_error = ""
        ticket.save(update_fields=["processing_error", "updated_at"])
        ProcessingRun.objects.create(
            ticket=ticket,
            stage="intake",
            backend="none",
            latency_ms=(time.perf_counter() - started) * 1000,
            result={"message_id": last.message_id if last else None, "chars": len(last.body_text) if last else 0},
        )
