"""The REST API (/api/v1/), its schema, and the ops endpoints (/healthz, /readyz, /metrics)."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tickets.ingest.store import ingest_raw
from tickets.models import OutboundEmail, ProcessingRun, Ticket
from tickets.tests.test_admin import hostile_mail, make_tickets

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def exact_counts(settings):
    settings.API_COUNT_CACHE_SECONDS = 0  # tests change rows between requests


@pytest.fixture
def token_api(staff):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")
    return client


# --- permissions ---------------------------------------------------------------------------------------

ENDPOINTS = ["/api/v1/tickets/", "/api/v1/tickets/1/", "/api/v1/tickets/1/messages/", "/api/v1/contacts/",
             "/api/v1/stats/", "/api/v1/attachments/1/download/"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_anonymous_gets_401(url):
    response = APIClient().get(url)
    assert response.status_code == 401
    assert "Token" in response["WWW-Authenticate"]


@pytest.mark.parametrize("url", ENDPOINTS)
def test_non_staff_gets_403(url, django_user_model):
    user = django_user_model.objects.create_user("customer", password="pw")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    assert client.get(url).status_code == 403


def test_non_staff_cannot_patch_or_reply(django_user_model):
    [ticket] = make_tickets(1)
    client = APIClient()
    client.force_authenticate(django_user_model.objects.create_user("customer", password="pw"))
    assert client.patch(f"/api/v1/tickets/{ticket.pk}/", {"llm_response": "x"}, format="json").status_code == 403
    assert client.post(f"/api/v1/tickets/{ticket.pk}/reply/", {}, format="json").status_code == 403


def test_token_and_session_auth_work(token_api, client, staff):
    make_tickets(1)
    assert token_api.get("/api/v1/tickets/").status_code == 200
    client.force_login(staff)
    assert client.get("/api/v1/tickets/").status_code == 200
    # session writes need the CSRF token (token clients do not)
    csrf_client = APIClient(enforce_csrf_checks=True)
    csrf_client.force_login(staff)
    ticket = Ticket.objects.get()
    assert csrf_client.patch(f"/api/v1/tickets/{ticket.pk}/", {"priority": "low"}, format="json").status_code == 403


# --- tickets -----------------------------------------------------------------------------------------------

def test_list_is_paginated_and_query_count_is_flat(api, staff, django_assert_max_num_queries):
    make_tickets(3, assignee=staff, prefix="А")
    with django_assert_max_num_queries(4) as few:
        response = api.get("/api/v1/tickets/")
    make_tickets(60, assignee=staff, prefix="Б")
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = api.get("/api/v1/tickets/", {"page_size": 100})
    body = response.json()
    assert body["count"] == 63 and len(body["results"]) == 63 and body["next"] is None
    row = body["results"][0]
    assert row["assignee"] == {"id": staff.pk, "username": "operator", "name": "Анна"}
    assert row["contact"]["email"].endswith("@example.ru") and row["sentiment_display"] == "Негатив"
    assert "llm_response" not in row  # heavy fields only in the detail
    assert len(api.get("/api/v1/tickets/").json()["results"]) == 50
    assert len(api.get("/api/v1/tickets/", {"page_size": 1000}).json()["results"]) == 63  # capped at 200


def test_list_filters_search_and_ordering(api, staff, eml):
    mail_ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    a, b = make_tickets(2)
    Ticket.objects.filter(pk=a.pk).update(status=Ticket.Status.CLOSED, sentiment=Ticket.Sentiment.POSITIVE,
                                          intent="thanks", processed=True, assignee=staff, priority="low")

    def numbers(**params):
        return {r["number"] for r in api.get("/api/v1/tickets/", params).json()["results"]}

    assert numbers(status="closed") == {a.number}
    assert numbers(status=["closed", "draft_ready"]) == {a.number, b.number}
    assert numbers(sentiment="positive") == {a.number}
    assert numbers(intent="thanks") == {a.number}
    assert numbers(processed="true") == {a.number}
    assert numbers(assignee=staff.pk) == {a.number}
    assert numbers(unassigned="true") == {b.number, mail_ticket.number}
    assert numbers(device_type="анкат-7664микро") == {a.number, b.number}
    assert numbers(open="true") == {b.number, mail_ticket.number}
    assert numbers(q="ошибки") == {mail_ticket.number}
    assert numbers(search=str(b.number)) == {b.number}
    assert numbers(contact=a.contact_id) == {a.number}
    tomorrow = (timezone.now() + dt.timedelta(days=1)).isoformat()
    assert numbers(created_before=tomorrow) == {a.number, b.number, mail_ticket.number}
    assert numbers(created_after=tomorrow) == set()
    ordered = [r["number"] for r in api.get("/api/v1/tickets/", {"ordering": "number"}).json()["results"]]
    assert ordered == sorted(ordered)
    assert api.get("/api/v1/tickets/", {"status": "nonsense"}).status_code == 400


def test_retrieve_has_messages_attachments_replies_history(api, eml, django_assert_max_num_queries):
    ticket = ingest_raw(eml("inline_image.eml")).ticket
    ProcessingRun.objects.create(ticket=ticket, stage="nlp", backend="natasha", latency_ms=5)
    OutboundEmail.objects.create(ticket=ticket, to_address="a@b.ru", subject="s", body="b", message_id="<1@x>")
    with django_assert_max_num_queries(8):
        body = api.get(f"/api/v1/tickets/{ticket.pk}/").json()
    [message] = body["messages"]
    assert 'src="data:image/png;base64,' in message["body_html_safe"]
    [attachment] = message["attachments"]
    assert attachment["filename"] == "screen.png" and attachment["download_url"] == f"/api/v1/attachments/{attachment['id']}/download/"
    assert body["outbound_emails"][0]["status"] == "queued" and body["processing_runs"][0]["backend"] == "natasha"
    download = api.get(attachment["download_url"])
    assert download.status_code == 200 and b"".join(download.streaming_content).startswith(b"\x89PNG")


def test_retrieve_sanitises_hostile_html(api):
    ticket = ingest_raw(hostile_mail()).ticket
    html = api.get(f"/api/v1/tickets/{ticket.pk}/").json()["messages"][0]["body_html_safe"].lower()
    assert "прибор не работает" in html
    assert not any(bad in html for bad in ("<script", "onerror", "javascript:", "<iframe", "127.0.0.1", "<form"))


def test_messages_action_oldest_first(api, eml):
    first = ingest_raw(eml("cp1251_8bit.eml")).ticket
    response = api.get(f"/api/v1/tickets/{first.pk}/messages/")
    assert response.status_code == 200 and response.json()[0]["subject"] == "Ошибка E07"


def test_patch_editable_fields(api, staff):
    [ticket] = make_tickets(1)
    response = api.patch(f"/api/v1/tickets/{ticket.pk}/", {
        "llm_response": "Новый текст", "priority": "urgent", "assignee": staff.pk, "status": "answered",
        "subject": "взлом", "processed": True, "number": 1,  # read-only: ignored
    }, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["llm_response"] == "Новый текст" and body["priority"] == "urgent" and body["assignee"] == staff.pk
    assert body["assignee_detail"]["username"] == "operator" and "messages" in body
    ticket.refresh_from_db()
    assert (ticket.subject, ticket.processed, ticket.status) == ("Тикет 0", False, "answered")


def test_patch_close_uses_the_service_and_validates(api, django_user_model):
    [ticket] = make_tickets(1)
    assert api.patch(f"/api/v1/tickets/{ticket.pk}/", {"status": "closed"}, format="json").json()["closed_at"]
    outsider = django_user_model.objects.create_user("customer")
    assert api.patch(f"/api/v1/tickets/{ticket.pk}/", {"assignee": outsider.pk}, format="json").status_code == 400
    assert api.patch(f"/api/v1/tickets/{ticket.pk}/", {"priority": "сверхсрочный"}, format="json").status_code == 400
    assert api.put(f"/api/v1/tickets/{ticket.pk}/", {}, format="json").status_code == 405
    assert api.delete(f"/api/v1/tickets/{ticket.pk}/").status_code == 405
    assert api.patch("/api/v1/tickets/999999/", {"priority": "low"}, format="json").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_regenerate_draft_endpoint(api, redis_conn):
    import django_rq

    [ticket] = make_tickets(1)
    response = api.post(f"/api/v1/tickets/{ticket.pk}/regenerate-draft/")
    assert response.status_code == 202 and response.json()["job_id"]
    [job] = django_rq.get_queue("nlp").get_jobs()
    assert job.args == (ticket.pk, True)


# --- contacts, stats -----------------------------------------------------------------------------------------

def test_contacts_list_and_detail(api, django_assert_max_num_queries):
    tickets = make_tickets(3)
    Ticket.objects.filter(pk=tickets[1].pk).update(contact=tickets[0].contact)
    with django_assert_max_num_queries(4):  # page, count, and the user's permissions (first request)
        body = api.get("/api/v1/contacts/", {"ordering": "-ticket_count"}).json()
    assert body["results"][0]["ticket_count"] == 2 and body["results"][0]["open_ticket_count"] == 2
    assert api.get("/api/v1/contacts/", {"q": "Клиент 2"}).json()["count"] == 1
    detail = api.get(f"/api/v1/contacts/{tickets[0].contact_id}/").json()
    assert {t["number"] for t in detail["tickets"]} == {tickets[0].number, tickets[1].number}


def test_stats(api):
    tickets = make_tickets(4)
    now = timezone.now()
    Ticket.objects.filter(pk=tickets[0].pk).update(created_at=now - dt.timedelta(minutes=30), first_response_at=now)
    Ticket.objects.filter(pk=tickets[1].pk).update(created_at=now - dt.timedelta(minutes=90), first_response_at=now,
                                                   sentiment="positive", status="closed")
    Ticket.objects.filter(pk=tickets[3].pk).update(created_at=now - dt.timedelta(days=60))
    OutboundEmail.objects.create(ticket=tickets[0], to_address="a@b.ru", subject="s", body="b", message_id="<1@x>",
                                 status=OutboundEmail.Status.SENT)
    OutboundEmail.objects.create(ticket=tickets[0], to_address="a@b.ru", subject="s", body="b", message_id="<2@x>",
                                 status=OutboundEmail.Status.FAILED)
    body = api.get("/api/v1/stats/").json()
    assert body["total"] == 3 and len(body["per_day"]) == 30 and body["date_to"] == timezone.localdate().isoformat()
    assert sum(d["count"] for d in body["per_day"]) == 3
    assert body["sentiment"] == {"negative": 2, "neutral": 0, "positive": 1, "unknown": 0}
    assert body["top_device_types"] == [{"device_type": "АНКАТ-7664Микро", "count": 3}]
    assert body["open_backlog"] == 3  # the 60-day-old ticket is still open
    assert body["median_first_response_seconds"] == pytest.approx(3600, abs=5)
    assert body["replies"] == {"queued": 0, "sending": 0, "sent": 1, "failed": 1}
    older = api.get("/api/v1/stats/", {"from": (timezone.localdate() - dt.timedelta(days=90)).isoformat()}).json()
    assert older["total"] == 4 and len(older["per_day"]) == 91
    assert api.get("/api/v1/stats/", {"from": "2026-02-01", "to": "2026-01-01"}).status_code == 400
    assert api.get("/api/v1/stats/", {"from": "вчера"}).status_code == 400
    assert api.get("/api/v1/stats/", {"from": "2020-01-01", "to": "2026-01-01"}).status_code == 400


# --- schema ---------------------------------------------------------------------------------------------------

def test_schema_and_docs_are_served_offline(api, client):
    schema = api.get("/api/schema/", {"format": "json"}).json()
    for path in ("/api/v1/tickets/", "/api/v1/tickets/{id}/", "/api/v1/tickets/{id}/reply/", "/api/v1/contacts/",
                 "/api/v1/stats/", "/api/v1/attachments/{id}/download/"):
        assert path in schema["paths"], path
    docs = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs and "cdn" not in docs.lower()
    redoc = client.get("/api/redoc/").content.decode()
    assert "/static/drf_spectacular_sidecar/redoc/" in redoc


def _schemathesis_schema():
    import schemathesis
    from django.core.wsgi import get_wsgi_application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application()).include(
        path_regex=r"^/api/v1/(tickets|contacts|attachments|stats)")


@pytest.fixture
def api_schema(db):
    # Requests go through the real WSGI handler, which closes the DB connection when a request
    # finishes; the test's transaction must survive (Django's test client does the same).
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield _schemathesis_schema()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def test_schemathesis_finds_no_server_errors(api_schema, staff, eml):
    """Property-based requests from the OpenAPI schema (schemathesis + Hypothesis) against the
    real WSGI app with a staff token: whatever the input, the API never answers 5xx."""
    from hypothesis import HealthCheck, given
    from hypothesis import settings as hypothesis_settings
    from schemathesis.checks import not_a_server_error

    ingest_raw(eml("inline_image.eml"))
    make_tickets(2)
    headers = {"Authorization": f"Token {Token.objects.create(user=staff).key}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:
        @given(case=operation.as_strategy())
        @hypothesis_settings(max_examples=15, deadline=None, database=None, derandomize=True,
                             suppress_health_check=list(HealthCheck))
        def run(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        run()


# --- ops ---------------------------------------------------------------------------------------------------

def test_readyz_reports_queues_and_mailbox(client, redis_conn):
    from tickets.models import MailboxState

    MailboxState.objects.create(host="imap", username="u", folder="INBOX", last_success_at=timezone.now() - dt.timedelta(seconds=70))
    body = client.get("/readyz").json()
    checks = body["checks"]
    assert body["status"] == "ok" and checks["database"] == "ok" and checks["redis"] == "ok"
    assert checks["queue_depth"] == {"default": 0, "nlp": 0} and checks["queue_failed"] == {"default": 0, "nlp": 0}
    assert 69 < checks["mailbox_last_success_age_s"] < 80 and checks["mailbox_stale"] is False


def test_readyz_fails_when_redis_is_down(client):
    from unittest import mock

    with mock.patch("enigma_site.health.queue_checks", side_effect=ConnectionError("refused")):
        response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["checks"]["redis"].startswith("error")


def test_probes_answer_any_host_and_plain_http(client, settings):
    settings.ALLOWED_HOSTS = ["support.example.ru"]
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz", HTTP_HOST="10.0.0.7:8000").status_code == 200
    assert client.get("/api/v1/tickets/", HTTP_HOST="10.0.0.7:8000").status_code == 400  # others are still checked


def test_metrics_exposes_enigma_and_django_metrics(client, eml, redis_conn, settings):
    settings.METRICS_CACHE_SECONDS = 0
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    ProcessingRun.objects.create(ticket=ticket, stage="nlp", ok=True, latency_ms=40)
    ProcessingRun.objects.create(ticket=ticket, stage="draft", ok=False, latency_ms=3000, error="timeout")
    OutboundEmail.objects.create(ticket=ticket, to_address="a@b.ru", subject="s", body="b", message_id="<1@x>",
                                 status=OutboundEmail.Status.FAILED)
    client.get("/healthz")
    response = client.get("/metrics")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    for line in (
        'enigma_mails_ingested_total{direction="in",parse_status="parsed"} 1.0',
        'enigma_tickets{status="new"} 1.0',
        "enigma_open_backlog 1.0",
        "enigma_replies_failed_total 1.0",
        "enigma_replies_sent_total 0.0",
        "enigma_drafts_failed_total 1.0",
        'enigma_processing_latency_seconds_bucket{le="0.05",stage="nlp"} 1.0',
        'enigma_processing_latency_seconds_bucket{le="2.5",stage="draft"} 0.0',
        'enigma_processing_latency_seconds_bucket{le="5",stage="draft"} 1.0',
        'enigma_queue_depth{queue="nlp"}',
        "enigma_redis_up 1.0",
        "django_http_requests_total_by_method_total",
        "enigma_events_published_total",
        "enigma_events_publish_failed_total",
    ):
        assert line in text, line


def test_metrics_token(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200


def test_cors_allows_the_front_origin_only():
    env = {**os.environ, "CORS_ALLOWED_ORIGINS": "https://desk.example.ru"}
    code = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client()\n"
        "ok = c.options('/api/v1/tickets/', HTTP_ORIGIN='https://desk.example.ru', HTTP_ACCESS_CONTROL_REQUEST_METHOD='GET')\n"
        "bad = c.options('/api/v1/tickets/', HTTP_ORIGIN='https://evil.example', HTTP_ACCESS_CONTROL_REQUEST_METHOD='GET')\n"
        "print(ok.get('Access-Control-Allow-Origin'), bad.get('Access-Control-Allow-Origin'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "DJANGO_SETTINGS_MODULE": "enigma_site.test_settings"},
                            capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "https://desk.example.ru None", result.stderr[-2000:]


PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "enigma_site.settings",
    "SECRET_KEY": "p" * 20 + "Zq9!xR2@vL7#mK4$wT8%nB5^cY1&hJ6*",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "support.example.ru",
    "CSRF_TRUSTED_ORIGINS": "https://support.example.ru",
    "BEHIND_TLS_PROXY": "true",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "DATABASE_URL": "postgres://enigma:x@127.0.0.1:1/enigma",
    "REDIS_URL": "redis://127.0.0.1:1/0",
}


def test_check_deploy_is_clean_with_the_production_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG", "SECRET_KEY", "SECURE_"))}
    env.update(PRODUCTION_ENV)
    result = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_list_count_is_cached_briefly(api, settings):
    from django.core.cache import cache

    cache.clear()
    settings.API_COUNT_CACHE_SECONDS = 60
    make_tickets(2)
    assert api.get("/api/v1/tickets/").json()["count"] == 2
    make_tickets(1, prefix="Ещё")
    body = api.get("/api/v1/tickets/").json()
    assert body["count"] == 2 and len(body["results"]) == 3  # rows fresh, total from the cache
    assert api.get("/api/v1/tickets/", {"status": "draft_ready"}).json()["count"] == 3  # another query: counted
    cache.clear()


def test_fast_list_rows_equal_the_generic_serializer(staff):
    from tickets import selectors
    from tickets.api.serializers import TicketListSerializer

    make_tickets(2, assignee=staff)
    Ticket.objects.filter(pk=Ticket.objects.first().pk).update(first_response_at=timezone.now(), sentiment="",
                                                              sentiment_score=0.25, contact=None, assignee=None)
    serializer = TicketListSerializer()
    for ticket in selectors.ticket_list():
        assert serializer.to_representation(ticket) == serializer.slow_representation(ticket)


def test_search_expressions_match_the_migrations_indexes():
    import importlib

    from tickets import selectors

    migration = importlib.import_module("tickets.migrations.0002_search_indexes")
    for name in ("TICKET_DOCUMENT_SQL", "MESSAGE_DOCUMENT_SQL", "PHONE_KEY_SQL"):
        assert getattr(migration, name) == getattr(selectors, name), name


def test_staff_without_permissions_sees_no_customer_mail(db, eml, redis_conn):
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    bare = get_user_model().objects.create_user("bare-staff", password="pw", is_staff=True)
    client = APIClient()
    client.force_authenticate(bare)
    assert client.get("/api/v1/tickets/").status_code == 403
    assert client.get(f"/api/v1/tickets/{ticket.pk}/").status_code == 403
    assert client.post(f"/api/v1/tickets/{ticket.pk}/reply/", {"text": "x"}, format="json").status_code == 403
    assert not ticket.outbound_emails.exists()
