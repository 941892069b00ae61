import mailbox
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from tickets.ingest.store import ingest_raw

_SKIP_SUFFIXES = {".yml", ".yaml", ".json", ".py", ".tsv", ".md", ".pyc", ".txt~"}


def iter_sources(paths):
    """Yield ``(label, raw_bytes)`` for every message in files, folders and mbox files."""
    for path in map(Path, paths):
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if child.name.startswith(".") or child.name.upper().startswith(("COPYING", "LICENSE", "README")) \
                        or child.suffix.lower() in _SKIP_SUFFIXES:
                    continue
                yield from _iter_file(child)
        elif path.is_file():
            yield from _iter_file(path)
        else:
            raise CommandError(f"{path}: no such file or folder")


def _iter_file(path: Path):
    with open(path, "rb") as fh:
        head = fh.read(5)
    if head == b"From ":  # mbox (a single message with an envelope line is a one-message mbox)
        box = mailbox.mbox(path, create=False)
        try:
            for index, key in enumerate(box.iterkeys()):
                yield f"{path}[{index}]", box.get_bytes(key)
        finally:
            box.close()
    else:
        yield str(path), path.read_bytes()


class Command(BaseCommand):
    help = "Import .eml files, folders of them, or mbox files through the same path as the IMAP poller."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+")

    def handle(self, *args, paths, **options):
        totals = {"messages": 0, "tickets": 0, "duplicates": 0, "failed": 0}
        for label, raw in iter_sources(paths):
            result = ingest_raw(raw)
            totals["messages"] += 1
            totals["tickets"] += int(result.created_ticket)
            totals["duplicates"] += int(result.duplicate)
            if result.failed:
                totals["failed"] += 1
                self.stderr.write(f"{label}: stored raw, parse failed: {result.message.parse_error.splitlines()[0]}")
            elif options["verbosity"] > 1:
                self.stdout.write(f"{label}: message {result.message.pk} → ticket {result.ticket and result.ticket.number}")
        self.stdout.write(
            "Imported {messages} messages: {tickets} new tickets, {duplicates} duplicates, {failed} failed to parse.".format(**totals)
        )
