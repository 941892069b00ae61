import logging
import signal
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from tickets import imap, jobs, services

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Poll the support mailbox over IMAP and turn new mail into tickets."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="poll once and exit")
        parser.add_argument("--interval", type=float, default=None, help="seconds between polls (default IMAP_POLL_INTERVAL)")
        parser.add_argument("--folder", action="append", dest="folders", help="folder to poll (repeatable; default IMAP_FOLDER)")
        parser.add_argument("--move-to", default=None, help="move processed mail to this folder (default IMAP_MOVE_TO)")

    def handle(self, *args, once, interval, folders, move_to, **options):
        if not settings.IMAP_HOST:
            raise CommandError("IMAP_HOST is not set: nothing to poll (see .env.example).")
        folders = folders or [settings.IMAP_FOLDER]
        interval = settings.IMAP_POLL_INTERVAL if interval is None else interval
        move_to = settings.IMAP_MOVE_TO if move_to is None else move_to
        self._stop = False
        signal.signal(signal.SIGTERM, self._request_stop)
        backoff = interval
        while True:
            ok = self._poll(folders, move_to)
            if once:
                if not ok:
                    raise CommandError("polling failed; see the error above and MailboxState in the admin")
                return
            backoff = interval if ok else min(max(backoff * 2, 5), 600)
            deadline = time.monotonic() + backoff
            while time.monotonic() < deadline and not self._stop:
                time.sleep(0.5)
            if self._stop:
                return

    def _request_stop(self, *_):
        self._stop = True

    def _poll(self, folders, move_to) -> bool:
        try:
            with imap.connect() as box:
                for folder in folders:
                    stats = imap.poll_folder(box, folder, move_to=move_to)
                    self.stdout.write(
                        f"{folder}: fetched {stats.fetched}, new tickets {stats.created_tickets}, "
                        f"duplicates {stats.duplicates}, failed {stats.failed}"
                        + (" (UIDVALIDITY changed: re-synced)" if stats.resynced else "")
                    )
            requeued = jobs.requeue_stale()
            if requeued:
                self.stdout.write(f"re-queued {requeued} tickets whose processing never started")
            replies = services.requeue_stuck_replies()
            if replies:
                self.stdout.write(f"re-queued {replies} replies that had no live job")
            return True
        except Exception as exc:  # noqa: BLE001 - the poller must survive server trouble
            logger.exception("mailbox poll failed")
            for folder in folders:
                imap.record_failure(folder, f"{type(exc).__name__}: {exc}")
            self.stderr.write(f"poll failed: {type(exc).__name__}: {exc}")
            return False
