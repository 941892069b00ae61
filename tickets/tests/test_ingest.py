"""Ingestion into the database: raw first, exactly once, threaded, nothing lost."""

import hashlib

import pytest

from tickets.ingest.store import ingest_raw, store_raw
from tickets.models import Attachment, Contact, Message, OutboundEmail, Ticket

pytestmark = pytest.mark.django_db


def nlp_queue_length() -> int:
    import django_rq

    return django_rq.get_queue("nlp").count


def test_new_mail_becomes_a_ticket_with_raw_bytes_and_contact(eml, redis_conn, django_capture_on_commit_callbacks):
    raw = eml("cp1251_8bit.eml")
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest_raw(raw)
        assert nlp_queue_length() == 0  # nothing is queued before the commit
    assert result.created_ticket and not result.duplicate
    ticket = result.ticket
    assert ticket.number > 0 and ticket.subject == "Ошибка E07" and ticket.status == Ticket.Status.NEW
    assert ticket.contact.email == "petrov@teploset.ru" and ticket.contact.name == "Петров Сергей"
    message = ticket.messages.get()
    assert bytes(message.raw) == raw
    assert message.raw_sha256 and message.size == len(raw)
    assert message.parse_status == Message.ParseStatus.PARSED
    assert "АНКАТ-7664Микро" in message.body_text
    assert nlp_queue_length() == 1  # processing was queued by the commit


def test_ticket_numbers_are_sequential(eml):
    first = ingest_raw(eml("cp1251_8bit.eml")).ticket
    second = ingest_raw(eml("koi8r_qp.eml")).ticket
    assert second.number == first.number + 1


def test_same_message_id_never_makes_a_second_ticket(eml):
    raw = eml("cp1251_8bit.eml")
    first = ingest_raw(raw)
    again = ingest_raw(raw.replace(b"\n", b"\r\n"))  # the IMAP copy of the same mail
    resent = ingest_raw(b"Received: from relay2\n" + raw)  # another route, same Message-ID
    assert again.duplicate and resent.duplicate
    assert again.ticket == first.ticket
    assert Ticket.objects.count() == 1 and Message.objects.count() == 1


def test_same_bytes_without_message_id_never_make_a_second_ticket(eml):
    raw = eml("no_date_no_msgid.eml")
    ingest_raw(raw)
    assert ingest_raw(raw).duplicate
    assert Ticket.objects.count() == 1


def test_a_run_killed_after_storing_raw_is_completed_later_without_duplicates(eml):
    raw = eml("koi8r_qp.eml")
    stored, created = store_raw(raw, source=Message.Source.IMAP)  # the poller died right here
    assert created and stored.parse_status == Message.ParseStatus.PENDING
    result = ingest_raw(raw, source=Message.Source.IMAP)
    assert result.created_ticket and result.message.pk == stored.pk
    assert ingest_raw(raw).duplicate
    assert Ticket.objects.count() == 1 and Message.objects.count() == 1


def test_unparseable_message_is_kept_raw_and_marked_for_staff(eml):
    raw = eml("garbage.eml")
    result = ingest_raw(raw)
    assert result.failed and result.ticket is None
    message = Message.objects.get()
    assert bytes(message.raw) == raw
    assert message.parse_status == Message.ParseStatus.FAILED
    assert "не письмо" in message.parse_error
    # The run goes on: the next mail is ingested normally.
    assert ingest_raw(eml("cp1251_8bit.eml")).created_ticket


def test_failure_after_parsing_is_recorded_and_nothing_half_written(eml, monkeypatch):
    from tickets.ingest import store

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store, "_save_attachments", explode)
    result = ingest_raw(eml("cyrillic_attachments.eml"))
    assert result.failed
    message = Message.objects.get()
    assert message.parse_status == Message.ParseStatus.FAILED and "disk full" in message.parse_error
    assert message.ticket is None and Ticket.objects.count() == 0  # the transaction rolled back


def test_attachments_are_saved_in_storage_with_size_and_hash(eml):
    ticket = ingest_raw(eml("cyrillic_attachments.eml")).ticket
    attachments = list(Attachment.objects.filter(message__ticket=ticket).order_by("id"))
    assert [a.filename for a in attachments] == ["Акт поверки №5.pdf", "Фото прибора.jpg"]
    pdf = attachments[0]
    content = pdf.file.read()
    assert content.startswith(b"%PDF-1.4")
    assert pdf.size == len(content) and pdf.sha256 == hashlib.sha256(content).hexdigest()
    assert pdf.content_type == "application/pdf" and not pdf.is_inline


def test_inline_image_is_saved_with_its_content_id(eml):
    ticket = ingest_raw(eml("inline_image.eml")).ticket
    image = Attachment.objects.get(message__ticket=ticket)
    assert image.is_inline and image.content_id == "screen1@example.ru"
    assert image.file.read().startswith(b"\x89PNG")


def test_nul_bytes_do_not_break_storage(eml):
    assert ingest_raw(eml("nul_bytes.eml")).ticket.messages.get().body_text == "Текстс нулевым байтом"


def _reply(to_message_id: str, *, subject="Re: Ошибка E07", extra=b"", sender=b"petrov@teploset.ru") -> bytes:
    return (
        b"From: " + sender + b"\nTo: support@enigma.local\nSubject: " + subject.encode() + b"\n"
        b"Message-ID: <reply-" + hashlib.md5(to_message_id.encode() + extra).hexdigest().encode() + b"@example.ru>\n"
        + extra + b"Content-Type: text/plain; charset=utf-8\n\n" + "Спасибо, но не помогло.".encode()
    )


def test_reply_joins_the_ticket_by_in_reply_to(eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    ticket.status = Ticket.Status.ANSWERED
    ticket.save(update_fields=["status"])
    result = ingest_raw(_reply("x", extra=b"In-Reply-To: <cp1251-8bit@example.ru>\n"))
    assert result.ticket == ticket and not result.created_ticket
    ticket.refresh_from_db()
    assert ticket.messages.count() == 2
    assert ticket.status == Ticket.Status.CUSTOMER_REPLIED  # back to staff


def test_reply_joins_the_ticket_by_references_to_our_outbound_message(eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    OutboundEmail.objects.create(ticket=ticket, to_address="petrov@teploset.ru", subject="Re",
                                 body="Ответ", message_id="<our-reply@enigma.local>")
    raw = _reply("y", extra=b"References: <unknown@x> <our-reply@enigma.local>\n")
    assert ingest_raw(raw).ticket == ticket


def test_reply_joins_the_ticket_by_subject_tag(eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    raw = _reply("z", subject=f"Ответ: [#{ticket.number}] Ошибка E07")
    assert ingest_raw(raw).ticket == ticket


def test_a_strangers_subject_tag_does_not_join_someone_elses_ticket(eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    raw = _reply("s", subject=f"Re: [#{ticket.number}] Ошибка E07", sender=b"stranger@example.org")
    result = ingest_raw(raw)
    assert result.created_ticket and result.ticket != ticket
    assert ticket.messages.count() == 1


def test_unrelated_mail_with_same_subject_makes_a_new_ticket(eml):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    result = ingest_raw(_reply("w"))
    assert result.created_ticket and result.ticket != ticket
    assert result.ticket.subject == "Ошибка E07"  # "Re:" stripped


def test_auto_reply_on_a_ticket_is_attached_but_changes_nothing(eml, redis_conn, django_capture_on_commit_callbacks):
    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    ticket.status = Ticket.Status.ANSWERED
    ticket.save(update_fields=["status"])
    raw = eml("autoreply.eml").replace(b"MIME-Version", b"In-Reply-To: <cp1251-8bit@example.ru>\nMIME-Version")
    redis_conn.flushdb()
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest_raw(raw)
    assert result.ticket == ticket and result.message.is_auto
    ticket.refresh_from_db()
    assert ticket.status == Ticket.Status.ANSWERED
    assert nlp_queue_length() == 0  # no processing, hence no draft, hence no answer


@pytest.mark.parametrize("name", ["autoreply.eml", "bounce.eml", "bulk.eml"])
def test_unthreaded_automatic_mail_is_stored_as_a_closed_auto_ticket(eml, name, redis_conn,
                                                                   django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest_raw(eml(name))
    ticket = result.ticket
    assert ticket.is_auto and ticket.status == Ticket.Status.CLOSED and ticket.closed_at
    assert ticket.contact is None  # MAILER-DAEMON is not a customer
    assert nlp_queue_length() == 0


def test_contact_is_reused_and_completed(eml):
    raw = b"From: petrov@teploset.ru\nSubject: a\nMessage-ID: <c1@x>\n\ntext"
    ingest_raw(raw)
    assert Contact.objects.get().name == ""
    ingest_raw(eml("cp1251_8bit.eml"))
    assert Contact.objects.count() == 1 and Contact.objects.get().name == "Петров Сергей"
