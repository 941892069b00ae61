"""Post-save events: what is published, when (after commit), once, without personal data."""

import pytest
from django.db import transaction

from notifications import events
from notifications.tests.conftest import make_staff, make_ticket
from tickets.models import Ticket

pytestmark = pytest.mark.django_db(transaction=True)

PII_SUMMARY = "Петров Сергей Иванович (ООО «Теплосеть») просит перезвонить на +7 912 345-67-89 или petrov@teploset.ru."


def names(collected):
    return [e["event"] for e in collected]


def test_created_is_published_after_commit_with_the_documented_shape(subscriber):
    with transaction.atomic():
        ticket = make_ticket()
        assert subscriber(wait=0.1) == []  # nothing before commit
    [event] = subscriber()
    assert event["event"] == "ticket.created"
    assert {"event", "ticket_id", "number", "status", "sentiment", "device_type", "summary", "at"} <= set(event)
    assert event["ticket_id"] == ticket.pk and event["number"] == ticket.number and event["status"] == "new"
    assert event["admin_url"].endswith(f"/admin/tickets/ticket/{ticket.pk}/change/")


def test_rolled_back_changes_publish_nothing(subscriber):
    with pytest.raises(RuntimeError), transaction.atomic():
        make_ticket()
        raise RuntimeError
    assert subscriber(wait=0.2) == []


def test_only_meaningful_changes_publish(subscriber):
    user = make_staff()
    ticket = make_ticket()
    assert names(subscriber()) == ["ticket.created"]

    ticket.llm_response = "черновик правится"
    ticket.save(update_fields=["llm_response", "updated_at"])  # an edit: no event
    ticket.save()  # a full save without changes: no event
    ticket = Ticket.objects.get(pk=ticket.pk)
    ticket.summary = "другое"
    ticket.save()
    assert subscriber(wait=0.2) == []

    ticket.status = Ticket.Status.PROCESSING
    ticket.save(update_fields=["status"])
    ticket.status = Ticket.Status.DRAFT_READY
    ticket.save(update_fields=["status"])
    from tickets.services import ticket_assign, ticket_close

    ticket_assign(ticket.pk, user)
    ticket_assign(ticket.pk, user)  # unchanged: nothing
    ticket_close(ticket.pk)
    collected = subscriber()
    assert names(collected) == ["ticket.updated", "ticket.draft_ready", "ticket.updated", "ticket.updated"]
    assert collected[2]["assignee_id"] == user.pk and collected[3]["status"] == "closed"


def test_several_changes_in_one_transaction_make_one_event(subscriber):
    ticket = make_ticket()
    subscriber()
    with transaction.atomic():
        t = Ticket.objects.select_for_update().get(pk=ticket.pk)
        t.status = Ticket.Status.PROCESSING
        t.save(update_fields=["status"])
        t.status = Ticket.Status.DRAFT_READY
        t.save(update_fields=["status"])
    [event] = subscriber()
    assert event["event"] == "ticket.draft_ready" and event["status"] == "draft_ready"


def test_reply_sent_is_published_once_not_as_a_status_change_too(subscriber, run_jobs, smtp_server):
    from tickets.services import reply_request

    ticket = make_ticket(llm_response="Здравствуйте! Ответ.", status=Ticket.Status.DRAFT_READY)
    subscriber()
    reply_request(ticket.pk, user=None)
    assert names(subscriber()) == ["ticket.updated"]  # reply queued
    run_jobs("default")
    collected = subscriber()
    assert names(collected) == ["ticket.reply_sent"] and collected[0]["status"] == "answered"


def test_reply_failed_is_published_once(subscriber, run_jobs, smtp_server_auth_fails):
    from tickets.services import reply_request

    ticket = make_ticket(llm_response="Здравствуйте! Ответ.", status=Ticket.Status.DRAFT_READY)
    reply_request(ticket.pk, user=None)
    subscriber()
    run_jobs("default")
    collected = subscriber()
    assert names(collected) == ["ticket.reply_failed"] and collected[0]["status"] == "draft_ready"


def test_no_personal_data_by_default_and_the_summary_is_masked(subscriber):
    make_ticket(summary=PII_SUMMARY, full_name="Петров Сергей Иванович", phone="+7 912 345-67-89",
                email="petrov@teploset.ru", company="ООО «Теплосеть»", device_serial="SN-1234567890")
    [event] = subscriber()
    text = str(event)
    for leak in ("Петров", "Сергей", "345-67-89", "petrov@", "Теплосеть"):
        assert leak not in text, leak
    assert not {"full_name", "email", "phone", "company"} & set(event)
    assert "[ТЕЛЕФОН]" in event["summary"] and "[EMAIL]" in event["summary"] and "[ФИО]" in event["summary"]
    assert "перезвонить" in event["summary"]


def test_masking_keeps_the_device_serial():
    text = events.mask_known_pii("Газоанализатор зав. № 4001234567 не включается, звоните 8 (912) 345-67-89",
                                 serial="4001234567")
    assert "4001234567" in text and "345-67-89" not in text


def test_personal_data_when_allowed(subscriber, settings):
    settings.EVENTS_INCLUDE_PERSONAL_DATA = True
    make_ticket(summary=PII_SUMMARY, full_name="Петров Сергей Иванович", email="petrov@teploset.ru")
    [event] = subscriber()
    assert event["summary"] == PII_SUMMARY and event["full_name"] == "Петров Сергей Иванович"


def test_redis_down_does_not_break_saving_a_ticket(settings, events_channel, caplog):
    from conftest import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    before = events.failed_publishes
    with transaction.atomic():
        ticket = make_ticket()
    ticket.status = Ticket.Status.PROCESSING
    ticket.save(update_fields=["status"])
    assert Ticket.objects.get(pk=ticket.pk).status == Ticket.Status.PROCESSING
    assert events.failed_publishes == before + 2
    assert "could not publish ticket.created" in caplog.text


def test_unknown_event_is_refused():
    with pytest.raises(ValueError):
        events.build_ticket_event("ticket.exploded", Ticket(pk=1, number=1))


def test_masking_catches_inflected_names():
    text = events.mask_known_pii("Просьба перезвонить Петрову Сергею, он ждёт с утра", full_name="Петров Сергей Иванович")
    assert "Петров" not in text and "Серге" not in text and "перезвонить" in text
