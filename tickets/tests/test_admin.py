"""The operator console (Django admin): list, search, ticket page, buttons, bulk actions,
contacts, dashboard, attachments."""

import re
from html import unescape

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from tickets.ingest.store import ingest_raw
from tickets.models import Contact, OutboundEmail, ProcessingRun, Ticket

pytestmark = pytest.mark.django_db

HOSTILE_EML = (
    "From: Attacker <evil@example.com>\r\n"
    "To: support@enigma.local\r\n"
    "Subject: =?utf-8?b?0JLRgNC10LTQvdC+0LUg0L/QuNGB0YzQvNC+?=\r\n"
    "Date: Mon, 23 Nov 2026 10:15:00 +0300\r\n"
    "Message-ID: <hostile-{port}@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "\r\n"
    "<html><head><meta http-equiv=\"refresh\" content=\"0;url=http://127.0.0.1:{port}/refresh\">"
    "<link rel=\"stylesheet\" href=\"http://127.0.0.1:{port}/css\">"
    "<style>@import url(http://127.0.0.1:{port}/import); body{{background:url(http://127.0.0.1:{port}/bg)}}</style>"
    "<script>alert('script')</script></head>"
    "<body onload=\"alert('onload')\"><p>Здравствуйте, прибор не работает.</p>"
    "<img src=\"x\" onerror=\"alert('onerror')\">"
    "<img src=\"http://127.0.0.1:{port}/pixel.png\">"
    "<iframe src=\"http://127.0.0.1:{port}/frame\"></iframe>"
    "<a id=\"jslink\" href=\"javascript:alert('link')\">нажмите</a>"
    "<svg onload=\"alert('svg')\"><circle r=\"5\"/></svg>"
    "<object data=\"http://127.0.0.1:{port}/object\"></object>"
    "<form action=\"http://127.0.0.1:{port}/form\"><input name=\"q\"><button>go</button></form>"
    "<div style=\"background-image:url(http://127.0.0.1:{port}/style)\">стиль</div>"
    "</body></html>\r\n"
)


def hostile_mail(port: int = 9) -> bytes:
    return HOSTILE_EML.format(port=port).encode()


@pytest.fixture
def staff_user(django_user_model):
    return django_user_model.objects.create_user("operator", password="pw", is_staff=True, is_superuser=True,
                                                 first_name="Анна", last_name="Смирнова")


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


def make_tickets(n: int, assignee=None, prefix: str = "Тикет") -> list[Ticket]:
    tickets = []
    for i in range(n):
        contact = Contact.objects.create(email=f"{prefix.lower()}{i}-{n}@example.ru", name=f"Клиент {i}")
        tickets.append(Ticket.objects.create(
            subject=f"{prefix} {i}", contact=contact, assignee=assignee, full_name=f"Иванов Иван {i}",
            company="ООО «Газ»", device_type="АНКАТ-7664Микро", device_serial=f"SN-{n}-{i}",
            sentiment=Ticket.Sentiment.NEGATIVE, status=Ticket.Status.DRAFT_READY, priority=Ticket.Priority.HIGH,
        ))
    return tickets


def changelist(client, **params):
    return client.get(reverse("admin:tickets_ticket_changelist"), params)


# --- list ---------------------------------------------------------------------------------------------

def test_ticket_list_and_page_render(staff_client, eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    ingest_raw(eml("garbage.eml"))
    response = changelist(staff_client)
    assert response.status_code == 200 and "Ошибка E07" in response.content.decode()
    response = staff_client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    assert response.status_code == 200 and "АНКАТ-7664Микро" in response.content.decode()
    response = staff_client.get(reverse("admin:tickets_message_changelist") + "?parse_status__exact=failed")
    assert response.status_code == 200 and "Ошибка разбора" in response.content.decode()


def test_list_shows_columns_and_badges(staff_client, staff_user):
    [ticket] = make_tickets(1, assignee=staff_user)
    body = changelist(staff_client).content.decode()
    for text in (f"#{ticket.number}", "Тикет 0", "Иванов Иван 0", "ООО «Газ»", "АНКАТ-7664Микро", "зав. № SN-1-0",
                 "Негатив", "Черновик готов", "Высокий", "enigma-badge", "Аналитика"):
        assert text in body, text


def test_list_query_count_does_not_grow_with_rows(staff_client, staff_user, django_assert_max_num_queries):
    make_tickets(3, assignee=staff_user, prefix="Мало")
    with django_assert_max_num_queries(12) as few:
        assert changelist(staff_client).status_code == 200
    make_tickets(40, assignee=staff_user, prefix="Много")
    with django_assert_max_num_queries(len(few.captured_queries)) as many:
        assert changelist(staff_client, q="").status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize("param", [
    "status__exact=draft_ready", "sentiment__exact=negative", "intent=malfunction", "device_type=АНКАТ-7664Микро",
    "processed__exact=0", "assignee=me", "assignee=none", "queue=open", "queue=waiting", "priority__exact=high",
    "created_at__year=2026", "o=-7", "o=5.-1",
])
def test_list_filters_and_ordering(staff_client, staff_user, param):
    make_tickets(2, assignee=staff_user)
    response = staff_client.get(reverse("admin:tickets_ticket_changelist") + "?" + param)
    assert response.status_code == 200, param  # an unknown lookup would redirect to ?e=1


def test_search_by_serial_and_body(staff_client, eml):
    ingest_raw(eml("cp1251_8bit.eml"))
    ingest_raw(eml("html_only.eml"))
    body = changelist(staff_client, q="Сигнал-4").content.decode()
    assert "HTML only" in body and "Ошибка E07" not in body


def test_search_uses_russian_morphology_numbers_serials_and_phones(staff_client, eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    other = make_tickets(1)[0]
    Ticket.objects.filter(pk=ticket.pk).update(device_serial="ZX-4471", phone="+7 (912) 345-67-89")

    def found(q):
        body = changelist(staff_client, q=q).content.decode()
        return {t.number for t in (ticket, other) if f">#{t.number}<" in body}

    assert found("ошибки") == {ticket.number}  # «Ошибка» in the subject, another case
    assert found(str(ticket.number)) == {ticket.number}
    assert found(f"#{other.number}") == {other.number}
    assert found("zx-4471") == {ticket.number}  # serial, exact and case-insensitive
    assert found("8 912 345 67 89") == {ticket.number}  # phone, any spelling
    assert found("petrov@teploset.ru") == {ticket.number}
    assert found("Иванов") == {other.number}
    assert found("несуществующееслово") == set()


# --- ticket page --------------------------------------------------------------------------------------

def ticket_page(client, ticket):
    response = client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_ticket_page_shows_thread_entities_sources_replies_and_history(staff_client, eml, staff_user):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    Ticket.objects.filter(pk=ticket.pk).update(
        full_name="Петров Сергей Иванович", phone="+7 (912) 345-67-89", company="ООО «Теплосеть»",
        device_serial="123456", sentiment=Ticket.Sentiment.NEGATIVE, sentiment_score=0.91,
        sentiment_backend="dostoevsky:fasttext", summary="Прибор показывает ошибку E07.", intent="malfunction",
        llm_response="Здравствуйте! Выполните калибровку [1].",
        llm_sources=[{"n": 1, "document": "Руководство АНКАТ", "page": 12, "score": 0.87, "cited": True},
                     {"n": 2, "document": "Паспорт", "page": 3, "score": 0.5, "cited": False}],
        draft_kind="ai",
    )
    ProcessingRun.objects.create(ticket=ticket, stage="nlp", backend="natasha", ok=True, latency_ms=42)
    ProcessingRun.objects.create(ticket=ticket, stage="draft", backend="openai:gpt", ok=False, error="AI timeout")
    OutboundEmail.objects.create(ticket=ticket, to_address="petrov@teploset.ru", subject="Re", body="x",
                                 message_id="<o1@enigma>", status=OutboundEmail.Status.FAILED,
                                 last_error="SMTP отказал: 550 no such user", requested_by=staff_user)
    body = ticket_page(staff_client, ticket)
    for text in ("Переписка (1)", "Петров Сергей Иванович", "+7 (912) 345-67-89", "ООО «Теплосеть»", "123456",
                 "Негатив", "dostoevsky:fasttext", "Прибор показывает ошибку E07.", "Неисправность",
                 "Выполните калибровку [1].", "Руководство АНКАТ", "стр. 12", "использован в ответе",
                 "SMTP отказал: 550 no such user", "AI timeout", "natasha", "История обработки",
                 'name="_send_reply"', "Отправить ответ", "Перегенерировать черновик", "Сохранить"):
        assert text in body, text


def test_thread_is_oldest_first_with_outbound(staff_client, eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    from tickets.models import Message

    Message.objects.create(ticket=ticket, direction=Message.Direction.OUTBOUND, message_id="<late@enigma>",
                           body_text="НАШ ОТВЕТ", raw=b"x", raw_sha256="0" * 64, parse_status="parsed")
    body = ticket_page(staff_client, ticket)
    assert body.index("Ошибка E07") < body.index("НАШ ОТВЕТ")
    assert 'class="enigma-msg out"' in body


def srcdocs(body: str) -> list[str]:
    return [unescape(m) for m in re.findall(r'srcdoc="([^"]*)"', body)]


def test_hostile_html_is_sanitised_and_sandboxed(staff_client):
    ticket = ingest_raw(hostile_mail()).ticket
    body = ticket_page(staff_client, ticket)
    [doc] = srcdocs(body)
    assert "прибор не работает" in doc
    lowered = doc.lower()
    for bad in ("<script", "onerror", "onload", "javascript:", "<iframe", "<object", "<form", "<svg", "<link",
                "http-equiv=\"refresh\"", "@import", "127.0.0.1", "url("):
        assert bad not in lowered, bad
    assert "default-src 'none'" in doc  # CSP inside the frame as a second wall
    iframe = re.search(r"<iframe[^>]*>", body).group(0)
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in iframe and "allow-scripts" not in iframe
    # the page itself carries no mail markup outside the escaped srcdoc attribute
    outside = re.sub(r'srcdoc="[^"]*"', "", body)
    assert "alert(" not in outside


def test_inline_image_is_embedded_and_attachments_download(staff_client, client, eml):
    ticket = ingest_raw(eml("inline_image.eml")).ticket
    body = ticket_page(staff_client, ticket)
    [doc] = srcdocs(body)
    assert 'src="data:image/png;base64,iVBOR' in doc and "cid:" not in doc
    attachment = ticket.messages.get().attachments.get()
    url = reverse("admin:tickets_attachment_download", args=[attachment.pk])
    assert url in body
    response = staff_client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert response["Content-Type"] == "application/octet-stream" and "attachment" in response["Content-Disposition"]
    assert response["X-Content-Type-Options"] == "nosniff"
    inline = staff_client.get(url + "?inline=1")
    assert inline["Content-Type"] == "image/png" and "inline" in inline["Content-Disposition"]
    client.logout()
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and "/login/" in anonymous["Location"]


def test_cyrillic_attachment_names_download(staff_client, eml):
    ticket = ingest_raw(eml("cyrillic_attachments.eml")).ticket
    body = ticket_page(staff_client, ticket)
    assert "Акт поверки №5.pdf" in body
    attachment = ticket.messages.get().attachments.get(filename="Акт поверки №5.pdf")
    response = staff_client.get(reverse("admin:tickets_attachment_download", args=[attachment.pk]))
    assert response.status_code == 200 and "filename*=utf-8''" in response["Content-Disposition"]


def test_html_attachment_is_never_served_inline(staff_client, eml):
    from django.core.files.base import ContentFile

    from tickets.models import Attachment

    message = ingest_raw(eml("cp1251_8bit.eml")).message
    attachment = Attachment(message=message, filename="x.html", content_type="text/html", size=30, sha256="a" * 64)
    attachment.file.save("x.html", ContentFile(b"<script>alert(1)</script>"), save=True)
    response = staff_client.get(reverse("admin:tickets_attachment_download", args=[attachment.pk]) + "?inline=1")
    assert response["Content-Type"] == "application/octet-stream" and "attachment" in response["Content-Disposition"]
    assert "sandbox" in response["Content-Security-Policy"]


def test_raw_mail_download(staff_client, eml):
    raw = eml("cp1251_8bit.eml")
    message = ingest_raw(raw).message
    response = staff_client.get(reverse("admin:tickets_message_raw", args=[message.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "message/rfc822"
    assert response.content == raw


def test_raw_mail_download_needs_staff(client, eml):
    message = ingest_raw(eml("cp1251_8bit.eml")).message
    response = client.get(reverse("admin:tickets_message_raw", args=[message.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_ticket_page_query_count_is_bounded(staff_client, eml, django_assert_max_num_queries):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    for i in range(5):
        ProcessingRun.objects.create(ticket=ticket, stage="nlp", ok=True)
        OutboundEmail.objects.create(ticket=ticket, to_address="a@b.ru", subject="s", body="b", message_id=f"<m{i}@x>")
    with django_assert_max_num_queries(16):
        ticket_page(staff_client, ticket)


# --- buttons -----------------------------------------------------------------------------------------

def post_change(client, ticket, button, **data):
    form = {"llm_response": ticket.llm_response, "status": ticket.status, "priority": ticket.priority,
            "assignee": ticket.assignee_id or "", button: "1"}
    form.update(data)
    return client.post(reverse("admin:tickets_ticket_change", args=[ticket.pk]), form, follow=True)


def test_save_edits_the_draft(staff_client, eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    response = post_change(staff_client, ticket, "_continue", llm_response="Исправленный ответ", priority="urgent")
    assert response.status_code == 200
    ticket.refresh_from_db()
    assert ticket.llm_response == "Исправленный ответ" and ticket.priority == "urgent"


@pytest.mark.django_db(transaction=True)
def test_send_reply_button_saves_then_queues_reply(staff_client, eml, redis_conn, staff_user):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    redis_conn.flushdb()
    response = post_change(staff_client, ticket, "_send_reply", llm_response="Ответ оператора")
    body = response.content.decode()
    assert "Ответ поставлен в очередь на отправку (petrov@teploset.ru)" in body
    outbound = OutboundEmail.objects.get(ticket=ticket)
    assert outbound.body == "Ответ оператора" and outbound.requested_by == staff_user
    assert outbound.job_id  # enqueued after commit
    ticket.refresh_from_db()
    assert ticket.processed and ticket.status == Ticket.Status.REPLY_QUEUED
    # a second click is refused, visibly
    body = post_change(staff_client, ticket, "_send_reply").content.decode()
    assert "уже в очереди" in body and OutboundEmail.objects.filter(ticket=ticket).count() == 1


def test_send_reply_with_empty_draft_shows_the_error(staff_client, eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    body = post_change(staff_client, ticket, "_send_reply", llm_response="").content.decode()
    assert "Текст ответа пуст" in body and not OutboundEmail.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_regenerate_button_queues_a_forced_draft(staff_client, eml, redis_conn):
    import django_rq

    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    redis_conn.flushdb()
    body = post_change(staff_client, ticket, "_regenerate").content.decode()
    assert "Новый черновик поставлен в очередь" in body
    [job] = django_rq.get_queue("nlp").get_jobs()
    assert job.func_name == "tickets.jobs.draft_ticket" and job.args == (ticket.pk, True)


def test_assign_and_close_buttons(staff_client, eml, staff_user):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    post_change(staff_client, ticket, "_assign_me")
    ticket.refresh_from_db()
    assert ticket.assignee == staff_user
    post_change(staff_client, ticket, "_close")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED and ticket.closed_at


def test_operators_cannot_assign_to_non_staff(staff_client, eml, django_user_model):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    outsider = django_user_model.objects.create_user("customer", password="pw")
    response = post_change(staff_client, ticket, "_continue", assignee=outsider.pk)
    assert "Выберите корректный вариант" in response.content.decode()


# --- bulk actions ------------------------------------------------------------------------------------

def bulk(client, action, tickets):
    return client.post(reverse("admin:tickets_ticket_changelist"),
                       {"action": action, "_selected_action": [t.pk for t in tickets]}, follow=True)


def test_bulk_assign_close_regenerate(staff_client, staff_user, redis_conn):
    import django_rq

    tickets = make_tickets(3)
    assert "Назначено на вас: 3." in bulk(staff_client, "assign_to_me", tickets[:3]).content.decode()
    assert Ticket.objects.filter(assignee=staff_user).count() == 3
    redis_conn.flushdb()
    with pytest.MonkeyPatch.context() as mp:
        # outside a test transaction the service enqueues at once; here on commit: run those hooks
        from django.db import transaction

        mp.setattr(transaction, "on_commit", lambda fn, using=None, robust=False: fn())
        assert "Черновики поставлены в очередь: 2." in bulk(staff_client, "regenerate_drafts", tickets[:2]).content.decode()
    assert django_rq.get_queue("nlp").count == 2
    assert "Закрыто заявок: 2." in bulk(staff_client, "close_tickets", tickets[1:]).content.decode()
    assert Ticket.objects.filter(status=Ticket.Status.CLOSED).count() == 2


# --- contacts, dashboard, index ---------------------------------------------------------------------------

def test_contacts_page_lists_their_tickets(staff_client, eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    body = staff_client.get(reverse("admin:tickets_contact_changelist")).content.decode()
    assert "petrov@teploset.ru" in body and f"?contact__id__exact={ticket.contact_id}" in body
    body = staff_client.get(reverse("admin:tickets_contact_change", args=[ticket.contact_id])).content.decode()
    assert "Заявки клиента" in body and "Ошибка E07" in body
    response = changelist(staff_client, contact__id__exact=ticket.contact_id)
    assert response.status_code == 200 and "Ошибка E07" in response.content.decode()


def test_dashboard_shows_numbers_and_chart_data(staff_client, staff_user):
    tickets = make_tickets(3)
    now = timezone.now()
    Ticket.objects.filter(pk=tickets[0].pk).update(first_response_at=now, created_at=now - timezone.timedelta(hours=2))
    OutboundEmail.objects.create(ticket=tickets[0], to_address="a@b.ru", subject="s", body="b", message_id="<1@x>",
                                 status=OutboundEmail.Status.SENT)
    OutboundEmail.objects.create(ticket=tickets[1], to_address="a@b.ru", subject="s", body="b", message_id="<2@x>",
                                 status=OutboundEmail.Status.FAILED)
    response = staff_client.get(reverse("admin:tickets_dashboard"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="n-total">3<' in body and "2 ч 0 мин" in body
    assert 'id="n-sent">1<' in body and ">1</b>" in body
    assert "tickets/vendor/chart.umd.min.js" in body and 'id="dashboard-data"' in body
    assert "АНКАТ-7664Микро" in body
    # range selection and nonsense dates
    assert staff_client.get(reverse("admin:tickets_dashboard"), {"from": "2020-01-01", "to": "2020-01-31"}).status_code == 200
    assert staff_client.get(reverse("admin:tickets_dashboard"), {"from": "вчера"}).status_code == 200


def test_dashboard_needs_staff(client):
    response = client.get(reverse("admin:tickets_dashboard"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_chart_library_is_served_from_our_static_files():
    from django.contrib.staticfiles import finders

    path = finders.find("tickets/vendor/chart.umd.min.js")
    assert path and "Chart.js v4" in open(path, encoding="utf-8").read(200)


def test_admin_index_links_the_console(staff_client):
    body = staff_client.get(reverse("admin:index")).content.decode()
    assert "Рабочее место" in body and reverse("admin:tickets_dashboard") in body


def test_non_staff_cannot_enter_the_console(client, eml):
    user = get_user_model().objects.create_user("customer", password="pw")
    client.force_login(user)
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    response = client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_health_endpoints(client, redis_conn):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok" and ready.json()["checks"]["redis"] == "ok"


def test_saving_an_old_page_does_not_undo_what_happened_since(staff_client, eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    page = staff_client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk])).content.decode()
    assert 'name="initial-status"' in page  # the form remembers what the operator saw
    # While the page is open, the reply worker marks the ticket answered.
    Ticket.objects.filter(pk=ticket.pk).update(status=Ticket.Status.ANSWERED)
    stale = {"initial-status": "new", "initial-priority": ticket.priority, "initial-assignee": "",
             "initial-llm_response": ""}
    post_change(staff_client, ticket, "_continue", llm_response="Заметка оператора", **stale)
    ticket.refresh_from_db()
    assert ticket.llm_response == "Заметка оператора"
    assert ticket.status == Ticket.Status.ANSWERED  # not reverted to the page's "new"


def test_closing_in_the_admin_stamps_closed_at(staff_client, eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    post_change(staff_client, ticket, "_continue", status="closed")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.CLOSED and ticket.closed_at is not None
