"""Knowledge workflows: build the index from the documents, search it.

``knowledge_index_build`` is the one core behind the management command, the admin action
and the RQ job; ``knowledge_search`` behind the command, the API and the drafting.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from django.conf import settings
from django.utils import timezone

from knowledge import index as kindex
from knowledge.embeddings import get_embeddings
from knowledge.models import KnowledgeDocument
from knowledge.pdf import PdfError, file_sha256, read_pdf
from knowledge.text import split_page, tokens

logger = logging.getLogger(__name__)

SAMPLE_KB_DIR = Path(__file__).resolve().parent / "sample_kb"
EMBED_BATCH = 64

# progress(description, total) -> an object with update(n) and close() (tqdm fits).
ProgressFactory = Callable[[str, int], object]


@dataclass
class BuildReport:
    source: Path
    indexed: list[str] = field(default_factory=list)     # (re)read and embedded now
    unchanged: list[str] = field(default_factory=list)   # reused from the previous index
    no_text: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pages: int = 0          # pages in the new index
    pages_read: int = 0     # pages read and embedded by this build
    chunks: int = 0
    seconds: float = 0.0
    version: Path | None = None  # None: nothing changed, the live index was kept
    used_sample: bool = False

    @property
    def changed(self) -> bool:
        return self.version is not None


def default_source() -> tuple[Path, bool]:
    """``KNOWLEDGE_DIR``; the shipped sample manuals while that folder does not exist."""
    configured = Path(settings.KNOWLEDGE_DIR)
    if configured.exists():
        return configured, False
    return SAMPLE_KB_DIR, True


def _null_progress(description: str, total: int):
    class _Null:
        def update(self, n=1):
            pass

        def close(self):
            pass

    return _Null()


def _collect_documents(source: Path, report: BuildReport) -> list[KnowledgeDocument]:
    """PDFs in the source folder (rows created on first sight) plus the admin uploads."""
    found = sorted(p.resolve() for p in source.rglob("*") if p.is_file() and p.suffix.lower() == ".pdf") \
        if source.is_dir() else []
    docs = []
    for path in found:
        doc, _ = KnowledgeDocument.objects.get_or_create(source_path=str(path))
        docs.append(doc)
    seen = {doc.pk for doc in docs}
    for doc in KnowledgeDocument.objects.exclude(file="").exclude(pk__in=seen):
        docs.append(doc)
        seen.add(doc.pk)
    # Folder documents not found in this run's source leave the index.
    for doc in KnowledgeDocument.objects.filter(file="").exclude(pk__in=seen):
        if doc.status != KnowledgeDocument.Status.MISSING or doc.chunks:
            doc.status, doc.chunks, doc.error = KnowledgeDocument.Status.MISSING, 0, "Файл не найден при последней индексации."
            doc.save(update_fields=["status", "chunks", "error", "updated_at"])
        report.missing.append(doc.name)
    return docs


def _doc_path(doc: KnowledgeDocument) -> Path:
    return Path(doc.source_path) if doc.source_path else Path(doc.file.path)


def knowledge_index_build(source: Path | str | None = None, *, rebuild: bool = False,
                          progress: ProgressFactory | None = None) -> BuildReport:
    """Bring the index in line with the documents. Unchanged files (same SHA-256, same
    embeddings backend) reuse their chunks and vectors; the new index is written aside and
    swapped in atomically. Files without usable text are reported and left out."""
    import numpy as np

    started = time.perf_counter()
    progress = progress or _null_progress
    used_sample = False
    if source is None:
        source, used_sample = default_source()
    source = Path(source)
    report = BuildReport(source=source, used_sample=used_sample)
    root = Path(settings.FAISS_INDEX_DIR)
    embeddings = get_embeddings()

    with kindex.build_lock(root):
        previous = None
        live = kindex.current_version(root)
        if live and not rebuild:
            try:
                previous = kindex.KnowledgeIndex.load(live)
                if previous.embeddings_name != embeddings.name:
                    logger.info("embeddings changed (%s → %s): re-embedding everything",
                                previous.embeddings_name, embeddings.name)
                    previous = None
            except Exception as exc:  # noqa: BLE001 - a broken old index only means a full build
                logger.warning("previous index at %s unreadable (%s): full build", live, exc)
                previous = None
        old_docs = previous.meta.get("documents", {}) if previous else {}
        old_vectors = previous.vectors() if previous else None

        docs = _collect_documents(source, report)
        chunks: list[kindex.StoredChunk] = []
        vectors: list = []
        documents_meta: dict[str, dict] = {}
        to_embed: list[tuple[KnowledgeDocument, str, str, list[kindex.StoredChunk]]] = []

        bar = progress("Чтение PDF", len(docs))
        for doc in docs:
            name = doc.name
            try:
                path = _doc_path(doc)
                sha = file_sha256(path)
            except (OSError, ValueError) as exc:
                _mark(doc, KnowledgeDocument.Status.MISSING, f"Файл недоступен: {exc}")
                report.missing.append(name)
                bar.update(1)
                continue
            old = old_docs.get(doc.key)
            if (old and old["sha256"] == sha and doc.status == KnowledgeDocument.Status.INDEXED
                    and (not doc.title or doc.title == old["title"])):
                rows = [i for i, c in enumerate(previous.chunks) if c.doc == doc.key]
                title = doc.title or old["title"]
                for i in rows:
                    c = previous.chunks[i]
                    chunks.append(kindex.StoredChunk(doc=c.doc, title=title, file=name, page=c.page, text=c.text,
                                                     tokens=c.tokens))
                if rows:
                    vectors.append(old_vectors[rows])
                documents_meta[doc.key] = {**old, "title": title, "file": name}
                report.unchanged.append(name)
                bar.update(1)
                continue
            try:
                pdf = read_pdf(path, fallback_title=Path(name).stem)
            except PdfError as exc:
                _mark(doc, KnowledgeDocument.Status.FAILED, str(exc), sha=sha)
                report.failed.append((name, str(exc)))
                bar.update(1)
                continue
            if not pdf.ok:
                _mark(doc, KnowledgeDocument.Status.NO_TEXT, pdf.problem, sha=sha, pages=len(pdf.pages))
                report.no_text.append((name, pdf.problem))
                bar.update(1)
                continue
            title = doc.title or pdf.title
            doc_chunks: list[kindex.StoredChunk] = []
            for number, page_text in enumerate(pdf.pages, start=1):
                for piece in split_page(page_text, number):
                    doc_chunks.append(kindex.StoredChunk(doc=doc.key, title=title, file=name, page=number,
                                                         text=piece.text, tokens=tokens(f"{title} {piece.text}")))
            to_embed.append((doc, sha, title, doc_chunks))
            documents_meta[doc.key] = {"sha256": sha, "title": title, "file": name, "pages": len(pdf.pages),
                                       "chunks": len(doc_chunks)}
            report.pages_read += len(pdf.pages)
            bar.update(1)
        bar.close()

        new_chunks = [c for _, _, _, doc_chunks in to_embed for c in doc_chunks]
        if new_chunks:
            bar = progress("Эмбеддинги", len(new_chunks))
            for start in range(0, len(new_chunks), EMBED_BATCH):
                batch = new_chunks[start:start + EMBED_BATCH]
                vectors.append(embeddings.embed([f"{c.title}. {c.text}" for c in batch]))
                bar.update(len(batch))
            bar.close()
            chunks.extend(new_chunks)

        report.chunks = len(chunks)
        report.pages = sum(d["pages"] for d in documents_meta.values())
        same_docs = previous is not None and {k: v["sha256"] for k, v in old_docs.items()} == \
            {k: v["sha256"] for k, v in documents_meta.items()} and not new_chunks
        if not same_docs or rebuild:
            dim = vectors[0].shape[1] if vectors else (previous.meta["dim"] if previous else 512)
            matrix = np.vstack(vectors) if vectors else np.zeros((0, dim), dtype=np.float32)
            meta = {"format": kindex.FORMAT, "embeddings": embeddings.name, "dim": int(dim),
                    "built_at": timezone.now().isoformat(), "documents": documents_meta,
                    "chunks": len(chunks), "pages": report.pages}
            report.version = kindex.write_version(root, meta, chunks, matrix)

        now = timezone.now()
        for doc, sha, title, doc_chunks in to_embed:
            meta = documents_meta[doc.key]
            doc.sha256, doc.pages, doc.chunks = sha, meta["pages"], len(doc_chunks)
            doc.status, doc.error, doc.indexed_at = KnowledgeDocument.Status.INDEXED, "", now
            if not doc.title:
                doc.title = title
            doc.save(update_fields=["sha256", "pages", "chunks", "status", "error", "indexed_at", "title", "updated_at"])
        report.indexed = [doc.name for doc, _, _, _ in to_embed]

    report.seconds = time.perf_counter() - started
    return report


def _mark(doc: KnowledgeDocument, status: str, error: str, *, sha: str = "", pages: int | None = None) -> None:
    doc.status, doc.error, doc.chunks = status, error, 0
    fields = ["status", "error", "chunks", "updated_at"]
    if sha:
        doc.sha256 = sha
        fields.append("sha256")
    if pages is not None:
        doc.pages = pages
        fields.append("pages")
    doc.save(update_fields=fields)


def knowledge_search(query: str, k: int = 5) -> list[kindex.Hit]:
    from knowledge.retrieval import get_index

    index = get_index()
    embeddings = get_embeddings()
    if index.embeddings_name != embeddings.name:
        raise kindex.IndexMismatch(
            f"индекс построен моделью {index.embeddings_name}, а настроена {embeddings.name}: "
            "выполните build_knowledge_index")
    if not query.strip():
        return []
    return index.search(query, k, embeddings.embed([query])[0])
