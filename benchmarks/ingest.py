"""Ingestion throughput: N mails appended to a real Dovecot, timed until all are committed tickets.

    .venv/bin/python benchmarks/ingest.py [--mails 1000] [--batch 50]

Uses a scratch database ("enigma_bench") on the configured PostgreSQL (embedded when
DATABASE_URL is unset) and a throw-away Dovecot on loopback (needs root + dovecot-imapd).
NLP is excluded: the processing jobs are queued to Redis but no worker runs.
"""

import argparse
import os
import platform
import random
import resource
import sys
import time
from email.message import EmailMessage
from email.utils import format_datetime
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enigma_site.test_settings")

WORDS = ("газоанализатор показывает ошибку после поверки прибор котельная датчик метан сработал "
         "калибровка сенсор аккумулятор заряд гарантия ремонт срочно просим помочь заводской номер").split()


def make_mail(i: int, rng: random.Random) -> bytes:
    mail = EmailMessage()
    mail["From"] = f"Клиент {i} <client{i}@example{i % 50}.ru>"
    mail["To"] = "support@enigma.local"
    mail["Subject"] = f"Заявка {i}: " + " ".join(rng.choices(WORDS, k=5))
    mail["Date"] = format_datetime(datetime.now(timezone.utc))
    mail["Message-ID"] = f"<bench-{i}-{rng.random()}@example.ru>"
    size = rng.choice([4_000, 8_000, 15_000, 30_000])  # text, typical 5–50 KB mails overall
    body, length = [], 0
    while length < size // 2:  # Cyrillic: ~2 bytes per letter in UTF-8
        body.append(rng.choice(WORDS))
        length += len(body[-1]) + 1
    charset = rng.choice(["utf-8", "cp1251", "koi8-r"])
    mail.set_content(" ".join(body), charset=charset)
    if i % 4 == 0:
        mail.add_attachment(rng.randbytes(20_000), maintype="application", subtype="pdf", filename="Акт.pdf")
    return mail.as_bytes()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mails", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()

    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from conftest import Dovecot
    from tickets import imap
    from tickets.models import Ticket

    connection.settings_dict["TEST"]["NAME"] = "enigma_bench"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    server = Dovecot().start()
    try:
        for key, value in server.settings().items():
            setattr(settings, key, value)
        rng = random.Random(42)
        mails = [make_mail(i, rng) for i in range(args.mails)]
        client = server.client()
        for raw in mails:
            client.append("INBOX", "", None, raw)
        client.logout()
        total_bytes = sum(len(m) for m in mails)

        started = time.perf_counter()
        with imap.connect() as box:
            stats = imap.poll_folder(box, "INBOX", batch=args.batch)
        elapsed = time.perf_counter() - started
        tickets = Ticket.objects.count()
        assert tickets == args.mails, (tickets, stats)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
        print(f"mails: {args.mails} ({total_bytes / args.mails / 1024:.1f} KB avg, 1 in 4 with a 20 KB attachment)")
        print(f"poll → committed tickets: {elapsed:.2f} s = {args.mails / elapsed:.0f} mails/s")
        print(f"peak RSS: {peak_mb:.0f} MB")
    finally:
        server.stop()
        connection.creation.destroy_test_db("enigma_bench", verbosity=0)


if __name__ == "__main__":
    main()
