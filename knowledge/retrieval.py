"""The live index, loaded lazily once per process and reloaded when a build swaps it."""

from __future__ import annotations

import threading
from pathlib import Path

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from knowledge.index import IndexNotBuilt, KnowledgeIndex, current_version

_lock = threading.Lock()
_cached: KnowledgeIndex | None = None


def get_index() -> KnowledgeIndex:
    """The current on-disk index. Costs one tiny file read per call to notice a new
    version (``CURRENT`` is replaced atomically by a build)."""
    global _cached
    root = Path(settings.FAISS_INDEX_DIR)
    version = current_version(root)
    if version is None:
        raise IndexNotBuilt(root)
    cached = _cached
    if cached is not None and cached.path == version:
        return cached
    with _lock:
        if _cached is None or _cached.path != version:
            try:
                _cached = KnowledgeIndex.load(version)
            except FileNotFoundError:
                # Two quick builds pruned the version we resolved: take the newest one.
                version = current_version(root)
                if version is None:
                    raise IndexNotBuilt(root) from None
                _cached = KnowledgeIndex.load(version)
        return _cached


def reset_index_cache() -> None:
    global _cached
    with _lock:
        _cached = None


@receiver(setting_changed)
def _reset(*, setting, **kwargs):
    if setting in ("FAISS_INDEX_DIR", "EMBEDDINGS_BACKEND"):
        reset_index_cache()


def warm_up() -> dict:
    """Load the embeddings model and the current index now (a worker calls this before it
    forks a child per job, so drafts do not load them again each time)."""
    import time

    from knowledge.embeddings import get_embeddings

    started = time.perf_counter()
    get_embeddings().embed(["прогрев"])
    try:
        get_index()
        index = "loaded"
    except IndexNotBuilt:
        index = "not built"
    return {"ms": round((time.perf_counter() - started) * 1000, 1), "index": index}
