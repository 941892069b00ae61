import io
import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from knowledge.services import SAMPLE_KB_DIR

pytestmark = pytest.mark.django_db


def test_build_command_reports_and_search_command_prints_json(index_dir, kb_dir):
    from knowledge.tests.conftest import blank_pdf

    blank_pdf(kb_dir / "scan.pdf")
    out, err = io.StringIO(), io.StringIO()
    call_command("build_knowledge_index", "--source", str(kb_dir), stdout=out, stderr=err)
    assert "НЕ ПРОИНДЕКСИРОВАН scan.pdf" in out.getvalue()
    assert "проиндексировано 4" in out.getvalue()
    assert "Эмбеддинги" in err.getvalue()  # the progress bar

    out = io.StringIO()
    call_command("search_knowledge", "ошибка F5 Modbus", "-k", "2", "--json", stdout=out)
    hits = json.loads(out.getvalue())
    assert len(hits) == 2 and hits[0]["file"] == "gazoskan-200.pdf" and hits[0]["page"] == 4
    assert set(hits[0]) >= {"document", "page", "text", "score"}


def test_search_command_jsonl(search_index, monkeypatch):
    lines = '{"query": "ЭКОТЕСТ-3 Er1"}\n{"query": "гарантия ГАЗОСКАН-200", "k": 1}\nnot json\n'
    monkeypatch.setattr("sys.stdin", io.StringIO(lines))
    out = io.StringIO()
    call_command("search_knowledge", "--jsonl", "-k", "3", stdout=out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(rows) == 3 and len(rows[0]) == 3 and len(rows[1]) == 1
    assert rows[0][0]["page"] == 3 and rows[1][0]["page"] == 6
    assert "error" in rows[2]


@pytest.fixture
def staff_client():
    user = get_user_model().objects.create_user("staff", password="x", is_staff=True)
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.mark.urls("knowledge.tests.urls")
def test_api_search_for_staff_only(search_index, staff_client):
    url = "/api/v1/knowledge/search/"
    assert APIClient().get(url, {"q": "поверка"}).status_code in (401, 403)
    customer = get_user_model().objects.create_user("customer", password="x")
    client = APIClient()
    client.force_authenticate(customer)
    assert client.get(url, {"q": "поверка"}).status_code == 403

    response = staff_client.get(url, {"q": "Сигнал-4М ошибка E02", "k": 2})
    assert response.status_code == 200
    body = response.json()
    assert len(body["results"]) == 2
    assert body["results"][0]["file"] == "signal-4m.pdf" and body["results"][0]["page"] == 4
    assert staff_client.get(url).status_code == 400
    assert staff_client.get(url, {"q": "x", "k": 500}).status_code == 400


@pytest.mark.urls("knowledge.tests.urls")
def test_api_without_index_is_503(index_dir, staff_client):
    response = staff_client.get("/api/v1/knowledge/search/", {"q": "поверка"})
    assert response.status_code == 503 and "build_knowledge_index" in response.json()["detail"]


def test_openai_compatible_embeddings_backend(ai_server, settings):
    from knowledge.embeddings import make_embeddings

    backend = make_embeddings("openai:text-embedding-test")
    vectors = backend.embed(["раз", "два три"])
    assert vectors.shape == (2, 3)
    assert ai_server.requests[-1]["path"] == "/v1/embeddings"
    assert ai_server.requests[-1]["body"]["input"] == ["раз", "два три"]


def test_admin_upload_queues_an_index_build(client, redis_conn, settings, tmp_path, django_capture_on_commit_callbacks):
    import django_rq

    from knowledge.models import KnowledgeDocument

    settings.MEDIA_ROOT = tmp_path / "media"
    admin = get_user_model().objects.create_superuser("admin", "a@example.com", "x")
    client.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        with open(SAMPLE_KB_DIR / "ekotest-3.pdf", "rb") as fh:
            response = client.post("/admin/knowledge/knowledgedocument/add/", {"title": "", "file": fh})
    assert response.status_code == 302, response.content[:2000]
    doc = KnowledgeDocument.objects.get()
    assert doc.status == "pending" and doc.file.name.endswith(".pdf")
    assert [job.func_name for job in django_rq.get_queue("default").jobs] == ["knowledge.jobs.build_index"]

    bad = io.BytesIO(b"not a pdf")
    bad.name = "x.pdf"
    response = client.post("/admin/knowledge/knowledgedocument/add/", {"title": "", "file": bad})
    assert response.status_code == 200 and "Это не PDF-файл" in response.content.decode()
