"""RQ jobs. They receive ids, not objects, and only call services."""

import logging

import django_rq
from django.conf import settings
from redis.exceptions import RedisError
from rq import Retry
from rq.job import Job

from tickets.models import Ticket

logger = logging.getLogger(__name__)

NLP_QUEUE = "nlp"


def process_ticket(ticket_id: int) -> None:
    from tickets.processing import ticket_process

    ticket_process(ticket_id)


def send_reply(outbound_id: int) -> str:
    """Send one approved reply. RQ retries transient SMTP failures (Retry set at enqueue);
    the service marks the reply failed on the last attempt or a permanent error."""
    from rq import get_current_job

    from tickets.services import reply_send

    job = get_current_job()
    return reply_send(outbound_id, last_attempt=job is None or not job.retries_left)


def enqueue_processing(ticket_id: int) -> str | None:
    """Queue a ticket for NLP/AI processing. Redis being down must not lose the ticket:
    the error is written on the ticket (staff see it) and ``poll_mailbox`` re-queues it."""
    try:
        job = django_rq.get_queue(NLP_QUEUE).enqueue(process_ticket, ticket_id, job_timeout=600)
    except (RedisError, OSError) as exc:
        logger.error("could not queue ticket %s for processing: %s", ticket_id, exc)
        Ticket.objects.filter(pk=ticket_id).update(processing_error=f"Очередь обработки недоступна: {exc}")
        return None
    return job.id


def enqueue_processing_many(ticket_ids: list[int]) -> None:
    """Queue many tickets in one Redis round trip (the poller's batches)."""
    queue = django_rq.get_queue(NLP_QUEUE)
    try:
        queue.enqueue_many([queue.prepare_data(process_ticket, (ticket_id,), timeout=600) for ticket_id in ticket_ids])
    except (RedisError, OSError) as exc:
        logger.error("could not queue %s tickets for processing: %s", len(ticket_ids), exc)
        Ticket.objects.filter(pk__in=ticket_ids).update(processing_error=f"Очередь обработки недоступна: {exc}")


def requeue_stale(older_than_s: int = 600, limit: int = 500) -> int:
    """Queue again the tickets whose processing never started (Redis was down when they
    arrived, or the job was lost): still "new", older than the grace period, no run yet.
    Called by ``poll_mailbox`` on every cycle; safe to repeat."""
    from datetime import timedelta

    from django.utils import timezone

    cutoff = timezone.now() - timedelta(seconds=older_than_s)
    stale = list(
        Ticket.objects.filter(status=Ticket.Status.NEW, is_auto=False, created_at__lt=cutoff,
                              processing_runs__isnull=True)
        .order_by("created_at").values_list("pk", flat=True)[:limit]
    )
    if not stale:
        return 0
    queue = django_rq.get_queue(NLP_QUEUE)
    # Deterministic ids: a ticket whose re-queued job still waits (the worker is down) is not
    # queued again on every poll cycle.
    waiting = {"queued", "started", "deferred", "scheduled"}
    jobs = Job.fetch_many([f"process-{pk}" for pk in stale], connection=queue.connection)
    todo = [pk for pk, job in zip(stale, jobs, strict=True) if job is None or job.get_status() not in waiting]
    if todo:
        logger.warning("re-queueing %s tickets whose processing never started", len(todo))
        queue.enqueue_many([queue.prepare_data(process_ticket, (pk,), timeout=600, job_id=f"process-{pk}")
                            for pk in todo])
    return len(todo)


def draft_ticket(ticket_id: int, force: bool = False) -> None:
    from knowledge.drafting import ticket_draft

    ticket_draft(ticket_id, force=force)


def enqueue_draft(ticket_id: int, *, force: bool = False) -> str | None:
    """Queue the AI draft for a ticket (after NLP); failures are written on the ticket."""
    try:
        # The AI may be down or slow: ticket_draft records the failure and re-raises to retry.
        job = django_rq.get_queue(NLP_QUEUE).enqueue(
            draft_ticket, ticket_id, force, job_timeout=600,
            retry=Retry(max=len(settings.DRAFT_RETRY_INTERVALS), interval=settings.DRAFT_RETRY_INTERVALS),
        )
    except (RedisError, OSError) as exc:
        logger.error("could not queue draft for ticket %s: %s", ticket_id, exc)
        Ticket.objects.filter(pk=ticket_id).update(processing_error=f"Очередь черновиков недоступна: {exc}")
        return None
    return job.id
