import pytest
from django.urls import reverse

from tickets.ingest.store import ingest_raw

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client, django_user_model):
    user = django_user_model.objects.create_user("operator", password="pw", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_ticket_list_and_page_render(staff_client, eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    ingest_raw(eml("garbage.eml"))
    response = staff_client.get(reverse("admin:tickets_ticket_changelist"))
    assert response.status_code == 200 and "Ошибка E07" in response.content.decode()
    response = staff_client.get(reverse("admin:tickets_ticket_change", args=[ticket.pk]))
    assert response.status_code == 200 and "АНКАТ-7664Микро" in response.content.decode()
    response = staff_client.get(reverse("admin:tickets_message_changelist") + "?parse_status__exact=failed")
    assert response.status_code == 200 and "Ошибка разбора" in response.content.decode()


def test_search_by_serial_and_body(staff_client, eml):
    ingest_raw(eml("cp1251_8bit.eml"))
    ingest_raw(eml("html_only.eml"))
    response = staff_client.get(reverse("admin:tickets_ticket_changelist"), {"q": "Сигнал-4"})
    body = response.content.decode()
    assert "HTML only" in body and "Ошибка E07" not in body


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


def test_health_endpoints(client, redis_conn):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok" and ready.json()["checks"]["redis"] == "ok"
