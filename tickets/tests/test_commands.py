"""import_eml over files, folders and mbox; the processing job through real Redis."""

import mailbox

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from conftest import FIXTURES
from tickets.models import Message, ProcessingRun, Ticket

pytestmark = pytest.mark.django_db


def test_import_folder(capsys):
    call_command("import_eml", str(FIXTURES))
    out = capsys.readouterr()
    total = len(list(FIXTURES.glob("*.eml")))
    assert Message.objects.count() == total
    assert f"Imported {total} messages" in out.out and "1 failed to parse" in out.out
    assert "garbage.eml" in out.err


def test_import_mbox_and_single_file(tmp_path, eml):
    box = mailbox.mbox(tmp_path / "archive.mbox")
    for name in ("cp1251_8bit.eml", "koi8r_qp.eml", "html_only.eml"):
        box.add(mailbox.mboxMessage(eml(name)))
    box.flush()
    box.close()
    call_command("import_eml", str(tmp_path / "archive.mbox"), str(FIXTURES / "alternative.eml"))
    assert Ticket.objects.count() == 4
    assert Ticket.objects.filter(subject="Поверка").exists()


def test_import_twice_is_idempotent():
    call_command("import_eml", str(FIXTURES))
    count = Message.objects.count()
    call_command("import_eml", str(FIXTURES))
    assert Message.objects.count() == count


def test_import_missing_path_is_a_clear_error():
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_eml", "/nonexistent/mail.eml")


def test_new_ticket_is_queued_and_processed_by_a_worker(eml, run_jobs, django_capture_on_commit_callbacks):
    from tickets.ingest.store import ingest_raw

    with django_capture_on_commit_callbacks(execute=True):
        ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    import django_rq

    assert django_rq.get_queue("nlp").count == 1
    run_jobs("nlp")
    assert django_rq.get_queue("nlp").finished_job_registry.count == 1
    assert ProcessingRun.objects.filter(ticket=ticket).exists()


def test_redis_down_does_not_lose_the_ticket(eml, settings, django_capture_on_commit_callbacks):
    from tickets.ingest.store import ingest_raw

    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "nlp": {"URL": "redis://127.0.0.1:1/0"}}
    with django_capture_on_commit_callbacks(execute=True):
        ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    ticket.refresh_from_db()
    assert "Очередь обработки недоступна" in ticket.processing_error


def test_tickets_whose_processing_never_started_are_requeued(eml, redis_conn, settings, django_capture_on_commit_callbacks):
    from datetime import timedelta

    import django_rq
    from django.utils import timezone

    from tickets.ingest.store import ingest_raw
    from tickets.jobs import requeue_stale

    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "nlp": {"URL": "redis://127.0.0.1:1/0"}}
    with django_capture_on_commit_callbacks(execute=True):  # Redis is down when the mail arrives
        ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "nlp": {**settings.RQ_QUEUES["default"]}}  # Redis is back
    assert requeue_stale() == 0  # within the grace period: its job may simply not have run yet
    Ticket.objects.filter(pk=ticket.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert requeue_stale() == 1
    assert requeue_stale() == 0  # its job still waits (no worker yet): not queued twice
    assert django_rq.get_queue("nlp").count == 1
    ProcessingRun.objects.create(ticket=ticket, stage="nlp")
    assert requeue_stale() == 0  # processing started: left alone


def test_a_reply_left_without_a_job_is_requeued(eml, redis_conn, settings, django_capture_on_commit_callbacks):
    from datetime import timedelta

    import django_rq
    from django.utils import timezone

    from tickets.ingest.store import ingest_raw
    from tickets.models import OutboundEmail
    from tickets.services import reply_request, requeue_stuck_replies

    ticket = ingest_raw(eml("cp1251_8bit.eml")).ticket
    redis_conn.flushdb()
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "default": {"URL": "redis://127.0.0.1:1/0"}}
    with django_capture_on_commit_callbacks(execute=True):  # Redis is down when staff press «Отправить»
        outbound = reply_request(ticket.pk, text="Ответ").outbound
    settings.RQ_QUEUES = {**settings.RQ_QUEUES, "default": {**settings.RQ_QUEUES["nlp"]}}  # Redis is back
    OutboundEmail.objects.filter(pk=outbound.pk).update(created_at=timezone.now() - timedelta(hours=1))
    assert requeue_stuck_replies() == 1
    assert django_rq.get_queue("default").count == 1
    assert requeue_stuck_replies() == 0  # its job now exists
