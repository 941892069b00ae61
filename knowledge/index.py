"""The on-disk knowledge index: FAISS (dense) + BM25 over lemmas, fused by RRF.

Layout under ``FAISS_INDEX_DIR``::

    CURRENT            name of the live version directory (replaced atomically)
    v-<stamp>/         index.faiss, chunks.json (text, page, lemmas), meta.json
    .tmp-*/            a version being written (never read)
    .build.lock        one build at a time

A build writes a complete new version into ``.tmp-*``, renames it to ``v-*`` and then
atomically replaces ``CURRENT`` (``os.replace``), so a reader sees the old index or the new
one, never half of either. Readers resolve ``CURRENT`` once and load the whole version into
memory; the previous version is kept for readers still loading it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shutil
import tempfile
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from knowledge.text import tokens as text_tokens

FORMAT = 1
RRF_K = 60
BM25_K1 = 1.5
BM25_B = 0.75
KEEP_VERSIONS = 2


class IndexNotBuilt(Exception):
    def __init__(self, root: Path):
        super().__init__(f"Индекс базы знаний не построен ({root}): выполните manage.py build_knowledge_index")


class IndexMismatch(Exception):
    """The index was built with another embeddings backend."""


@dataclass
class StoredChunk:
    doc: str        # document key (doc<pk>)
    title: str
    file: str
    page: int       # 1-based
    text: str
    tokens: list[str] = field(default_factory=list)


@dataclass
class Hit:
    document: str
    file: str
    document_key: str
    page: int
    text: str
    score: float        # fused RRF score
    similarity: float   # cosine similarity of the dense match
    bm25: float

    def as_dict(self) -> dict:
        return {"document": self.document, "file": self.file, "page": self.page, "text": self.text,
                "score": round(self.score, 5), "similarity": round(self.similarity, 4), "bm25": round(self.bm25, 3)}


class BM25:
    """Okapi BM25 over an inverted index (non-negative IDF, as Lucene)."""

    def __init__(self, docs: list[list[str]]):
        self.n = len(docs)
        self.lengths = np.array([len(d) for d in docs], dtype=np.float32)
        self.avg = float(self.lengths.mean()) if self.n else 0.0
        postings: dict[str, dict[int, int]] = defaultdict(dict)
        for i, doc in enumerate(docs):
            for token in doc:
                postings[token][i] = postings[token].get(i, 0) + 1
        self.postings = {
            t: (np.fromiter(p.keys(), dtype=np.int32, count=len(p)), np.fromiter(p.values(), dtype=np.float32, count=len(p)))
            for t, p in postings.items()
        }
        self.norm = BM25_K1 * (1 - BM25_B + BM25_B * self.lengths / max(self.avg, 1e-9))

    def scores(self, query: list[str]) -> np.ndarray:
        out = np.zeros(self.n, dtype=np.float32)
        for token in set(query):
            posting = self.postings.get(token)
            if posting is None:
                continue
            ids, tf = posting
            idf = math.log(1 + (self.n - len(ids) + 0.5) / (len(ids) + 0.5))
            weight = idf * (1.0 if not token.startswith("~") else 0.5)  # stems count half
            out[ids] += weight * tf * (BM25_K1 + 1) / (tf + self.norm[ids])
        return out


class KnowledgeIndex:
    def __init__(self, path: Path, meta: dict, chunks: list[StoredChunk], faiss_index):
        self.path = path
        self.meta = meta
        self.chunks = chunks
        self.faiss = faiss_index
        self.bm25 = BM25([c.tokens for c in chunks])

    @property
    def embeddings_name(self) -> str:
        return self.meta["embeddings"]

    @classmethod
    def load(cls, path: Path) -> "KnowledgeIndex":
        import faiss

        meta = json.loads((path / "meta.json").read_text("utf-8"))
        if meta.get("format") != FORMAT:
            raise IndexMismatch(f"формат индекса {meta.get('format')} не поддерживается: перестройте индекс (--rebuild)")
        chunks = [StoredChunk(**row) for row in json.loads((path / "chunks.json").read_text("utf-8"))]
        return cls(path, meta, chunks, faiss.read_index(str(path / "index.faiss")))

    def vectors(self) -> np.ndarray:
        if self.faiss.ntotal == 0:
            return np.zeros((0, self.meta["dim"]), dtype=np.float32)
        return self.faiss.reconstruct_n(0, self.faiss.ntotal)

    def search(self, query: str, k: int, query_vector: np.ndarray, *, per_page: bool = True) -> list[Hit]:
        n = len(self.chunks)
        if not n or not query.strip():
            return []
        depth = min(n, max(50, k * 10))
        similarities, ids = self.faiss.search(query_vector.reshape(1, -1).astype(np.float32), depth)
        dense_rank = [int(i) for i in ids[0] if i >= 0]
        similarity = {int(i): float(s) for i, s in zip(ids[0], similarities[0]) if i >= 0}

        bm25 = self.bm25.scores(text_tokens(query))
        positive = np.flatnonzero(bm25 > 0)
        top = positive[np.argsort(-bm25[positive], kind="stable")][:depth]
        bm25_rank = [int(i) for i in top]

        fused: dict[int, float] = defaultdict(float)
        for ranking in (dense_rank, bm25_rank):
            for rank, idx in enumerate(ranking, start=1):
                fused[idx] += 1.0 / (RRF_K + rank)

        hits: list[Hit] = []
        seen_pages: set[tuple[str, int]] = set()
        for idx, score in sorted(fused.items(), key=lambda item: (-item[1], item[0])):
            chunk = self.chunks[idx]
            if per_page:
                if (chunk.doc, chunk.page) in seen_pages:
                    continue
                seen_pages.add((chunk.doc, chunk.page))
            if idx not in similarity:
                vector = self.faiss.reconstruct(idx)
                similarity[idx] = float(np.dot(vector, query_vector.reshape(-1)))
            hits.append(Hit(document=chunk.title, file=chunk.file, document_key=chunk.doc, page=chunk.page,
                            text=chunk.text, score=score, similarity=similarity[idx], bm25=float(bm25[idx])))
            if len(hits) >= k:
                break
        return hits


# --- storage -------------------------------------------------------------------------------

def current_version(root: Path) -> Path | None:
    try:
        name = (root / "CURRENT").read_text("utf-8").strip()
    except FileNotFoundError:
        return None
    path = root / name
    return path if name and path.is_dir() else None


@contextlib.contextmanager
def build_lock(root: Path):
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_version(root: Path, meta: dict, chunks: list[StoredChunk], vectors: np.ndarray) -> Path:
    """Write a complete index aside, then swap it in atomically. Returns the new version dir."""
    import faiss

    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    try:
        index = faiss.IndexFlatIP(int(meta["dim"]))
        if len(vectors):
            index.add(np.ascontiguousarray(vectors, dtype=np.float32))
        faiss.write_index(index, str(tmp / "index.faiss"))
        (tmp / "chunks.json").write_text(json.dumps([asdict(c) for c in chunks], ensure_ascii=False), "utf-8")
        (tmp / "meta.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1), "utf-8")
        for name in ("index.faiss", "chunks.json", "meta.json"):
            with open(tmp / name, "rb") as fh:
                os.fsync(fh.fileno())
        version = root / f"v-{time.strftime('%Y%m%dT%H%M%S')}-{tmp.name[-8:]}"
        os.rename(tmp, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    pointer = root / f".CURRENT.{os.getpid()}"
    pointer.write_text(version.name, "utf-8")
    os.replace(pointer, root / "CURRENT")
    _prune(root, keep=version.name)
    return version


def _prune(root: Path, keep: str) -> None:
    versions = sorted((p for p in root.glob("v-*") if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    survivors = {keep} | {p.name for p in versions[:KEEP_VERSIONS]}
    for path in versions:
        if path.name not in survivors:
            shutil.rmtree(path, ignore_errors=True)
    for path in root.glob(".tmp-*"):
        if time.time() - path.stat().st_mtime > 3600:  # left by a crashed build
            shutil.rmtree(path, ignore_errors=True)
