"""``/metrics`` for Prometheus: django-prometheus's request/DB metrics plus Enigma's own.

Enigma's numbers are computed at scrape time from PostgreSQL and Redis (no hooks in the
ingestion, NLP, drafting or sending code): every mail, processing run and reply is a row, so
counters derived from row counts are exact, survive restarts and agree across web workers.
A scrape costs a few aggregate queries; the result is cached for ``METRICS_CACHE_SECONDS``.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time

from django.conf import settings
from django.http import HttpResponse

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _families() -> list:
    from django.db import connection
    from prometheus_client.core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        HistogramMetricFamily,
    )

    from tickets.models import OutboundEmail, Ticket
    from tickets.selectors import OPEN_STATUSES

    families = []
    with connection.cursor() as cursor:
        mails = CounterMetricFamily("enigma_mails_ingested", "Mails stored, by direction and parse status.",
                                    labels=["direction", "parse_status"])
        cursor.execute("SELECT direction, parse_status, count(*) FROM tickets_message GROUP BY 1, 2")
        for direction, parse_status, n in cursor.fetchall():
            mails.add_metric([direction, parse_status], n)
        families.append(mails)

        tickets = GaugeMetricFamily("enigma_tickets", "Tickets by status.", labels=["status"])
        cursor.execute("SELECT status, count(*) FROM tickets_ticket GROUP BY 1")
        counts = dict(cursor.fetchall())
        for status in Ticket.Status.values:
            tickets.add_metric([status], counts.get(status, 0))
        families.append(tickets)
        families.append(GaugeMetricFamily("enigma_open_backlog", "Tickets waiting for staff.",
                                          value=sum(counts.get(s, 0) for s in OPEN_STATUSES)))

        cursor.execute("SELECT status, count(*) FROM tickets_outboundemail GROUP BY 1")
        replies = dict(cursor.fetchall())
        families.append(CounterMetricFamily("enigma_replies_sent", "Replies delivered to the SMTP server.",
                                            value=replies.get(OutboundEmail.Status.SENT, 0)))
        families.append(CounterMetricFamily("enigma_replies_failed", "Replies that failed for good.",
                                            value=replies.get(OutboundEmail.Status.FAILED, 0)))
        pending = GaugeMetricFamily("enigma_replies_pending", "Replies queued or being sent.", labels=["status"])
        for status in (OutboundEmail.Status.QUEUED, OutboundEmail.Status.SENDING):
            pending.add_metric([status], replies.get(status, 0))
        families.append(pending)

        runs = CounterMetricFamily("enigma_processing_runs", "Processing stages run (nlp, draft), by outcome.",
                                   labels=["stage", "ok"])
        cursor.execute("SELECT stage, ok, count(*) FROM tickets_processingrun GROUP BY 1, 2")
        drafts_failed = 0
        for stage, ok, n in cursor.fetchall():
            runs.add_metric([stage, "true" if ok else "false"], n)
            if stage == "draft" and not ok:
                drafts_failed = n
        families.append(runs)
        families.append(CounterMetricFamily("enigma_drafts_failed", "AI draft attempts that failed.", value=drafts_failed))

        bucket_sql = ", ".join(f"count(*) FILTER (WHERE latency_ms <= {b * 1000:g})" for b in LATENCY_BUCKETS)
        cursor.execute(
            f"SELECT stage, {bucket_sql}, count(*), coalesce(sum(latency_ms), 0) FROM tickets_processingrun "
            "WHERE latency_ms IS NOT NULL GROUP BY stage"
        )
        latency = HistogramMetricFamily("enigma_processing_latency_seconds",
                                        "Latency of processing stages (nlp: analysis, draft: retrieval + AI).",
                                        labels=["stage"])
        for row in cursor.fetchall():
            stage, cumulative, total, total_ms = row[0], row[1:1 + len(LATENCY_BUCKETS)], row[-2], row[-1]
            buckets = [(f"{b:g}", n) for b, n in zip(LATENCY_BUCKETS, cumulative)] + [("+Inf", total)]
            latency.add_metric([stage], buckets, sum_value=float(total_ms) / 1000)
        families.append(latency)

        cursor.execute("SELECT max(last_success_at) FROM tickets_mailboxstate")
        (last_success,) = cursor.fetchone()
    if last_success is not None:
        from django.utils import timezone

        families.append(GaugeMetricFamily("enigma_mailbox_last_success_age_seconds",
                                          "Seconds since the last successful mailbox poll.",
                                          value=(timezone.now() - last_success).total_seconds()))
    families.extend(_queue_families())
    return families


def _queue_families() -> list:
    import django_rq
    from prometheus_client.core import GaugeMetricFamily
    from rq import Worker
    from rq.registry import FailedJobRegistry, StartedJobRegistry

    from enigma_site.health import QUEUES

    depth = GaugeMetricFamily("enigma_queue_depth", "Jobs waiting in an RQ queue.", labels=["queue"])
    started = GaugeMetricFamily("enigma_queue_started_jobs", "Jobs being executed.", labels=["queue"])
    failed = GaugeMetricFamily("enigma_queue_failed_jobs", "Jobs in the RQ failed registry.", labels=["queue"])
    workers = GaugeMetricFamily("enigma_rq_workers", "RQ workers registered.")
    up = GaugeMetricFamily("enigma_redis_up", "1 if Redis answered this scrape.")
    try:
        connection = None
        for name in QUEUES:
            queue = django_rq.get_queue(name)
            connection = queue.connection
            depth.add_metric([name], queue.count)
            started.add_metric([name], StartedJobRegistry(queue=queue).count)
            failed.add_metric([name], FailedJobRegistry(queue=queue).count)
        workers.add_metric([], Worker.count(connection=connection))
        up.add_metric([], 1)
        return [depth, started, failed, workers, up]
    except Exception as exc:
        logger.warning("metrics: Redis unavailable: %s", exc)
        up.add_metric([], 0)
        return [up]


def _event_families() -> list:
    """Ticket events published by this web process (the poller and workers count their own
    and log each failure; when Redis is down there is nowhere shared to count them)."""
    from prometheus_client.core import CounterMetricFamily

    from notifications import events

    return [
        CounterMetricFamily("enigma_events_published", "Ticket events published by this process.",
                            value=events.published_events),
        CounterMetricFamily("enigma_events_publish_failed", "Ticket events this process could not publish.",
                            value=events.failed_publishes),
    ]


class EnigmaCollector:
    """A prometheus_client collector; values are cached briefly so parallel scrapers are cheap."""

    def __init__(self):
        self._lock = threading.Lock()
        self._cached: tuple[float, list] | None = None

    def describe(self):
        return []  # no eager collect on registration (that would query the DB at import time)

    def collect(self):
        ttl = getattr(settings, "METRICS_CACHE_SECONDS", 10)
        with self._lock:
            now = time.monotonic()
            if self._cached is None or now - self._cached[0] >= ttl:
                try:
                    self._cached = (now, _families())
                except Exception as exc:
                    from prometheus_client.core import GaugeMetricFamily

                    logger.warning("metrics: database unavailable: %s", exc)
                    return [GaugeMetricFamily("enigma_database_up", "1 if PostgreSQL answered this scrape.", value=0)]
            return list(self._cached[1]) + _event_families()


_collector: EnigmaCollector | None = None
_collector_lock = threading.Lock()


def get_collector() -> EnigmaCollector:
    global _collector
    with _collector_lock:
        if _collector is None:
            from prometheus_client import REGISTRY

            _collector = EnigmaCollector()
            REGISTRY.register(_collector)
    return _collector


def metrics_view(request):
    """The Prometheus exposition (optionally behind ``METRICS_TOKEN``)."""
    import os

    import prometheus_client
    from prometheus_client import multiprocess

    token = getattr(settings, "METRICS_TOKEN", "")
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return HttpResponse("unauthorized\n", status=401, content_type="text/plain")
    collector = get_collector()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(collector)
    else:
        registry = prometheus_client.REGISTRY
    return HttpResponse(prometheus_client.generate_latest(registry), content_type=prometheus_client.CONTENT_TYPE_LATEST)
