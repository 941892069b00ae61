"""Reply latency: POST /api/v1/tickets/<id>/reply/ → one RQ worker → SMTP server holding the mail.

    .venv/bin/python benchmarks/reply.py [--replies 200]

A scratch database ("enigma_bench_reply"), aiosmtpd on loopback, and one real
`manage.py rqworker default --worker-class rq.SimpleWorker` process. The POST goes through
DRF in-process (no HTTP server), so the figure is service + queue + worker + SMTP.
"""

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enigma_site.test_settings")


def database_url(settings_dict) -> str:
    host = settings_dict["HOST"] or settings_dict.get("OPTIONS", {}).get("host", "")
    if host.startswith("/"):
        return f"postgresql://{settings_dict['USER']}@/{settings_dict['NAME']}?host={quote(host)}"
    return f"postgresql://{settings_dict['USER']}:{quote(settings_dict['PASSWORD'] or '')}@{host}:{settings_dict['PORT'] or 5432}/{settings_dict['NAME']}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replies", type=int, default=200)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.test import APIClient

    from conftest import SmtpServer
    from tickets.ingest.store import ingest_raw
    from tickets.models import OutboundEmail

    connection.settings_dict["TEST"]["NAME"] = "enigma_bench_reply"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    smtp = SmtpServer()
    arrivals: dict[str, float] = {}
    original = smtp.handler.handle_DATA

    async def handle_data(server, session, envelope):
        result = await original(server, session, envelope)
        for line in envelope.original_content.split(b"\n"):
            if line.lower().startswith(b"message-id:"):
                arrivals[line.split(b":", 1)[1].strip().decode()] = time.perf_counter()
                break
        return result

    smtp.handler.handle_DATA = handle_data
    smtp.controller.start()
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "enigma_site.settings", "SECRET_KEY": "bench",
        "DATABASE_URL": database_url(connection.settings_dict), "REDIS_URL": settings.TEST_REDIS_URL,
        "EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(smtp.port), "LOG_LEVEL": "WARNING",
    }
    import django_rq

    django_rq.get_connection("default").flushdb()
    worker = subprocess.Popen([sys.executable, "manage.py", "rqworker", "default", "--worker-class", "rq.SimpleWorker"],
                              cwd=ROOT, env=env)
    try:
        staff = get_user_model().objects.create_user("bench", password="x", is_staff=True)
        client = APIClient()
        client.force_authenticate(staff)
        tickets = []
        for i in range(args.replies):
            raw = (f"From: Клиент {i} <client{i}@example.ru>\nTo: support@enigma.local\nSubject: Вопрос {i}\n"
                   f"Message-ID: <bench-reply-{i}@example.ru>\nContent-Type: text/plain; charset=utf-8\n\nТекст {i}").encode()
            tickets.append(ingest_raw(raw).ticket)
        time.sleep(2)  # worker start-up is not part of the figure
        latencies = []
        for ticket in tickets:
            started = time.perf_counter()
            response = client.post(f"/api/v1/tickets/{ticket.pk}/reply/", {"text": "Ответ по вашей заявке."}, format="json")
            assert response.status_code == 202, response.content
            message_id = OutboundEmail.objects.get(pk=response.json()["outbound_id"]).message_id
            while message_id not in arrivals:
                if time.perf_counter() - started > 30:
                    raise TimeoutError(f"reply {message_id} never reached the SMTP server")
                time.sleep(0.001)
            latencies.append((arrivals[message_id] - started) * 1000)
        latencies.sort()
        p95 = latencies[int(len(latencies) * 0.95) - 1]
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"replies: {len(latencies)}, one SimpleWorker process")
        print(f"POST → SMTP server holds the mail: p50 {statistics.median(latencies):.1f} ms, p95 {p95:.1f} ms, max {latencies[-1]:.1f} ms")
        assert len(smtp.handler.envelopes) == args.replies  # exactly one mail each
    finally:
        worker.terminate()
        worker.wait(10)
        smtp.controller.stop()
        connection.close()
        connection.creation.destroy_test_db("enigma_bench_reply", verbosity=0)


if __name__ == "__main__":
    main()
