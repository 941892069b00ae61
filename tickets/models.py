"""Tickets, the mail they are made of, and the replies we send.

Models hold fields, constraints and cheap properties only; workflows live in
``tickets/services.py`` and ``tickets/ingest/``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Func, Value
from django.utils.translation import gettext_lazy as _

TICKET_NUMBER_SEQUENCE = "tickets_ticket_number_seq"


class Contact(models.Model):
    """A customer, auto-populated from the addresses that write to us."""

    email = models.EmailField(_("e-mail"), max_length=320, unique=True)
    name = models.CharField(_("имя"), max_length=255, blank=True)
    phone = models.CharField(_("телефон"), max_length=64, blank=True)
    company = models.CharField(_("организация"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("создан"), auto_now_add=True)
    updated_at = models.DateTimeField(_("изменён"), auto_now=True)

    class Meta:
        verbose_name = _("контакт")
        verbose_name_plural = _("контакты")
        ordering = ["email"]

    def __str__(self):
        return f"{self.name} <{self.email}>" if self.name else self.email


class Ticket(models.Model):
    class Status(models.TextChoices):
        NEW = "new", _("Новая")
        PROCESSING = "processing", _("Обрабатывается")
        DRAFT_READY = "draft_ready", _("Черновик готов")
        REPLY_QUEUED = "reply_queued", _("Ответ в очереди")
        ANSWERED = "answered", _("Отвечена")
        CUSTOMER_REPLIED = "customer_replied", _("Ответ клиента")
        CLOSED = "closed", _("Закрыта")

    class Sentiment(models.TextChoices):
        NEGATIVE = "negative", _("Негатив")
        NEUTRAL = "neutral", _("Нейтрально")
        POSITIVE = "positive", _("Позитив")

    class Priority(models.TextChoices):
        LOW = "low", _("Низкий")
        NORMAL = "normal", _("Обычный")
        HIGH = "high", _("Высокий")
        URGENT = "urgent", _("Срочный")

    # Human number (#42), from a PostgreSQL sequence so concurrent inserts never collide.
    number = models.PositiveIntegerField(
        _("номер"),
        unique=True,
        editable=False,
        db_default=Func(Value(TICKET_NUMBER_SEQUENCE), function="nextval"),
    )
    subject = models.CharField(_("тема"), max_length=998, blank=True)
    status = models.CharField(_("статус"), max_length=32, choices=Status.choices, default=Status.NEW)
    # The owner's fields: processed is true once a reply was requested; llm_response is the
    # draft staff edit and the text that is sent.
    processed = models.BooleanField(_("обработана"), default=False)
    llm_response = models.TextField(_("ответ (черновик)"), blank=True)
    llm_sources = models.JSONField(_("источники черновика"), default=list, blank=True)
    draft_kind = models.CharField(_("вид черновика"), max_length=16, blank=True)  # ai | template
    is_auto = models.BooleanField(
        _("автоматическое письмо"), default=False,
        help_text=_("Создана автоответом, уведомлением о доставке или рассылкой; ответ не отправляется."),
    )

    contact = models.ForeignKey(
        Contact, verbose_name=_("контакт"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="tickets",
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("исполнитель"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="assigned_tickets",
    )

    # Extracted by the nlp app.
    full_name = models.CharField(_("ФИО"), max_length=255, blank=True)
    phone = models.CharField(_("телефон"), max_length=64, blank=True)
    email = models.EmailField(_("e-mail"), max_length=320, blank=True)
    company = models.CharField(_("организация"), max_length=255, blank=True)
    device_type = models.CharField(_("тип прибора"), max_length=128, blank=True)
    device_serial = models.CharField(_("заводской номер"), max_length=128, blank=True)
    sentiment = models.CharField(_("тональность"), max_length=16, choices=Sentiment.choices, blank=True)
    sentiment_score = models.FloatField(_("оценка тональности"), null=True, blank=True)
    sentiment_backend = models.CharField(_("модель тональности"), max_length=64, blank=True)
    summary = models.TextField(_("краткое содержание"), blank=True)
    masked_text = models.TextField(_("текст без персональных данных"), blank=True)
    priority = models.CharField(_("приоритет"), max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    intent = models.CharField(_("тема обращения"), max_length=32, blank=True)
    intent_confidence = models.FloatField(_("уверенность"), null=True, blank=True)
    processing_error = models.TextField(_("ошибка обработки"), blank=True)

    created_at = models.DateTimeField(_("создана"), auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(_("изменена"), auto_now=True)
    first_response_at = models.DateTimeField(_("первый ответ"), null=True, blank=True)
    closed_at = models.DateTimeField(_("закрыта"), null=True, blank=True)

    class Meta:
        verbose_name = _("заявка")
        verbose_name_plural = _("заявки")
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "-created_at"]),
            models.Index(fields=["device_serial"]),
        ]

    def __str__(self):
        return f"#{self.number} {self.subject}"

    @property
    def tag(self) -> str:
        """The subject tag that threads mail back to this ticket."""
        return f"[#{self.number}]"


class Message(models.Model):
    """One e-mail, inbound or outbound, with its raw RFC 822 bytes."""

    class Direction(models.TextChoices):
        INBOUND = "in", _("Входящее")
        OUTBOUND = "out", _("Исходящее")

    class ParseStatus(models.TextChoices):
        PENDING = "pending", _("Ожидает разбора")
        PARSED = "parsed", _("Разобрано")
        FAILED = "failed", _("Ошибка разбора")

    class Source(models.TextChoices):
        IMAP = "imap", "IMAP"
        FILE = "file", _("Файл")
        SMTP = "smtp", _("Отправлено нами")

    ticket = models.ForeignKey(
        Ticket, verbose_name=_("заявка"), null=True, blank=True,
        on_delete=models.CASCADE, related_name="messages",
    )
    direction = models.CharField(_("направление"), max_length=3, choices=Direction.choices, default=Direction.INBOUND)
    message_id = models.CharField(_("Message-ID"), max_length=998, unique=True)
    in_reply_to = models.CharField(_("In-Reply-To"), max_length=998, blank=True)
    references = models.TextField(_("References"), blank=True)
    from_address = models.CharField(_("от (адрес)"), max_length=320, blank=True, db_index=True)
    from_name = models.CharField(_("от (имя)"), max_length=255, blank=True)
    to = models.TextField(_("кому"), blank=True)
    cc = models.TextField(_("копия"), blank=True)
    reply_to = models.CharField(_("Reply-To"), max_length=320, blank=True)
    subject = models.CharField(_("тема"), max_length=998, blank=True)
    sent_at = models.DateTimeField(_("дата письма"), null=True, blank=True)
    body_text = models.TextField(_("текст"), blank=True)
    body_html = models.TextField(_("HTML"), blank=True)
    charset_note = models.CharField(_("кодировка"), max_length=255, blank=True)
    is_auto = models.BooleanField(_("автоматическое"), default=False)
    auto_reason = models.CharField(_("признак автоответа"), max_length=64, blank=True)

    raw = models.BinaryField(_("исходное письмо"))
    raw_sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    size = models.PositiveIntegerField(_("размер"), default=0)
    parse_status = models.CharField(_("разбор"), max_length=8, choices=ParseStatus.choices, default=ParseStatus.PENDING)
    parse_error = models.TextField(_("ошибка разбора"), blank=True)
    source = models.CharField(_("источник"), max_length=8, choices=Source.choices, default=Source.FILE)
    imap_folder = models.CharField(_("папка IMAP"), max_length=255, blank=True)
    imap_uid = models.PositiveBigIntegerField(_("UID IMAP"), null=True, blank=True)
    received_at = models.DateTimeField(_("получено"), auto_now_add=True, db_index=True)

    class Meta:
        verbose_name = _("письмо")
        verbose_name_plural = _("письма")
        ordering = ["received_at", "id"]
        indexes = [models.Index(fields=["parse_status"], condition=~models.Q(parse_status="parsed"), name="message_unparsed_idx")]

    def __str__(self):
        return self.subject or self.message_id


def attachment_upload_to(instance, filename):
    return f"attachments/{instance.sha256[:2]}/{instance.sha256}/{filename}"


class Attachment(models.Model):
    message = models.ForeignKey(Message, verbose_name=_("письмо"), on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("файл"), upload_to=attachment_upload_to, max_length=500)
    filename = models.CharField(_("имя файла"), max_length=255)
    content_type = models.CharField(_("тип"), max_length=255)
    size = models.PositiveBigIntegerField(_("размер"))
    sha256 = models.CharField(_("SHA-256"), max_length=64, db_index=True)
    is_inline = models.BooleanField(_("встроенное"), default=False)
    content_id = models.CharField(_("Content-ID"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("вложение")
        verbose_name_plural = _("вложения")

    def __str__(self):
        return self.filename


class OutboundEmail(models.Model):
    """One reply to a customer; its Message-ID is fixed before the first attempt."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("В очереди")
        SENDING = "sending", _("Отправляется")
        SENT = "sent", _("Отправлено")
        FAILED = "failed", _("Ошибка")

    ticket = models.ForeignKey(Ticket, verbose_name=_("заявка"), on_delete=models.CASCADE, related_name="outbound_emails")
    to_address = models.CharField(_("кому"), max_length=320)
    subject = models.CharField(_("тема"), max_length=998)
    body = models.TextField(_("текст"))
    message_id = models.CharField(_("Message-ID"), max_length=998, unique=True)
    in_reply_to = models.CharField(_("In-Reply-To"), max_length=998, blank=True)
    references = models.TextField(_("References"), blank=True)
    status = models.CharField(_("статус"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(_("попыток"), default=0)
    last_error = models.TextField(_("последняя ошибка"), blank=True)
    job_id = models.CharField(_("задача RQ"), max_length=64, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("отправил"), null=True, blank=True, on_delete=models.SET_NULL,
    )
    created_at = models.DateTimeField(_("создано"), auto_now_add=True)
    sent_at = models.DateTimeField(_("отправлено"), null=True, blank=True)

    class Meta:
        verbose_name = _("исходящий ответ")
        verbose_name_plural = _("исходящие ответы")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.subject} → {self.to_address}"


class MailboxState(models.Model):
    """Where incremental IMAP polling stands, per mailbox folder."""

    host = models.CharField(_("сервер"), max_length=255)
    username = models.CharField(_("пользователь"), max_length=255)
    folder = models.CharField(_("папка"), max_length=255)
    uidvalidity = models.PositiveBigIntegerField(_("UIDVALIDITY"), null=True, blank=True)
    last_uid = models.PositiveBigIntegerField(_("последний UID"), default=0)
    last_poll_at = models.DateTimeField(_("последний опрос"), null=True, blank=True)
    last_success_at = models.DateTimeField(_("последний успешный опрос"), null=True, blank=True)
    last_error = models.TextField(_("последняя ошибка"), blank=True)

    class Meta:
        verbose_name = _("состояние почтового ящика")
        verbose_name_plural = _("состояния почтовых ящиков")
        constraints = [models.UniqueConstraint(fields=["host", "username", "folder"], name="mailbox_state_unique")]

    def __str__(self):
        return f"{self.username}@{self.host}/{self.folder}"


class ProcessingRun(models.Model):
    """Audit of one processing stage on a ticket (NLP, AI draft, …)."""

    ticket = models.ForeignKey(Ticket, verbose_name=_("заявка"), on_delete=models.CASCADE, related_name="processing_runs")
    stage = models.CharField(_("этап"), max_length=32)
    backend = models.CharField(_("модель/бэкенд"), max_length=255, blank=True)
    ok = models.BooleanField(_("успешно"), default=True)
    latency_ms = models.FloatField(_("время, мс"), null=True, blank=True)
    error = models.TextField(_("ошибка"), blank=True)
    result = models.JSONField(_("результат"), default=dict, blank=True)
    created_at = models.DateTimeField(_("время"), auto_now_add=True)

    class Meta:
        verbose_name = _("этап обработки")
        verbose_name_plural = _("история обработки")
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.stage} #{self.ticket_id}"
