"""Mail in: raw bytes → stored Message → parsed → threaded into a Ticket.

``mime`` and ``threading`` are pure functions over bytes and text; ``store`` writes
to the database. Every entry point (IMAP poller, ``import_eml``) calls
:func:`tickets.ingest.store.ingest_raw`.
"""
