"""Post-save on Ticket → one event after commit, only for changes staff care about.

Previous values come from ``post_init``: the status and assignee a Ticket instance was loaded
(or built) with are read from its ``__dict__`` (no query, deferred fields stay deferred) and
refreshed after every save. No extra SELECT per save, unlike a ``pre_save`` lookup.

Published: ``ticket.created``; ``ticket.draft_ready`` when the status becomes "draft ready";
``ticket.updated`` on any other status or assignee change. Reply sent/failed are published by
``tickets.services`` inside the same transaction; ``events.publish_ticket_event`` coalesces
them with the status change, so subscribers get one event, not two.
"""

from __future__ import annotations

from notifications import events

_INITIAL = "_notifications_initial"
_TRACKED = ("status", "assignee_id")


def _snapshot(instance) -> tuple:
    values = instance.__dict__
    return tuple(values.get(name, _DEFERRED) for name in _TRACKED)


class _Deferred:
    def __repr__(self):
        return "<deferred>"


_DEFERRED = _Deferred()


def remember_initial(sender, instance, **kwargs):
    instance.__dict__[_INITIAL] = _snapshot(instance)


def ticket_saved(sender, instance, created, raw=False, using=None, update_fields=None, **kwargs):
    if raw:  # loaddata
        return
    before = instance.__dict__.get(_INITIAL, (_DEFERRED,) * len(_TRACKED))
    after = _snapshot(instance)
    instance.__dict__[_INITIAL] = after
    if created:
        events.publish_ticket_event(events.TICKET_CREATED, instance, using=using)
        return
    if update_fields is not None and not set(update_fields) & {"status", "assignee"}:
        return
    status_before, assignee_before = before
    status_after, assignee_after = after
    status_changed = status_before is not _DEFERRED and status_after is not _DEFERRED and status_before != status_after
    assignee_changed = (assignee_before is not _DEFERRED and assignee_after is not _DEFERRED
                        and assignee_before != assignee_after)
    if not (status_changed or assignee_changed):
        return
    from tickets.models import Ticket

    event = events.TICKET_DRAFT_READY if status_changed and status_after == Ticket.Status.DRAFT_READY else events.TICKET_UPDATED
    events.publish_ticket_event(event, instance, using=using)


def connect() -> None:
    from django.db.models.signals import post_init, post_save

    from tickets.models import Ticket

    post_init.connect(remember_initial, sender=Ticket, dispatch_uid="notifications.ticket_initial")
    post_save.connect(ticket_saved, sender=Ticket, dispatch_uid="notifications.ticket_saved")
