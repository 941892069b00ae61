"""Ticket events: one builder for their shape, one publisher (Redis pub/sub + Channels group).

Events are fire-and-forget fan-out for live views and the Telegram bot; anything that must
happen goes through the database and RQ. Personal data stays out unless
``EVENTS_INCLUDE_PERSONAL_DATA`` is set. Redis being down never breaks saving a ticket.
"""

from __future__ import annotations

import json
import logging

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

logger = logging.getLogger(__name__)

EVENT_TYPES = ("ticket.created", "ticket.draft_ready", "ticket.updated", "ticket.reply_sent", "ticket.reply_failed")
failed_publishes = 0  # exported in /metrics by the ops issue


def build_ticket_event(event: str, ticket) -> dict:
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
        "summary": _masked_summary(ticket),
        "assignee_id": ticket.assignee_id,
        "admin_url": settings.SITE_URL.rstrip("/") + reverse("admin:tickets_ticket_change", args=[ticket.pk]),
        "at": timezone.now().isoformat(),
    }
    if settings.EVENTS_INCLUDE_PERSONAL_DATA:
        payload.update(full_name=ticket.full_name, email=ticket.email, phone=ticket.phone, company=ticket.company)
    return payload


def _masked_summary(ticket) -> str:
    """The summary may quote the customer's name or phone: it leaves only when allowed."""
    return ticket.summary if settings.EVENTS_INCLUDE_PERSONAL_DATA else ""


def publish_ticket_event(event: str, ticket) -> None:
    """Publish after the current transaction commits (at once outside a transaction)."""
    payload = build_ticket_event(event, ticket)
    transaction.on_commit(lambda: publish(payload))


def publish(payload: dict) -> bool:
    global failed_publishes
    try:
        import django_rq

        django_rq.get_connection("default").publish(settings.EVENTS_CHANNEL, json.dumps(payload, ensure_ascii=False))
    except Exception as exc:  # noqa: BLE001 - Redis down must not break the caller
        failed_publishes += 1
        logger.error("could not publish %s for ticket %s: %s", payload.get("event"), payload.get("ticket_id"), exc)
        return False
    try:
        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        layer = get_channel_layer()
        if layer is not None:
            async_to_sync(layer.group_send)("tickets", {"type": "ticket.event", "event": payload})
    except Exception as exc:  # noqa: BLE001
        logger.warning("could not forward %s to websockets: %s", payload.get("event"), exc)
    return True
