"""Ticket events: one builder for their shape, one publisher (Redis pub/sub + Channels group).

Events are fire-and-forget fan-out for live views and the Telegram bot; anything that must
happen goes through the database and RQ. Personal data stays out unless
``EVENTS_INCLUDE_PERSONAL_DATA`` is set (the summary is sent masked). Redis being down never
breaks saving a ticket: the failure is logged and counted in ``failed_publishes``.

Several publishes for one ticket inside one transaction are coalesced into one event after
commit: e.g. the reply service saves the ticket (the post-save signal asks for
``ticket.updated``) and then asks for ``ticket.reply_sent``; subscribers see only the latter.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import threading

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.urls import reverse
from django.utils import timezone

logger = logging.getLogger(__name__)

TICKET_CREATED = "ticket.created"
TICKET_DRAFT_READY = "ticket.draft_ready"
TICKET_UPDATED = "ticket.updated"
TICKET_REPLY_SENT = "ticket.reply_sent"
TICKET_REPLY_FAILED = "ticket.reply_failed"
EVENT_TYPES = (TICKET_CREATED, TICKET_DRAFT_READY, TICKET_UPDATED, TICKET_REPLY_SENT, TICKET_REPLY_FAILED)
# When one transaction asks for several events on one ticket, the strongest one is published.
_PRECEDENCE = {TICKET_UPDATED: 0, TICKET_DRAFT_READY: 1, TICKET_CREATED: 2, TICKET_REPLY_SENT: 3, TICKET_REPLY_FAILED: 3}

TICKETS_GROUP = "tickets"
failed_publishes = 0  # exported in /metrics by the ops issue
published_events = 0


def build_ticket_event(event: str, ticket) -> dict:
    """The one place that shapes an event (DESIGN.md: "Events on Redis channel")."""
    if event not in EVENT_TYPES:
        raise ValueError(f"unknown event {event!r}")
    payload = {
        "event": event,
        "ticket_id": ticket.pk,
        "number": ticket.number,
        "status": ticket.status,
        "sentiment": ticket.sentiment,
        "priority": ticket.priority,
        "device_type": ticket.device_type,
        "summary": masked_summary(ticket),
        "assignee_id": ticket.assignee_id,
        "admin_url": admin_url(ticket.pk),
        "at": timezone.now().isoformat(),
    }
    if settings.EVENTS_INCLUDE_PERSONAL_DATA:
        payload.update(full_name=ticket.full_name, email=ticket.email, phone=ticket.phone, company=ticket.company)
    return payload


def admin_url(ticket_id: int) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("admin:tickets_ticket_change", args=[ticket_id])


# --- masking -----------------------------------------------------------------------------------

def masked_summary(ticket) -> str:
    """The summary as it may leave the database (events, Telegram).

    The nlp app builds the summary from already masked text; this is a second, cheap net for
    summaries written by other paths: the ticket's own extracted name, phone, e-mail and
    company are replaced wherever they occur, then the nlp rule-based masker (phones, INN,
    SNILS, passports, addresses) runs with the device serial protected.
    """
    summary = ticket.summary or ""
    if not summary or settings.EVENTS_INCLUDE_PERSONAL_DATA:
        return summary
    return mask_known_pii(summary, full_name=ticket.full_name, phone=ticket.phone, email=ticket.email,
                          company=ticket.company, serial=ticket.device_serial)


def mask_known_pii(text: str, *, full_name="", phone="", email="", company="", serial="") -> str:
    # The same scrubber as the AI prompt: every inflected form of the name ("Петрову"), any
    # phone or e-mail; then the company, then the nlp masker (INN, SNILS, addresses, ...).
    from knowledge.privacy import scrub

    text = scrub(text, names=tuple(n for n in (full_name,) if n), phones=tuple(p for p in (phone,) if p),
                 emails=tuple(e for e in (email,) if e), keep=tuple(k for k in (serial,) if k)).text
    if company and len(company) >= 3:
        text = re.sub(re.escape(company), "[ОРГАНИЗАЦИЯ]", text, flags=re.IGNORECASE)
    try:
        from nlp.masking import mask
        from nlp.results import Span
    except ImportError:  # pragma: no cover - the nlp app is part of the project
        return text
    protected = []
    if serial:
        protected = [Span(m.start(), m.end(), "serial", serial) for m in re.finditer(re.escape(serial), text)]
    try:
        return mask(text, [], protected)
    except Exception:  # a masking bug must not leak text: drop the summary instead
        logger.exception("masking the summary failed")
        return ""


# --- publishing --------------------------------------------------------------------------------

class _PendingEvent:
    """An ``on_commit`` callback that publishes one ticket's coalesced event."""

    __slots__ = ("payload", "ticket_id")

    def __init__(self, payload: dict):
        self.ticket_id = payload["ticket_id"]
        self.payload = payload

    def merge(self, payload: dict) -> None:
        # Fields from the latest call (the freshest state), the event name by precedence.
        event = max(self.payload["event"], payload["event"], key=_PRECEDENCE.__getitem__)
        self.payload = {**payload, "event": event}

    def __call__(self) -> None:
        publish(self.payload)


def publish_ticket_event(event: str, ticket, using: str = DEFAULT_DB_ALIAS) -> None:
    """Publish after the current transaction commits (at once outside a transaction)."""
    payload = build_ticket_event(event, ticket)
    connection = connections[using]
    if connection.in_atomic_block:
        for entry in connection.run_on_commit:
            func = entry[1]
            if isinstance(func, _PendingEvent) and func.ticket_id == payload["ticket_id"]:
                func.merge(payload)
                return
    transaction.on_commit(_PendingEvent(payload), using=using)


@functools.lru_cache(maxsize=4)
def _redis(url: str):
    import redis

    # Short timeouts: publishing runs after commit inside a request or a job and must not hang it.
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2, health_check_interval=30)


_thread_state = threading.local()


def _run_coroutine(coro):
    """Run ``coro`` to completion from sync code on this thread's persistent event loop.

    ``async_to_sync`` builds a new loop (and thread) per call, ~3 ms each — most of an event's
    cost on the ingestion path. A loop kept per thread (and per process: a forked RQ child
    never reuses its parent's) also keeps channels_redis's connection pool warm.
    """
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is not None:  # sync code called straight from a coroutine: don't block its loop
        return running.create_task(coro)
    state = getattr(_thread_state, "loop", None)
    if state is None or state[0] != os.getpid() or state[1].is_closed():
        state = _thread_state.loop = (os.getpid(), asyncio.new_event_loop())
    return state[1].run_until_complete(coro)


def publish(payload: dict) -> bool:
    """Send one event to Redis pub/sub and the Channels group. Never raises."""
    global failed_publishes, published_events
    try:
        _redis(settings.REDIS_URL).publish(settings.EVENTS_CHANNEL, json.dumps(payload, ensure_ascii=False))
    except Exception as exc:  # noqa: BLE001 - Redis down must not break the caller
        failed_publishes += 1
        logger.error("could not publish %s for ticket %s: %s", payload.get("event"), payload.get("ticket_id"), exc)
        return False
    published_events += 1
    try:
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is not None:
            _run_coroutine(layer.group_send(TICKETS_GROUP, {"type": "ticket.event", "event": payload}))
    except Exception as exc:  # noqa: BLE001 - websockets are best effort
        logger.warning("could not forward %s to websockets: %s", payload.get("event"), exc)
    return True
