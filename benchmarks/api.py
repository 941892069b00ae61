"""Ticket list API under load: 100k tickets, concurrent clients, real HTTP server.

    .venv/bin/python benchmarks/api.py [--tickets 100000] [--clients 8] [--seconds 15] [--workers 2]

A scratch database ("enigma_bench_api", migrated, so the search indexes of tickets/0002 are
there) gets N tickets, N/10 contacts and one inbound mail per ticket (bulk_create). The site
runs as in production: uvicorn with the ASGI application and ``--workers`` processes. Clients
are threads with keep-alive HTTP connections and a staff token; each scenario runs for
``--seconds`` and reports p50/p95/p99 latency and requests per second.
"""

import argparse
import http.client
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enigma_site.test_settings")

from benchmarks.reply import database_url

WORDS = ("прибор датчик сенсор ошибка калибровка поверка газоанализатор показания ноль дрейф "
         "сигнализация порог аккумулятор зарядка дисплей клапан насос фильтр срок гарантия").split()
_SYLLABLES = "ка ло ми ре ту вас но пер дел сто вит гор ман зем лук тра пол сен мор вед".split()
# A realistic spread: domain words are a minority of the text, most words are rare.
FILLER = sorted({a + b + c for a in _SYLLABLES for b in _SYLLABLES for c in ("", "ый", "ать", "ение", "ов")})[:3000]


def words(rng, k: int) -> str:
    return " ".join(rng.choice(WORDS) if rng.random() < 0.08 else rng.choice(FILLER) for _ in range(k))


DEVICES = ["АНКАТ-7664Микро", "Сигнал-4", "ДАХ-М", "СГГ-20", "Хоббит-Т", "ИГС-98", "Эра-М", "ССС-903"]


def populate(n: int) -> None:
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from tickets.models import Contact, Message, Ticket

    rng = random.Random(7)
    staff = [get_user_model().objects.create_user(f"op{i}", is_staff=True) for i in range(5)]
    contacts = Contact.objects.bulk_create(
        [Contact(email=f"client{i}@example.ru", name=f"Клиент {i}", company=f"ООО «Газ-{i % 500}»") for i in range(n // 10)],
        batch_size=5000)
    now = timezone.now()
    statuses = [s for s in Ticket.Status.values]
    batch = 5000
    for start in range(0, n, batch):
        tickets = []
        for i in range(start, min(start + batch, n)):
            tickets.append(Ticket(
                subject=words(rng, 5).capitalize(), status=rng.choice(statuses),
                contact=contacts[i % len(contacts)], assignee=rng.choice(staff + [None] * 5),
                full_name=f"Иванов Иван {i}", phone=f"+7 (9{i % 100:02d}) {i % 1000:03d}-{i % 100:02d}-{(i // 7) % 100:02d}",
                email=f"client{i % len(contacts)}@example.ru", company=f"ООО «Газ-{i % 500}»",
                device_type=rng.choice(DEVICES), device_serial=f"SN{i:07d}",
                sentiment=rng.choice(Ticket.Sentiment.values), priority=rng.choice(Ticket.Priority.values),
                intent=rng.choice(["malfunction", "calibration", "documents", "warranty"]),
                summary=words(rng, 12), llm_response="Здравствуйте! " * 40,
            ))
        tickets = Ticket.objects.bulk_create(tickets, batch_size=batch)
        Message.objects.bulk_create([
            Message(ticket=t, message_id=f"<bench-{t.pk}@example.ru>", from_address=t.email, subject=t.subject,
                    body_text=words(rng, 80), raw=b"x", raw_sha256=f"{t.pk:064d}",
                    parse_status=Message.ParseStatus.PARSED, sent_at=now) for t in tickets
        ], batch_size=batch)
        # spread creation over 90 days so date filters and the dashboard see history
        Ticket.objects.filter(pk__in=[t.pk for t in tickets]).update(
            created_at=now - timezone.timedelta(seconds=rng.randint(0, 90 * 86400)))
        print(f"  {min(start + batch, n)} tickets", flush=True)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tickets_ticket")
        cursor.execute("VACUUM ANALYZE tickets_message")
        cursor.execute("VACUUM ANALYZE tickets_contact")


def run_scenario(port: int, token: str, paths: list[str], clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def client_loop(seed: int) -> None:
        rng = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        local = []
        while time.perf_counter() < deadline:
            path = rng.choice(paths)
            started = time.perf_counter()
            conn.request("GET", path, headers={"Authorization": f"Token {token}", "Host": "localhost"})
            response = conn.getresponse()
            body = response.read()
            local.append(time.perf_counter() - started)
            if response.status != 200:
                with lock:
                    errors[0] += 1
                    if errors[0] < 3:
                        print("   error", response.status, body[:200])
        conn.close()
        with lock:
            latencies.extend(local)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {"requests": len(latencies), "errors": errors[0], "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(pct(0.50), 1), "p95_ms": round(pct(0.95), 1), "p99_ms": round(pct(0.99), 1),
            "mean_ms": round(statistics.fmean(latencies) * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="reuse the scratch database if it is populated")
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from conftest import free_port, wait_for_port

    connection.settings_dict["TEST"]["NAME"] = "enigma_bench_api"
    started = time.perf_counter()
    if args.keep:
        connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=True)
    else:
        connection.creation.create_test_db(verbosity=0, autoclobber=True)
    from tickets.models import Ticket

    if Ticket.objects.count() < args.tickets:
        print(f"populating {args.tickets} tickets …", flush=True)
        populate(args.tickets)
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    from django.contrib.auth import get_user_model

    staff, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    token = Token.objects.get_or_create(user=staff)[0].key
    sample = Ticket.objects.order_by("?").values("number", "device_serial", "phone")[:50]
    connection.close()

    port = free_port()
    env = {
        **os.environ, "DJANGO_SETTINGS_MODULE": "enigma_site.settings", "SECRET_KEY": "bench", "DEBUG": "false",
        "ALLOWED_HOSTS": "localhost", "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": settings.TEST_REDIS_URL, "LOG_LEVEL": "WARNING",
        # Under ASGI persistent connections pile up (one per executor thread): no CONN_MAX_AGE.
        "CONN_MAX_AGE": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "enigma_site.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(args.workers), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env)
    try:
        wait_for_port(port, timeout=60)
        time.sleep(2)
        scenarios = {
            "list, first page (50 rows)": ["/api/v1/tickets/"],
            "list, random page 1-200": [f"/api/v1/tickets/?page={p}" for p in range(1, 201)],
            "list, filters (status+sentiment / device / open)": [
                "/api/v1/tickets/?status=draft_ready&sentiment=negative",
                "/api/v1/tickets/?device_type=%D0%A1%D0%B8%D0%B3%D0%BD%D0%B0%D0%BB-4",
                "/api/v1/tickets/?open=true&ordering=-priority"],
            "search, full-text word (ru)": ["/api/v1/tickets/?q=%D0%BA%D0%B0%D0%BB%D0%B8%D0%B1%D1%80%D0%BE%D0%B2%D0%BA%D0%B8",
                                            "/api/v1/tickets/?q=%D0%B4%D0%B0%D1%82%D1%87%D0%B8%D0%BA%D0%B0%D0%BC%D0%B8"],
            "search, exact number/serial/phone": (
                [f"/api/v1/tickets/?q={s['number']}" for s in sample[:15]]
                + [f"/api/v1/tickets/?q={s['device_serial']}" for s in sample[15:30]]
                + ["/api/v1/tickets/?q=" + "".join(c for c in s["phone"] if c.isdigit()) for s in sample[30:]]),
            "retrieve one ticket": [f"/api/v1/tickets/?q={s['number']}" for s in sample[:1]],
            "stats, 30 days": ["/api/v1/stats/"],
        }
        # resolve "retrieve" to real ids
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        ids = []
        for s in sample[:20]:
            conn.request("GET", f"/api/v1/tickets/?q={s['number']}", headers={"Authorization": f"Token {token}", "Host": "localhost"})
            ids += [r["id"] for r in json.loads(conn.getresponse().read())["results"]]
        conn.close()
        scenarios["retrieve one ticket"] = [f"/api/v1/tickets/{i}/" for i in ids]
        run_scenario(port, token, scenarios["list, first page (50 rows)"], args.clients, 3)  # warm-up
        print(f"\n{args.tickets} tickets, {args.clients} clients, {args.seconds:.0f} s each, uvicorn --workers {args.workers}, "
              f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} cores\n")
        print("| scenario | requests | req/s | p50 ms | p95 ms | p99 ms | errors |")
        print("|---|---|---|---|---|---|---|")
        for name, paths in scenarios.items():
            r = run_scenario(port, token, paths, args.clients, args.seconds)
            print(f"| {name} | {r['requests']} | {r['rps']} | {r['p50_ms']} | {r['p95_ms']} | {r['p99_ms']} | {r['errors']} |",
                  flush=True)
        single = run_scenario(port, token, scenarios["list, first page (50 rows)"], 1, args.seconds)
        print(f"| list, first page, 1 client | {single['requests']} | {single['rps']} | {single['p50_ms']} | "
              f"{single['p95_ms']} | {single['p99_ms']} | {single['errors']} |")
    finally:
        server.terminate()
        server.wait(15)
        connection.creation.destroy_test_db("enigma_bench_api", verbosity=0, keepdb=args.keep)


if __name__ == "__main__":
    main()
