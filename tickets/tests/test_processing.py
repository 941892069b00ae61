"""The NLP stage of ticket processing: fields filled, audit recorded, draft queued, errors kept."""

import hashlib

import pytest

from nlp import loaders
from tickets import processing
from tickets.models import Message, ProcessingRun, Ticket

ANGRY_MAIL = """ЭТО УЖЕ ТРЕТЬЕ ПИСЬМО!!! Сигнализатор СГГ-20Микро зав. № 4512 опять срабатывает без причины,
котельная встаёт. Сколько можно??? Никто не отвечает на звонки, безобразие.

С уважением,
Кузнецов Андрей Петрович
МУП «Тюменьтеплосеть»
тел. 8-3452-55-12-34, доб. 12
kuznetsov@tmnteplo.ru

-----Original Message-----
From: service@enigma.local
Мастер Смирнов Олег, +7 (812) 300-10-25
"""


def make_ticket(body: str, sender: str = "andrey@example.ru") -> Ticket:
    ticket = Ticket.objects.create(subject="Сигнализатор")
    raw = f"From: {sender}\r\n\r\n{body}".encode("utf-8", "replace")
    Message.objects.create(
        ticket=ticket, direction=Message.Direction.INBOUND, message_id=f"<{hashlib.md5(raw).hexdigest()}@t>",
        from_address=sender, body_text=body, raw=raw, raw_sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw), parse_status=Message.ParseStatus.PARSED,
    )
    return ticket


@pytest.mark.django_db
def test_nlp_stage_fills_the_ticket_and_queues_the_draft(monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("tickets.jobs.enqueue_draft", lambda pk: queued.append(pk))
    ticket = make_ticket(ANGRY_MAIL)

    with django_capture_on_commit_callbacks(execute=True):
        processing.ticket_process(ticket.pk)

    ticket.refresh_from_db()
    assert ticket.full_name == "Кузнецов Андрей Петрович"
    assert ticket.phone == "+73452551234 доб. 12"
    assert ticket.email == "kuznetsov@tmnteplo.ru"
    assert ticket.company == "МУП «Тюменьтеплосеть»"
    assert (ticket.device_type, ticket.device_serial) == ("СГГ-20Микро", "4512")
    assert ticket.sentiment == Ticket.Sentiment.NEGATIVE and ticket.sentiment_score > 0.5
    assert ticket.sentiment_backend
    assert ticket.priority == Ticket.Priority.URGENT
    assert ticket.intent == "malfunction" and ticket.intent_confidence > 0
    assert ticket.summary
    assert "Кузнецов" not in ticket.masked_text and "55-12-34" not in ticket.masked_text
    assert "[ФИО]" in ticket.masked_text and "СГГ-20Микро" in ticket.masked_text
    assert "Смирнов" not in ticket.masked_text  # quoted history is not the customer's text
    assert ticket.status == Ticket.Status.PROCESSING
    assert ticket.processing_error == ""
    run = ProcessingRun.objects.get(ticket=ticket, stage="nlp")
    assert run.ok and run.latency_ms > 0
    assert "natasha" in run.backend and ticket.sentiment_backend in run.backend
    assert run.result["entities"]["serial"] == "4512"
    assert queued == [ticket.pk]


@pytest.mark.django_db
def test_sender_address_is_kept_when_the_mail_names_none(monkeypatch):
    monkeypatch.setattr("tickets.jobs.enqueue_draft", lambda pk: None)
    ticket = make_ticket("Добрый день! Подскажите срок поверки Сигнал-4. Спасибо.", sender="Boss@Plant.RU")
    processing.ticket_process(ticket.pk)
    ticket.refresh_from_db()
    assert ticket.email == "boss@plant.ru"
    assert ticket.intent == "calibration"


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["", "\x00\x01\x02\ufffd" * 500, "😡😡😡🔥", "а" * 1_000_000])
def test_bad_input_never_crashes(monkeypatch, body):
    monkeypatch.setattr("tickets.jobs.enqueue_draft", lambda pk: None)
    ticket = make_ticket(body.replace("\x00", ""))  # PostgreSQL text cannot hold NUL
    processing.ticket_process(ticket.pk)
    run = ProcessingRun.objects.get(ticket=ticket, stage="nlp")
    assert run.ok
    assert isinstance(run.result["warnings"], list)


@pytest.mark.django_db
def test_an_nlp_failure_is_recorded_not_raised(monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr("tickets.jobs.enqueue_draft", lambda pk: queued.append(pk))

    def broken(*args, **kwargs):
        raise RuntimeError("model file is corrupt")

    monkeypatch.setattr("nlp.service.analyze", broken)
    ticket = make_ticket(ANGRY_MAIL)
    with django_capture_on_commit_callbacks(execute=True):
        processing.ticket_process(ticket.pk)
    ticket.refresh_from_db()
    assert "model file is corrupt" in ticket.processing_error
    run = ProcessingRun.objects.get(ticket=ticket, stage="nlp")
    assert not run.ok and "RuntimeError" in run.error
    assert queued == []  # no draft without an analysis


@pytest.mark.django_db
def test_rq_job_path_loads_models_once_per_worker(run_jobs, monkeypatch):
    """Two tickets through the real queue in one SimpleWorker: the models are loaded at most
    once (the recommended NLP worker is SimpleWorker or tickets.worker.PreloadedWorker)."""
    from tickets.jobs import enqueue_processing

    monkeypatch.setattr("tickets.jobs.enqueue_draft", lambda pk: None)
    first, second = make_ticket(ANGRY_MAIL), make_ticket("Прошу выслать паспорт на ИГС-98 зав. № 7788121.")
    enqueue_processing(first.pk)
    enqueue_processing(second.pk)
    before = dict(loaders.LOADS)
    run_jobs("nlp")
    assert ProcessingRun.objects.filter(stage="nlp", ok=True).count() == 2
    loaded = {k: loaders.LOADS[k] - before.get(k, 0) for k in loaders.LOADS}
    assert all(count <= 1 for count in loaded.values()), loaded
    second.refresh_from_db()
    assert second.device_serial == "7788121" and second.intent == "documents"


@pytest.mark.django_db
def test_a_short_follow_up_keeps_what_the_thread_already_told(monkeypatch):
    monkeypatch.setattr("tickets.jobs.enqueue_draft", lambda pk: None)
    ticket = make_ticket(ANGRY_MAIL, sender="kuznetsov@tmnteplo.ru")
    processing.ticket_process(ticket.pk)
    follow_up = "Не помогло, прибор опять сработал ночью."
    raw = f"From: kuznetsov@tmnteplo.ru\r\n\r\n{follow_up}".encode()
    Message.objects.create(
        ticket=ticket, direction=Message.Direction.INBOUND, message_id="<follow-up@t>",
        from_address="kuznetsov@tmnteplo.ru", body_text=follow_up, raw=raw,
        raw_sha256=hashlib.sha256(raw).hexdigest(), size=len(raw), parse_status=Message.ParseStatus.PARSED,
    )
    processing.ticket_process(ticket.pk)
    ticket.refresh_from_db()
    assert ticket.phone == "+73452551234 доб. 12"
    assert (ticket.device_type, ticket.device_serial) == ("СГГ-20Микро", "4512")
    assert ticket.full_name == "Кузнецов Андрей Петрович" and ticket.company == "МУП «Тюменьтеплосеть»"
    assert "Не помогло" in ticket.masked_text  # the draft answers the latest mail
