"""Liveness (``/healthz``) and readiness (``/readyz``) probes, and the middleware that lets the
orchestrator and Prometheus reach them (and ``/metrics``) by IP over plain HTTP."""

from __future__ import annotations

import time

from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

QUEUES = ("default", "nlp")


def healthz(request):
    """The process is up and serves requests; touches nothing else."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """Ready for traffic: PostgreSQL and Redis answer. Also reports the queues and how long ago the
    mailbox was last polled successfully (informational: a stale poller does not stop the web)."""
    checks: dict = {}
    ok = True
    started = time.perf_counter()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}: {exc}"
        ok = False
    try:
        checks.update(queue_checks())
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}: {exc}"
        ok = False
    if checks.get("database") == "ok":
        age = mailbox_last_success_age()
        checks["mailbox_last_success_age_s"] = None if age is None else round(age, 1)
        checks["mailbox_stale"] = age is not None and age > settings.MAILBOX_STALE_AFTER
    checks["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return JsonResponse({"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503)


def queue_checks() -> dict:
    import django_rq
    from rq.registry import FailedJobRegistry

    queues = {name: django_rq.get_queue(name) for name in QUEUES}
    queues["default"].connection.ping()
    return {
        "queue_depth": {name: q.count for name, q in queues.items()},
        "queue_failed": {name: FailedJobRegistry(queue=q).count for name, q in queues.items()},
    }


def mailbox_last_success_age() -> float | None:
    from tickets.models import MailboxState

    last = (MailboxState.objects.exclude(last_success_at=None).order_by("-last_success_at")
            .values_list("last_success_at", flat=True).first())
    return (timezone.now() - last).total_seconds() if last else None


class ProbeMiddleware:
    """Answers ``/healthz``, ``/readyz`` and ``/metrics`` before host validation, the HTTPS redirect
    and sessions: probes come from the orchestrator by IP (``Host: 127.0.0.1``), not through the
    public host name. Nothing here reads cookies or writes data."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if path == "/healthz":
            return healthz(request)
        if path == "/readyz":
            return readyz(request)
        if path == "/metrics":
            from enigma_site.metrics import metrics_view

            return metrics_view(request)
        return self.get_response(request)
