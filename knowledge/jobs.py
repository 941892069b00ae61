"""RQ jobs of the knowledge app (ids in, services called)."""

import logging

import django_rq
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

QUEUE = "default"


def build_index() -> dict:
    from knowledge.services import knowledge_index_build

    report = knowledge_index_build()
    return {"indexed": report.indexed, "unchanged": len(report.unchanged), "no_text": report.no_text,
            "failed": report.failed, "chunks": report.chunks, "version": str(report.version or "")}


def enqueue_index_build() -> str | None:
    """Queue an index build (after an upload in the admin). None when Redis is down."""
    try:
        return django_rq.get_queue(QUEUE).enqueue(build_index, job_timeout=3600).id
    except (RedisError, OSError) as exc:
        logger.error("could not queue the knowledge index build: %s", exc)
        return None
