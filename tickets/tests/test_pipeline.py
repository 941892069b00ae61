"""The whole chain on one real mail: IMAP-style ingestion → NLP job → AI draft job → reply → SMTP.

Real PostgreSQL, Redis (RQ jobs run by a worker in burst mode), the OpenAI-compatible test
server from knowledge/tests and aiosmtpd. Checks the personal-data promises on the way.
"""

import json
import shutil
import time
from pathlib import Path

import pytest

from conftest import make_operator
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from knowledge.tests.ai_server import FakeOpenAI
from tickets.ingest.store import ingest_raw
from tickets.models import ProcessingRun, Ticket

pytestmark = pytest.mark.django_db(transaction=True)

DEMO_MAIL = Path(__file__).resolve().parents[2] / "demo" / "mailbox" / "01.eml"


@pytest.fixture
def ai(settings):
    server = FakeOpenAI().start()
    settings.AI_BASE_URL, settings.AI_API_KEY, settings.AI_MODEL = server.base_url, "k", "test-model"
    settings.AI_TIMEOUT, settings.AI_RETRIES, settings.AI_RETRY_BACKOFF = 2.0, 0, 0.01
    settings.AI_ALLOW_PERSONAL_DATA = False
    yield server
    server.stop()


@pytest.fixture
def knowledge_index(settings, tmp_path):
    from knowledge.services import SAMPLE_KB_DIR, knowledge_index_build

    settings.FAISS_INDEX_DIR = tmp_path / "faiss"
    settings.KNOWLEDGE_DIR = tmp_path / "kb"
    shutil.copytree(SAMPLE_KB_DIR, settings.KNOWLEDGE_DIR, ignore=shutil.ignore_patterns("*.py", "*.json"))
    knowledge_index_build(settings.KNOWLEDGE_DIR)


def drain(run_jobs, queue="nlp", rounds=5):
    import django_rq

    for _ in range(rounds):
        if not django_rq.get_queue(queue).count:
            return
        run_jobs(queue)


def test_mail_to_answer(redis_conn, run_jobs, ai, knowledge_index, smtp_server, settings):
    ticket = ingest_raw(DEMO_MAIL.read_bytes()).ticket
    drain(run_jobs)  # process_ticket (NLP) queues draft_ticket, which the next round runs

    ticket.refresh_from_db()
    assert ticket.device_type == "АНКАТ-7664Микро" and ticket.device_serial == "12345"
    assert ticket.full_name.startswith("Петров Сергей")
    assert ticket.phone.startswith("+79123456789")
    assert "Теплосеть-Урал" in ticket.company
    assert ticket.sentiment in ("negative", "neutral") and ticket.sentiment_backend
    assert "+7 (912)" not in ticket.masked_text and "Петров" not in ticket.masked_text
    assert ticket.status == Ticket.Status.DRAFT_READY and ticket.draft_kind == "ai"
    assert ticket.llm_response.startswith("Здравствуйте, Сергей Иванович!")  # re-personalised locally
    assert {run.stage for run in ProcessingRun.objects.filter(ticket=ticket)} >= {"nlp", "draft"}

    # Nothing personal left the company.
    prompts = "\n".join(ai.prompts())
    for secret in ("Петров", "Сергей", "345-67-89", "9123456789", "s.petrov@teploset-ural.ru"):
        assert secret not in prompts
    assert "АНКАТ-7664Микро" in prompts and "12345" in prompts  # the AI needs device and serial

    staff = make_operator("eng")
    client = APIClient()
    client.force_authenticate(staff)
    assert client.post(f"/api/v1/tickets/{ticket.pk}/reply/", {}, format="json").status_code == 202
    drain(run_jobs, "default")
    [mail] = smtp_server.messages
    assert mail["To"] == "s.petrov@teploset-ural.ru"
    assert mail.get_body(("plain",)).get_content().startswith("Здравствуйте, Сергей Иванович!")
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ANSWERED and ticket.processed


def test_events_of_the_chain_carry_no_personal_data(redis_conn, run_jobs, settings):
    settings.AI_BASE_URL = ""
    settings.EVENTS_CHANNEL = "enigma:events:test-pipeline"
    pubsub = redis_conn.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(settings.EVENTS_CHANNEL)
    ticket = ingest_raw(DEMO_MAIL.read_bytes()).ticket
    drain(run_jobs)
    events, deadline = [], time.monotonic() + 3
    while time.monotonic() < deadline:
        if message := pubsub.get_message(timeout=0.2):
            events.append(json.loads(message["data"]))
    names = [e["event"] for e in events]
    assert names[0] == "ticket.created" and "ticket.draft_ready" in names
    assert all(e["ticket_id"] == ticket.pk and e["number"] == ticket.number for e in events)
    text = json.dumps(events, ensure_ascii=False)
    for secret in ("Петров", "345-67-89", "s.petrov@", "Теплосеть"):
        assert secret not in text
    ready = next(e for e in events if e["event"] == "ticket.draft_ready")
    assert ready["device_type"] == "АНКАТ-7664Микро" and ready["summary"]  # useful, yet masked
