"""Indexes for the operator console and the API: full-text search (``russian``) over tickets and
mails, exact lookups for serial numbers, e-mails and phone numbers.

Expression indexes rather than generated columns: no model field changes, and the expressions
are copied in ``tickets/selectors.py``, whose queries must use them verbatim.
"""

from django.db import migrations

# Frozen copies of tickets.selectors' expressions (a test checks they are still equal).
TICKET_DOCUMENT_SQL = (
    "to_tsvector('russian'::regconfig, "
    "subject || ' ' || full_name || ' ' || company || ' ' || device_type || ' ' || device_serial"
    " || ' ' || email || ' ' || summary)"
)
MESSAGE_DOCUMENT_SQL = "to_tsvector('russian'::regconfig, subject || ' ' || left(body_text, 100000))"
PHONE_KEY_SQL = "right(regexp_replace(phone, '[^0-9]', '', 'g'), 10)"

INDEXES = {
    "ticket_fts_idx": f"tickets_ticket USING gin (({TICKET_DOCUMENT_SQL}))",
    "message_fts_idx": f"tickets_message USING gin (({MESSAGE_DOCUMENT_SQL})) WHERE ticket_id IS NOT NULL",
    "ticket_phone_key_idx": f"tickets_ticket (({PHONE_KEY_SQL}))",
    "ticket_serial_upper_idx": "tickets_ticket (UPPER(device_serial))",
    "ticket_email_upper_idx": "tickets_ticket (UPPER(email))",
    "ticket_created_idx": "tickets_ticket (created_at DESC, id DESC)",
    "outbound_created_idx": "tickets_outboundemail (created_at, status)",
}


class Migration(migrations.Migration):
    dependencies = [("tickets", "0001_initial")]

    operations = [
        migrations.RunSQL(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}", f"DROP INDEX IF EXISTS {name}")
        for name, definition in INDEXES.items()
    ]
