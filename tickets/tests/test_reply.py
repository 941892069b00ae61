"""POST /api/v1/tickets/<id>/reply/ → RQ job → SMTP (aiosmtpd on loopback), exactly once."""

import json
import time

import pytest

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from tickets.ingest.store import ingest_raw
from tickets.jobs import send_reply
from tickets.models import Message, OutboundEmail, Ticket

pytestmark = pytest.mark.django_db(transaction=True)

DRAFT = "Здравствуйте, Сергей Иванович!\n\nОшибка E07 означает загрязнение сенсора. Выполните калибровку по разделу 5.\n\nС уважением, служба поддержки"


@pytest.fixture
def ticket(eml, redis_conn):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    ticket.llm_response = DRAFT
    ticket.save(update_fields=["llm_response"])
    redis_conn.flushdb()  # drop the processing job queued by ingestion
    return ticket


def reply_url(ticket_id):
    return f"/api/v1/tickets/{ticket_id}/reply/"


def test_reply_is_sent_once_with_threading_headers(api, ticket, smtp_server, run_jobs, settings):
    response = api.post(reply_url(ticket.pk), {}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "queued" and body["job_id"] and body["outbound_id"]
    ticket.refresh_from_db()
    assert ticket.processed is True and ticket.status == Ticket.Status.REPLY_QUEUED

    run_jobs("default")

    [mail] = smtp_server.messages
    outbound = OutboundEmail.objects.get(pk=body["outbound_id"])
    assert outbound.status == OutboundEmail.Status.SENT and outbound.attempts == 1
    assert mail["Message-ID"] == outbound.message_id
    assert mail["To"] == "petrov@teploset.ru"
    assert settings.SUPPORT_EMAIL in mail["From"]
    assert mail["Subject"] == f"Re: [#{ticket.number}] Ошибка E07"
    assert mail["In-Reply-To"] == "<cp1251-8bit@example.ru>"
    assert "<cp1251-8bit@example.ru>" in mail["References"]
    assert mail["Auto-Submitted"] is None
    plain = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")  # SMTP wire format
    assert plain.strip() == DRAFT
    assert "калибровку" in mail.get_body(("html",)).get_content()

    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ANSWERED and ticket.first_response_at
    stored = Message.objects.get(message_id=outbound.message_id)
    assert stored.direction == Message.Direction.OUTBOUND and stored.ticket == ticket and stored.body_text == DRAFT


def test_customer_answer_to_our_reply_joins_the_ticket(api, ticket, smtp_server, run_jobs):
    api.post(reply_url(ticket.pk), {}, format="json")
    run_jobs("default")
    ours = smtp_server.messages[0]["Message-ID"]
    answer = (f"From: petrov@teploset.ru\nTo: support@enigma.local\nSubject: Re: Re: Ошибка E07\n"
              f"Message-ID: <answer@teploset.ru>\nIn-Reply-To: {ours}\nContent-Type: text/plain; charset=utf-8\n\n"
              "Не помогло.").encode()
    result = ingest_raw(answer)
    assert result.ticket == ticket and not result.created_ticket
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CUSTOMER_REPLIED


def test_staff_text_replaces_the_draft(api, ticket, smtp_server, run_jobs):
    edited = "Исправленный ответ инженера."
    assert api.post(reply_url(ticket.pk), {"text": edited}, format="json").status_code == 202
    run_jobs("default")
    assert smtp_server.messages[0].get_body(("plain",)).get_content().strip() == edited
    ticket.refresh_from_db()
    assert ticket.llm_response == edited


def test_double_post_sends_one_mail_and_resend_sends_another(api, ticket, smtp_server, run_jobs):
    first = api.post(reply_url(ticket.pk), {}, format="json")
    second = api.post(reply_url(ticket.pk), {}, format="json")
    assert first.status_code == 202
    assert second.status_code == 409
    assert second.json()["outbound"]["id"] == first.json()["outbound_id"]
    run_jobs("default")
    assert len(smtp_server.messages) == 1
    assert api.post(reply_url(ticket.pk), {}, format="json").status_code == 409  # sent: still refused
    assert api.post(reply_url(ticket.pk), {"resend": True}, format="json").status_code == 202
    run_jobs("default")
    assert len(smtp_server.messages) == 2
    assert smtp_server.messages[0]["Message-ID"] != smtp_server.messages[1]["Message-ID"]


def test_running_the_job_again_sends_nothing(api, ticket, smtp_server, run_jobs):
    outbound_id = api.post(reply_url(ticket.pk), {}, format="json").json()["outbound_id"]
    run_jobs("default")
    assert send_reply(outbound_id) == OutboundEmail.Status.SENT
    assert len(smtp_server.messages) == 1


def test_a_reply_interrupted_mid_send_is_never_guessed_again(ticket, smtp_server):
    from tickets.services import reply_request

    outbound = reply_request(ticket.pk).outbound
    OutboundEmail.objects.filter(pk=outbound.pk).update(status=OutboundEmail.Status.SENDING)  # worker died
    assert send_reply(outbound.pk) == OutboundEmail.Status.FAILED
    assert smtp_server.messages == []
    outbound.refresh_from_db()
    assert "прервана" in outbound.last_error


def test_reply_to_header_is_respected(api, redis_conn, smtp_server, run_jobs):
    raw = ("From: Петров <petrov@teploset.ru>\nReply-To: kip@teploset.ru\nTo: support@enigma.local\n"
           "Subject: Вопрос\nMessage-ID: <rt@teploset.ru>\nContent-Type: text/plain; charset=utf-8\n\nТекст").encode()
    ticket = ingest_raw(raw).ticket
    assert api.post(reply_url(ticket.pk), {"text": "Ответ"}, format="json").status_code == 202
    run_jobs("default")
    assert smtp_server.messages[0]["To"] == "kip@teploset.ru"


def test_bad_requests_get_clear_errors(api, ticket, eml, redis_conn):
    assert api.post(reply_url(999999), {}, format="json").status_code == 404
    response = api.post(reply_url(ticket.pk), {"text": "   "}, format="json")
    assert response.status_code == 400 and "пуст" in response.json()["detail"]
    ticket.refresh_from_db()
    assert ticket.processed is False and not OutboundEmail.objects.exists()  # nothing half-done

    Ticket.objects.filter(pk=ticket.pk).update(email="not-an-address")
    Message.objects.filter(ticket=ticket).update(from_address="not-an-address")
    response = api.post(reply_url(ticket.pk), {"text": "Ответ"}, format="json")
    assert response.status_code == 400 and "некорректен" in response.json()["detail"]

    auto = ingest_raw(eml("autoreply.eml")).ticket
    response = api.post(reply_url(auto.pk), {"text": "Ответ"}, format="json")
    assert response.status_code == 400 and "автоматическим" in response.json()["detail"]


def test_smtp_refusing_connections_is_retried_then_failed_and_visible(api, ticket, settings, run_jobs, redis_conn):
    from conftest import free_port

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"  # pytest-django installs locmem
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    settings.REPLY_MAX_ATTEMPTS, settings.REPLY_RETRY_INTERVALS = 3, [0]
    settings.EVENTS_CHANNEL = "enigma:events:test-reply-failed"  # pub/sub is shared by all Redis DBs
    events = redis_conn.pubsub(ignore_subscribe_messages=True)
    events.subscribe(settings.EVENTS_CHANNEL)
    outbound_id = api.post(reply_url(ticket.pk), {}, format="json").json()["outbound_id"]
    run_jobs("default")
    outbound = OutboundEmail.objects.get(pk=outbound_id)
    assert outbound.status == OutboundEmail.Status.FAILED
    assert outbound.attempts == 3
    assert "Нет связи с SMTP-сервером" in outbound.last_error
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.DRAFT_READY and "Ответ не отправлен" in ticket.processing_error
    published = []
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        message = events.get_message(timeout=0.2)
        if message:
            published.append(json.loads(message["data"]))
    # "reply queued" is a status change; the failure is announced once, after the last attempt.
    assert [e["event"] for e in published if e["ticket_id"] == ticket.pk] == ["ticket.updated", "ticket.reply_failed"]
    assert all("petrov" not in json.dumps(e) for e in published)  # no personal data in events


def test_smtp_auth_failure_fails_at_once_with_the_servers_message(api, ticket, smtp_server_auth_fails, run_jobs, settings):
    settings.REPLY_RETRY_INTERVALS = [0]
    outbound_id = api.post(reply_url(ticket.pk), {}, format="json").json()["outbound_id"]
    run_jobs("default")
    outbound = OutboundEmail.objects.get(pk=outbound_id)
    assert outbound.status == OutboundEmail.Status.FAILED
    assert outbound.attempts == 1
    assert "535" in outbound.last_error
    assert smtp_server_auth_fails.messages == []


@pytest.mark.parametrize(("user_kind", "expected"), [("anonymous", (401, 403)), ("customer", (403,))])
def test_only_staff_may_reply(ticket, user_kind, expected):
    client = APIClient()
    if user_kind == "customer":
        client.force_authenticate(get_user_model().objects.create_user("customer", password="pw"))
    assert client.post(reply_url(ticket.pk), {}, format="json").status_code in expected
    assert not OutboundEmail.objects.exists()


def test_admin_action_uses_the_same_service(client, staff, ticket, smtp_server, run_jobs):
    staff.is_superuser = True
    staff.save()
    client.force_login(staff)
    response = client.post("/admin/tickets/ticket/", {"action": "send_reply", "_selected_action": [ticket.pk]}, follow=True)
    assert "Ответов поставлено в очередь: 1" in response.content.decode()
    run_jobs("default")
    assert len(smtp_server.messages) == 1


def test_openapi_documents_the_reply_endpoint(api):
    schema = api.get("/api/schema/?format=json").json()
    responses = schema["paths"]["/api/v1/tickets/{id}/reply/"]["post"]["responses"]
    assert {"202", "400", "404", "409"} <= set(responses)


def test_a_customer_follow_up_can_be_answered_without_resend(api, ticket, smtp_server, run_jobs):
    assert api.post(reply_url(ticket.pk), {}, format="json").status_code == 202
    run_jobs("default")
    ours = smtp_server.messages[0]["Message-ID"]
    follow_up = (f"From: petrov@teploset.ru\nSubject: Re: Ошибка E07\nMessage-ID: <follow-up@teploset.ru>\n"
                 f"In-Reply-To: {ours}\nContent-Type: text/plain; charset=utf-8\n\nНе помогло.").encode()
    assert ingest_raw(follow_up).ticket == ticket
    response = api.post(reply_url(ticket.pk), {"text": "Тогда заменим сенсор."}, format="json")
    assert response.status_code == 202, response.content  # a new question deserves a new answer
    run_jobs("default")
    assert len(smtp_server.messages) == 2
    assert smtp_server.messages[1]["In-Reply-To"] == "<follow-up@teploset.ru>"


def test_a_confirmation_sends_only_the_text_it_showed(ticket, redis_conn):
    from tickets.services import ReplyError, draft_fingerprint, reply_request

    shown = draft_fingerprint(ticket.llm_response)
    Ticket.objects.filter(pk=ticket.pk).update(llm_response="Другой текст, которого никто не видел")
    with pytest.raises(ReplyError, match="Черновик изменился"):
        reply_request(ticket.pk, expected_fingerprint=shown)
    assert not OutboundEmail.objects.exists()
    assert reply_request(ticket.pk, expected_fingerprint=draft_fingerprint("Другой текст, которого никто не видел"))


def test_a_bounce_on_the_thread_never_becomes_the_recipient(api, ticket, smtp_server, run_jobs, eml):
    bounce = eml("bounce.eml").replace(b"MIME-Version", b"In-Reply-To: <cp1251-8bit@example.ru>\nMIME-Version")
    assert ingest_raw(bounce).ticket == ticket
    assert api.post(reply_url(ticket.pk), {}, format="json").status_code == 202
    run_jobs("default")
    assert smtp_server.messages[0]["To"] == "petrov@teploset.ru"


def test_resend_never_doubles_a_pending_reply(api, ticket, redis_conn):
    assert api.post(reply_url(ticket.pk), {}, format="json").status_code == 202
    response = api.post(reply_url(ticket.pk), {"resend": True}, format="json")
    assert response.status_code == 409 and "в очереди" in response.json()["detail"]
    assert OutboundEmail.objects.count() == 1


def test_a_customer_mail_arriving_while_the_reply_waits_is_not_hidden(api, ticket, smtp_server, run_jobs):
    api.post(reply_url(ticket.pk), {}, format="json")
    raw = ("From: petrov@teploset.ru\nSubject: Re: Ошибка E07\nMessage-ID: <meanwhile@teploset.ru>\n"
           "In-Reply-To: <cp1251-8bit@example.ru>\nContent-Type: text/plain; charset=utf-8\n\nЕщё вопрос.").encode()
    ingest_raw(raw)
    run_jobs("default")
    ticket.refresh_from_db()
    assert len(smtp_server.messages) == 1
    assert ticket.status == Ticket.Status.CUSTOMER_REPLIED  # not "answered": the new mail needs staff
