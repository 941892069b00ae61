"""python manage.py run_bot — the Telegram bot and the Redis event listener (one process)."""

import logging

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Run the Telegram bot (aiogram long polling) and the Redis listener of ticket events."

    def add_arguments(self, parser):
        parser.add_argument("--polling-timeout", type=int, default=30, help="long-polling wait, seconds (default 30)")

    def handle(self, *args, **options):
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("TELEGRAM_BOT_TOKEN не задан: бот не может запуститься.")
        logging.getLogger("aiogram").setLevel(logging.INFO)
        from notifications.bot.main import run

        self.stdout.write(f"Bot started; events from Redis channel {settings.EVENTS_CHANNEL!r}. Ctrl+C to stop.")
        run(polling_timeout=options["polling_timeout"])
        self.stdout.write("Bot stopped.")
