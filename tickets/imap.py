"""Incremental IMAP polling: UIDVALIDITY + last UID per folder, mail kept on the server.

Raw bytes are fetched with ``BODY.PEEK[]`` (the \\Seen flag is not touched) and passed
unchanged to :func:`tickets.ingest.store.ingest_batch`. The last UID is saved after each
batch, in the transaction that creates the batch's tickets, so a poller killed half-way
resumes where it stopped; messages it fetches twice are recognised by Message-ID and never make a second ticket.
"""

from __future__ import annotations

import atexit
import logging
import re
import ssl
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone
from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted

from tickets.ingest.mime import parse_many
from tickets.ingest.store import ingest_batch
from tickets.models import MailboxState, Message

logger = logging.getLogger(__name__)

_FETCH_UID_RE = re.compile(rb"UID (\d+)")


@dataclass
class PollStats:
    folder: str
    fetched: int = 0
    created_tickets: int = 0
    duplicates: int = 0
    failed: int = 0
    resynced: bool = False
    errors: list[str] = field(default_factory=list)


def connect(host=None, port=None, user=None, password=None, security=None):
    host = host or settings.IMAP_HOST
    security = (security or settings.IMAP_SECURITY).lower()
    port = port or settings.IMAP_PORT or (993 if security == "ssl" else 143)
    timeout = settings.IMAP_TIMEOUT
    context = ssl.create_default_context()
    if not settings.IMAP_SSL_VERIFY:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if security == "ssl":
        box = MailBox(host, port, timeout=timeout, ssl_context=context)
    elif security == "starttls":
        box = MailBoxStartTls(host, port, timeout=timeout, ssl_context=context)
    elif security == "none":
        box = MailBoxUnencrypted(host, port, timeout=timeout)
    else:
        raise ValueError(f"IMAP_SECURITY must be ssl, starttls or none, not {security!r}")
    return box.login(user or settings.IMAP_USER, password or settings.IMAP_PASSWORD)


def poll_folder(box, folder: str, *, move_to: str = "", batch: int | None = None) -> PollStats:
    """Fetch every message newer than the last seen UID in ``folder`` and ingest it."""
    stats = PollStats(folder=folder)
    batch = batch or settings.IMAP_FETCH_BATCH
    state, _ = MailboxState.objects.get_or_create(
        host=settings.IMAP_HOST, username=settings.IMAP_USER, folder=folder
    )
    box.folder.set(folder)
    uidvalidity = int(box.folder.status(folder, ["UIDVALIDITY"])["UIDVALIDITY"])
    if state.uidvalidity != uidvalidity:
        if state.uidvalidity is not None:
            logger.warning("UIDVALIDITY of %s changed %s → %s: re-syncing", folder, state.uidvalidity, uidvalidity)
            stats.resynced = True
        state.uidvalidity = uidvalidity
        state.last_uid = 0
        state.save(update_fields=["uidvalidity", "last_uid"])

    uids = [int(u) for u in box.uids(f"UID {state.last_uid + 1}:*", charset=None)]
    uids = sorted(u for u in uids if u > state.last_uid)  # "N:*" always returns the last message
    processed: list[str] = []
    pool = parse_pool()
    previous = None  # (fetched, future parse results): parsed while the batch before is stored
    for start in range(0, len(uids) + batch, batch):
        fetched = list(_fetch_raw(box, uids[start:start + batch])) if start < len(uids) else []
        future = _submit_parse(pool, fetched) if fetched else None
        if previous is not None:
            _store(previous, state, folder, stats)
            processed.extend(str(uid) for uid, _ in previous[0])
        previous = (fetched, future) if fetched else None
    if move_to and processed:
        box.move(processed, move_to)
    state.last_poll_at = state.last_success_at = timezone.now()
    state.last_error = ""
    state.save(update_fields=["last_poll_at", "last_success_at", "last_error"])
    return stats


def _store(batch, state: MailboxState, folder: str, stats: PollStats) -> None:
    fetched, future = batch
    parsed = None
    if future is not None:
        try:
            parsed = future.result()
        except Exception:  # noqa: BLE001 - a broken worker: parse inline instead
            logger.exception("parse worker failed; parsing in the poller")
    state.last_uid = fetched[-1][0]
    # The last UID commits in the same transaction as the tickets it covers.
    results = ingest_batch([(raw, uid) for uid, raw in fetched], source=Message.Source.IMAP, folder=folder,
                           parsed=parsed, on_parsed=lambda: state.save(update_fields=["last_uid"]))
    for result in results:
        stats.fetched += 1
        stats.created_tickets += int(result.created_ticket)
        stats.duplicates += int(result.duplicate)
        stats.failed += int(result.failed)


_POOL = None


def parse_pool():
    """One MIME-parsing worker process per poller (``INGEST_PARSE_WORKERS``; 0 parses inline).
    Spawned, not forked: it imports only the pure parsing module, never Django's state."""
    global _POOL
    workers = settings.INGEST_PARSE_WORKERS
    if workers <= 0:
        return None
    if _POOL is None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        _POOL = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        atexit.register(_POOL.shutdown, cancel_futures=True)
    return _POOL


def _submit_parse(pool, fetched):
    if pool is None:
        return None
    limit = settings.MAIL_MAX_PARSE_BYTES
    return pool.submit(parse_many, [raw if len(raw) <= limit else None for _, raw in fetched])


def _fetch_raw(box, uids: list[int]):
    """Yield ``(uid, raw_bytes)`` for the given UIDs, in UID order, without setting \\Seen."""
    status, data = box.client.uid("fetch", ",".join(map(str, uids)), "(UID BODY.PEEK[])")
    if status != "OK":
        raise RuntimeError(f"IMAP FETCH failed: {status} {data!r}")
    items = []
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            match = _FETCH_UID_RE.search(item[0])
            if match:
                items.append((int(match.group(1)), item[1]))
    yield from sorted(items)


def record_failure(folder: str, error: str) -> None:
    MailboxState.objects.update_or_create(
        host=settings.IMAP_HOST, username=settings.IMAP_USER, folder=folder,
        defaults={"last_poll_at": timezone.now(), "last_error": error[:2000]},
    )
