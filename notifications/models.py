"""Telegram links of staff users and the ticket cards the bot has sent (to edit them in place)."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class TelegramLink(models.Model):
    """One staff user's Telegram chat. A one-time code (deep link ``/start <code>``) binds it."""

    class Preference(models.TextChoices):
        ALL = "all", _("Все заявки")
        NEGATIVE_OR_URGENT = "negative_or_urgent", _("Только негативные и срочные")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("сотрудник"), on_delete=models.CASCADE, related_name="telegram_link",
    )
    chat_id = models.BigIntegerField(_("чат Telegram"), null=True, blank=True, unique=True)
    telegram_user_id = models.BigIntegerField(_("пользователь Telegram"), null=True, blank=True, db_index=True)
    telegram_username = models.CharField(_("имя в Telegram"), max_length=64, blank=True)
    code = models.CharField(_("код привязки"), max_length=64, null=True, blank=True, unique=True)
    code_expires_at = models.DateTimeField(_("код действует до"), null=True, blank=True)
    linked_at = models.DateTimeField(_("привязан"), null=True, blank=True)
    preference = models.CharField(
        _("какие заявки присылать"), max_length=32, choices=Preference.choices, default=Preference.ALL,
    )
    is_active = models.BooleanField(
        _("уведомления включены"), default=True,
        help_text=_("Снимите, чтобы бот перестал присылать заявки и принимать команды из этого чата."),
    )
    last_error = models.CharField(_("последняя ошибка доставки"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("привязка Telegram")
        verbose_name_plural = _("привязки Telegram")

    def __str__(self):
        who = f"@{self.telegram_username}" if self.telegram_username else (str(self.chat_id) if self.chat_id else "—")
        return f"{self.user} → {who}"

    @property
    def is_linked(self) -> bool:
        return self.chat_id is not None and self.linked_at is not None

    @property
    def code_is_valid(self) -> bool:
        return bool(self.code and self.code_expires_at and self.code_expires_at > timezone.now())


class TelegramMessage(models.Model):
    """The ticket card sent to one chat; edited in place when the ticket changes."""

    ticket = models.ForeignKey(
        "tickets.Ticket", verbose_name=_("заявка"), on_delete=models.CASCADE, related_name="telegram_messages",
    )
    chat_id = models.BigIntegerField(_("чат Telegram"))
    message_id = models.BigIntegerField(_("сообщение"))
    content_hash = models.CharField(_("хэш содержимого"), max_length=64, blank=True)
    sent_at = models.DateTimeField(_("отправлено"), auto_now_add=True)
    updated_at = models.DateTimeField(_("изменено"), auto_now=True)

    class Meta:
        verbose_name = _("карточка в Telegram")
        verbose_name_plural = _("карточки в Telegram")
        constraints = [models.UniqueConstraint(fields=["ticket", "chat_id"], name="telegram_message_ticket_chat")]

    def __str__(self):
        return f"#{self.ticket_id} → {self.chat_id}/{self.message_id}"
