"""Notification latency: ticket commit → the bot's request at the Bot API.

    .venv/bin/python benchmarks/bot.py [--tickets 200] [--chats 3]

A scratch database ("enigma_bench_bot"), the test Redis, a local fake Bot API server
(``notifications/tests/telegram_server.py``) and the real ``BotApp`` (aiogram long polling +
Redis listener) in a background thread of this process. For each ticket the clock starts in
the first ``on_commit`` callback (right after COMMIT) and stops when the fake server receives
the bot's request: sendMessage for a new ticket (to every linked chat), editMessageText when
the ticket is assigned. Tickets are created one at a time.
"""

import argparse
import os
import platform
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "enigma_site.test_settings")


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


def summary(name, values_ms):
    return (f"{name}: n={len(values_ms)} p50={statistics.median(values_ms):.1f} ms "
            f"p95={pct(values_ms, 95):.1f} ms max={max(values_ms):.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tickets", type=int, default=200)
    parser.add_argument("--chats", type=int, default=3)
    args = parser.parse_args()

    import logging

    import django

    django.setup()
    logging.getLogger("aiogram").setLevel(logging.WARNING)
    logging.getLogger("notifications").setLevel(logging.WARNING)
    from django.conf import settings
    from django.db import connection, transaction

    connection.settings_dict["TEST"]["NAME"] = "enigma_bench_bot"
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    settings.EVENTS_CHANNEL = f"bench:enigma:events:{uuid.uuid4().hex}"

    from notifications.tests.conftest import (
        BotHarness,
        link_chat,
        make_staff,
        make_ticket,
    )
    from tickets.services import ticket_assign

    users = [make_staff(f"bench{i}") for i in range(args.chats)]
    chats = [900000 + i for i in range(args.chats)]
    for user, chat in zip(users, chats):
        link_chat(user, chat)

    harness = BotHarness().start()
    fake = harness.fake
    first_ms, last_ms, edit_ms = [], [], []
    try:
        for i in range(args.tickets + 5):
            mark = fake.mark()
            stamp = {}
            with transaction.atomic():
                transaction.on_commit(lambda stamp=stamp: stamp.setdefault("t", time.perf_counter()))
                ticket = make_ticket(sentiment="negative" if i % 2 else "neutral")
            tag = f"#{ticket.number}</b>"
            arrivals = []
            for chat in chats:
                req = fake.wait_for("sendMessage", lambda r, c=chat, tag=tag: int(r.params["chat_id"]) == c and tag in r.params["text"],
                                    after=mark)
                arrivals.append(req.at)
            # the card must be recorded before the edit can be measured
            deadline = time.monotonic() + 5
            from notifications.models import TelegramMessage

            while TelegramMessage.objects.filter(ticket=ticket).count() < len(chats) and time.monotonic() < deadline:
                time.sleep(0.002)
            mark = fake.mark()
            stamp_edit = {}
            with transaction.atomic():
                transaction.on_commit(lambda stamp_edit=stamp_edit: stamp_edit.setdefault("t", time.perf_counter()))
                ticket_assign(ticket.pk, users[0])
            edit = fake.wait_for("editMessageText", lambda r, tag=tag: tag in r.params["text"], after=mark)
            if i < 5:
                continue  # warm-up
            first_ms.append((min(arrivals) - stamp["t"]) * 1000)
            last_ms.append((max(arrivals) - stamp["t"]) * 1000)
            edit_ms.append((edit.at - stamp_edit["t"]) * 1000)
    finally:
        harness.stop()
        connection.creation.destroy_test_db("enigma_bench_bot", verbosity=0)

    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"load average {os.getloadavg()[0]:.2f}")
    print(summary("commit → first sendMessage", first_ms))
    print(summary(f"commit → sendMessage to all {args.chats} chats", last_ms))
    print(summary("commit (assign) → editMessageText", edit_ms))


if __name__ == "__main__":
    main()
