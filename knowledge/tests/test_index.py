import shutil

import pytest

from knowledge.index import IndexNotBuilt, current_version
from knowledge.models import KnowledgeDocument
from knowledge.retrieval import get_index
from knowledge.services import knowledge_index_build, knowledge_search
from knowledge.tests.conftest import blank_pdf

pytestmark = pytest.mark.django_db


def test_build_indexes_every_page_and_search_cites_document_and_page(sample_index):
    assert len(sample_index.indexed) == 4 and sample_index.pages == 21 and sample_index.chunks >= 21
    assert KnowledgeDocument.objects.filter(status="indexed").count() == 4
    hits = knowledge_search("Какой межповерочный интервал у Сигнал-4М?", 3)
    assert hits[0].document.startswith("Газоанализатор портативный «Сигнал-4М»") and hits[0].page == 5
    assert all(h.text and h.score > 0 for h in hits)


def test_morphology_finds_poverka_from_mezhpoverochny(search_index):
    # the question says «поверять», the manual «межповерочный интервал» / «поверке»
    pages = [(h.file, h.page) for h in knowledge_search("как часто поверять ГАЗОСКАН", 3)]
    assert ("gazoskan-200.pdf", 5) in pages


def test_unchanged_files_are_not_reembedded_and_index_is_kept(sample_index, index_dir):
    from knowledge.services import SAMPLE_KB_DIR

    live = current_version(index_dir)
    again = knowledge_index_build(SAMPLE_KB_DIR)
    assert again.indexed == [] and len(again.unchanged) == 4
    assert not again.changed and current_version(index_dir) == live


def test_changed_and_new_files_are_indexed_incrementally_and_swapped_in(db, index_dir, kb_dir):
    first = knowledge_index_build(kb_dir)
    before = get_index()
    shutil.copy(kb_dir / "ekotest-3.pdf", kb_dir / "ekotest-3-copy.pdf")
    (kb_dir / "service-regulations.pdf").unlink()
    second = knowledge_index_build(kb_dir)
    assert second.indexed == ["ekotest-3-copy.pdf"]
    assert sorted(second.unchanged) == ["ekotest-3.pdf", "gazoskan-200.pdf", "signal-4m.pdf"]
    assert second.missing == ["service-regulations.pdf"]
    assert second.version != first.version
    after = get_index()  # the cached index notices the swap
    assert after is not before and after.path == second.version
    assert {c.file for c in after.chunks} == {"ekotest-3.pdf", "ekotest-3-copy.pdf", "gazoskan-200.pdf", "signal-4m.pdf"}
    assert KnowledgeDocument.objects.get(source_path__endswith="service-regulations.pdf").status == "missing"
    rebuilt = knowledge_index_build(kb_dir, rebuild=True)
    assert len(rebuilt.indexed) == 4 and rebuilt.changed


def test_pdf_without_text_is_reported_not_indexed(db, index_dir, kb_dir):
    blank_pdf(kb_dir / "scan.pdf")
    report = knowledge_index_build(kb_dir)
    assert [name for name, _ in report.no_text] == ["scan.pdf"]
    doc = KnowledgeDocument.objects.get(source_path__endswith="scan.pdf")
    assert doc.status == "no_text" and "текстового слоя" in doc.error and doc.chunks == 0
    assert "scan.pdf" not in {c.file for c in get_index().chunks}


def test_broken_pdf_is_reported_as_failed(db, index_dir, kb_dir):
    (kb_dir / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    report = knowledge_index_build(kb_dir)
    assert [name for name, _ in report.failed] == ["broken.pdf"]
    assert len(report.indexed) == 4


def test_search_without_index_says_how_to_build_it(db, index_dir):
    with pytest.raises(IndexNotBuilt, match="build_knowledge_index"):
        knowledge_search("поверка", 3)


def test_uploaded_document_is_indexed(db, index_dir, settings, tmp_path):
    from django.core.files.base import ContentFile

    from knowledge.services import SAMPLE_KB_DIR

    settings.MEDIA_ROOT = tmp_path / "media"
    doc = KnowledgeDocument(title="Загруженное руководство ЭКОТЕСТ")
    doc.file.save("ekotest.pdf", ContentFile((SAMPLE_KB_DIR / "ekotest-3.pdf").read_bytes()))
    report = knowledge_index_build(tmp_path / "empty")
    assert report.indexed == ["ekotest.pdf"]
    hits = knowledge_search("ошибка Er1 насос", 1)
    assert hits[0].document == "Загруженное руководство ЭКОТЕСТ" and hits[0].page == 3


def test_worker_warm_up_loads_the_index_once_it_exists(db, index_dir, search_index):
    from knowledge.retrieval import get_index, warm_up

    assert warm_up()["index"] == "loaded"
    assert get_index() is get_index()  # cached for the forked children


def test_worker_warm_up_without_an_index(db, index_dir):
    from knowledge.retrieval import warm_up

    assert warm_up()["index"] == "not built"
