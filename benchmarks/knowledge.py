"""Knowledge base benchmark: index build pages/s and search latency on a generated corpus.

    python benchmarks/knowledge.py [--pages 1000] [--queries 200]

Generates N pages of Russian manual text as real PDFs (reportlab + DejaVu font; needs
``pip install reportlab`` and Debian's fonts-dejavu-core), then runs the same code the site
runs: pypdf → page chunks → lemmas → embeddings (EMBEDDINGS_BACKEND, default USE) → FAISS
write + atomic swap, then hybrid search (query embedding + FAISS + BM25 + RRF) end to end.
The database bookkeeping of ``knowledge_index_build`` is left out (a few rows per PDF).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enigma_site.settings")
os.environ.setdefault("SECRET_KEY", "benchmark")
# No database or Redis is touched: keep settings from starting the embedded ones.
os.environ.setdefault("DATABASE_URL", "postgres://unused@127.0.0.1:1/unused")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:1/0")
os.environ.setdefault("LOG_LEVEL", "WARNING")

PAGES_PER_PDF = 50
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def generate_corpus(target: Path, pages: int, seed: int = 7) -> list[Path]:
    """PDFs of PAGES_PER_PDF pages, text recombined from the sample manuals with varied
    device names, codes and numbers (so pages differ)."""
    from reportlab import rl_config
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont
    from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate

    sys.path.insert(0, str(ROOT / "knowledge" / "sample_kb"))
    from manuals import MANUALS

    rl_config.invariant = 1
    pdfmetrics.registerFont(TTFont("KB", FONT))
    h_style = ParagraphStyle("h", fontName="KB", fontSize=12, leading=15, spaceAfter=6)
    p_style = ParagraphStyle("p", fontName="KB", fontSize=10, leading=13, spaceAfter=4)
    paragraphs = [text for m in MANUALS for page in m["pages"] for kind, text in page if kind == "p"]
    headings = [text for m in MANUALS for page in m["pages"] for kind, text in page if kind == "h2"]
    rng = random.Random(seed)
    files = []
    for number in range((pages + PAGES_PER_PDF - 1) // PAGES_PER_PDF):
        model = f"«{rng.choice(['Сигнал', 'Кварц', 'Метан', 'Сенсор', 'Газотест', 'Эталон'])}-{rng.randint(10, 999)}»"
        path = target / f"manual-{number:03d}.pdf"
        story = []
        count = min(PAGES_PER_PDF, pages - number * PAGES_PER_PDF)
        for page in range(count):
            if page:
                story.append(PageBreak())
            story.append(Paragraph(f"{model}: {rng.choice(headings)}", h_style))
            for text in rng.sample(paragraphs, 5):
                text = text.replace("«Сигнал-4М»", model).replace("«ГАЗОСКАН-200»", model)
                text = text.replace("E0", f"E{rng.randint(1, 9)}").replace("F", rng.choice("FGHK"))
                story.append(Paragraph(text, p_style))
        SimpleDocTemplate(str(path), pagesize=A4, title=f"Руководство {model} №{number}").build(story)
        files.append(path)
    return files


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args(argv)

    import django

    django.setup()
    import numpy as np

    from knowledge import index as kindex
    from knowledge.embeddings import get_embeddings
    from knowledge.pdf import read_pdf
    from knowledge.text import split_page, tokens

    work = Path(tempfile.mkdtemp(prefix="enigma-kb-bench-"))
    t0 = time.perf_counter()
    files = generate_corpus(work, args.pages)
    generate_s = time.perf_counter() - t0

    embeddings = get_embeddings()
    embeddings.embed(["прогрев модели"])  # load weights outside the timed build

    t0 = time.perf_counter()
    chunks, documents = [], {}
    for number, path in enumerate(files):
        pdf = read_pdf(path)
        key = f"doc{number}"
        for page_no, text in enumerate(pdf.pages, start=1):
            for piece in split_page(text, page_no):
                chunks.append(kindex.StoredChunk(doc=key, title=pdf.title, file=path.name, page=page_no,
                                                 text=piece.text, tokens=tokens(f"{pdf.title} {piece.text}")))
        documents[key] = {"sha256": "-", "title": pdf.title, "file": path.name, "pages": len(pdf.pages)}
    read_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    vectors = np.vstack([embeddings.embed([f"{c.title}. {c.text}" for c in chunks[i:i + 64]])
                         for i in range(0, len(chunks), 64)])
    embed_s = time.perf_counter() - t1
    t1 = time.perf_counter()
    root = work / "faiss_index"
    version = kindex.write_version(root, {"format": kindex.FORMAT, "embeddings": embeddings.name,
                                          "dim": int(vectors.shape[1]), "documents": documents}, chunks, vectors)
    write_s = time.perf_counter() - t1
    build_s = time.perf_counter() - t0

    t1 = time.perf_counter()
    index = kindex.KnowledgeIndex.load(version)
    load_s = time.perf_counter() - t1

    sys.path.insert(0, str(ROOT / "knowledge" / "sample_kb"))
    questions = [q["question"] for q in json.loads((ROOT / "knowledge" / "sample_kb" / "questions.json").read_text())]
    for q in questions[:5]:  # warm-up
        index.search(q, 5, embeddings.embed([q])[0])
    latencies = []
    for n in range(args.queries):
        query = questions[n % len(questions)]
        start = time.perf_counter()
        index.search(query, 5, embeddings.embed([query])[0])
        latencies.append((time.perf_counter() - start) * 1000)

    result = {
        "pages": args.pages, "pdfs": len(files), "chunks": len(chunks), "embeddings": embeddings.name,
        "generate_s": round(generate_s, 1), "build_s": round(build_s, 1),
        "build_pages_per_s": round(args.pages / build_s, 1),
        "read_chunk_lemmatize_s": round(read_s, 1), "embed_s": round(embed_s, 1), "write_s": round(write_s, 2),
        "load_s": round(load_s, 2), "queries": args.queries,
        "search_p50_ms": round(statistics.median(latencies), 2), "search_p95_ms": round(percentile(latencies, 0.95), 2),
        "python": platform.python_version(), "cpus": os.cpu_count(),
    }
    print(json.dumps(result, ensure_ascii=False, indent=1))
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return result


if __name__ == "__main__":
    main()
