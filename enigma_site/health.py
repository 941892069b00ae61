"""Liveness and readiness probes."""

import django_rq
from django.db import connection
from django.http import JsonResponse
from django.utils import timezone

from tickets.models import MailboxState


def healthz(request):
    return JsonResponse({"status": "ok"})


def readyz(request):
    checks = {}
    ok = True
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        checks["database"] = f"error: {exc}"
        ok = False
    try:
        queues = {name: django_rq.get_queue(name) for name in ("default", "nlp")}
        queues["default"].connection.ping()
        checks["redis"] = "ok"
        checks["queue_depth"] = {name: q.count for name, q in queues.items()}
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"error: {exc}"
        ok = False
    if checks.get("database") == "ok":
        last = MailboxState.objects.exclude(last_success_at=None).order_by("-last_success_at").first()
        checks["mailbox_last_success_age_s"] = (
            round((timezone.now() - last.last_success_at).total_seconds(), 1) if last else None
        )
    return JsonResponse({"status": "ok" if ok else "error", "checks": checks}, status=200 if ok else 503)
