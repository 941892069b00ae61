from knowledge.pdf import read_pdf, text_problem
from knowledge.services import SAMPLE_KB_DIR
from knowledge.tests.conftest import blank_pdf
from knowledge.text import split_page, tokens


def test_sample_manual_reads_with_title_and_pages():
    pdf = read_pdf(SAMPLE_KB_DIR / "signal-4m.pdf")
    assert pdf.ok
    assert pdf.title.startswith("Газоанализатор портативный «Сигнал-4М»")
    assert len(pdf.pages) == 6
    assert "E05" in pdf.pages[3]
    assert "стр. 4" not in pdf.pages[3]  # running footer removed


def test_chunks_keep_their_page_and_stay_within_size():
    pdf = read_pdf(SAMPLE_KB_DIR / "gazoskan-200.pdf")
    chunks = [c for n, text in enumerate(pdf.pages, start=1) for c in split_page(text, n, size=300, overlap=80)]
    assert {c.page for c in chunks} == set(range(1, 7))
    assert all(len(c.text) <= 300 for c in chunks)
    assert any("F5" in c.text and c.page == 4 for c in chunks)


def test_lemmas_join_inflections_and_word_families():
    assert "поверка" in tokens("поверку и поверки")
    assert set(tokens("межповерочный")) & set(tokens("поверка"))  # shared stem token
    assert {"сигнал-4м", "сигнал", "4м"} <= set(tokens("Сигнал-4М"))


def test_pdf_without_text_layer_is_reported(tmp_path):
    pdf = read_pdf(blank_pdf(tmp_path / "scan.pdf"))
    assert not pdf.ok
    assert "нет текстового слоя" in pdf.problem


def test_garbage_text_without_tounicode_is_reported():
    garbage = ["\ue001\ue002\ue003 \ue004\ue005" * 40 + " abc def ghi jkl mno pqr stu vwx yz abcd efgh ijk lmnop"]
    assert "ToUnicode" in text_problem(garbage)
    assert text_problem(["Нормальный русский текст руководства по эксплуатации прибора."]) == ""
