import shutil
from pathlib import Path

import pytest

from knowledge.services import SAMPLE_KB_DIR
from knowledge.tests.ai_server import FakeOpenAI


@pytest.fixture
def index_dir(tmp_path, settings):
    """A throw-away FAISS_INDEX_DIR (the live index cache follows the setting)."""
    settings.FAISS_INDEX_DIR = tmp_path / "faiss_index"
    settings.KNOWLEDGE_DIR = tmp_path / "no-such-dir"
    return settings.FAISS_INDEX_DIR


@pytest.fixture
def kb_dir(tmp_path):
    """A copy of the shipped sample manuals that a test may change."""
    target = tmp_path / "kb"
    shutil.copytree(SAMPLE_KB_DIR, target, ignore=shutil.ignore_patterns("*.py", "*.json", "__pycache__"))
    return target


@pytest.fixture
def sample_index(db, index_dir):
    from knowledge.services import knowledge_index_build

    return knowledge_index_build(SAMPLE_KB_DIR)


@pytest.fixture(scope="session")
def _built_sample_index(django_db_setup, django_db_blocker, tmp_path_factory):
    """The sample KB indexed once per test session (its database rows rolled back)."""
    from django.db import transaction
    from django.test import override_settings

    from knowledge.services import knowledge_index_build

    root = tmp_path_factory.mktemp("sample-index") / "faiss_index"
    with django_db_blocker.unblock(), transaction.atomic(), override_settings(FAISS_INDEX_DIR=root):
        knowledge_index_build(SAMPLE_KB_DIR)
        transaction.set_rollback(True)
    return root


@pytest.fixture
def search_index(_built_sample_index, index_dir):
    """A searchable copy of the sample index (for tests that search, not build)."""
    shutil.copytree(_built_sample_index, index_dir)
    return index_dir


@pytest.fixture
def ai_server(settings):
    server = FakeOpenAI().start()
    settings.AI_BASE_URL = server.base_url
    settings.AI_API_KEY = "test-key"
    settings.AI_MODEL = "test-model"
    settings.AI_TIMEOUT = 2.0
    settings.AI_RETRIES = 2
    settings.AI_RETRY_BACKOFF = 0.01
    settings.AI_ALLOW_PERSONAL_DATA = False
    yield server
    server.stop()


def blank_pdf(path: Path, pages: int = 2) -> Path:
    """A PDF with pages but no text layer (as a scan without OCR)."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    with open(path, "wb") as fh:
        writer.write(fh)
    return path
