"""Notification workflows: linking chats, planning deliveries, and the staff actions behind the
bot's commands and buttons. Plain sync functions; the bot calls them through
``channels.db.database_sync_to_async`` and never touches the ORM itself.

Every bot-facing function takes the Telegram user id and checks it belongs to a linked, active
staff user (:func:`bot_actor`); otherwise it raises :class:`NotAllowed` and the bot refuses.
Ticket actions go through ``tickets.services`` (the same services as the API and the admin).
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from notifications import cards, events
from notifications.models import TelegramLink, TelegramMessage

logger = logging.getLogger(__name__)

LINK_CODE_TTL = timedelta(minutes=30)
BOT_USERNAME_KEY = "enigma:telegram:bot_username"
OPEN_EXCLUDED = ("answered", "closed")


class NotAllowed(Exception):
    """The Telegram user is not a linked, active staff member."""


# --- linking -----------------------------------------------------------------------------------

def link_code_issue(user) -> TelegramLink:
    """A fresh one-time code for ``user`` (valid ``LINK_CODE_TTL``); the old one stops working."""
    if not (user.is_active and user.is_staff):
        raise NotAllowed("Привязать Telegram могут только активные сотрудники.")
    with transaction.atomic():
        link, _ = TelegramLink.objects.select_for_update().get_or_create(user=user)
        link.code = secrets.token_urlsafe(24)  # 32 characters of [A-Za-z0-9_-]: valid in a deep link
        link.code_expires_at = timezone.now() + LINK_CODE_TTL
        link.save(update_fields=["code", "code_expires_at"])
    return link


def bot_username() -> str:
    """From ``TELEGRAM_BOT_USERNAME`` when set, else what the running bot stored at start-up."""
    name = getattr(settings, "TELEGRAM_BOT_USERNAME", "")
    if name:
        return name.lstrip("@")
    try:
        value = events._redis(settings.REDIS_URL).get(BOT_USERNAME_KEY)
    except Exception:  # noqa: BLE001 - only a convenience for the admin page
        return ""
    return value.decode() if value else ""


def remember_bot_username(username: str) -> None:
    try:
        events._redis(settings.REDIS_URL).set(BOT_USERNAME_KEY, username)
    except Exception as exc:  # noqa: BLE001 - only a convenience for the admin page
        logger.warning("could not store the bot username: %s", exc)


def deep_link(code: str, username: str | None = None) -> str:
    username = username if username is not None else bot_username()
    return f"https://t.me/{username}?start={code}" if username else ""


@dataclass
class LinkResult:
    ok: bool
    text: str


def link_chat(code: str, *, chat_id: int, telegram_user_id: int, username: str = "") -> LinkResult:
    """``/start <code>``: bind the chat to the code's staff user (one chat per user, one user per chat)."""
    code = (code or "").strip()
    with transaction.atomic():
        link = TelegramLink.objects.select_for_update().select_related("user").filter(code=code).first() if code else None
        if link is None or not link.code_is_valid:
            return LinkResult(False, "Код привязки не найден или истёк. Получите новый код в админке "
                                     "(«Уведомления → Привязки Telegram») и попробуйте ещё раз.")
        if not (link.user.is_active and link.user.is_staff):
            return LinkResult(False, cards.REFUSAL_TEXT)
        TelegramLink.objects.filter(chat_id=chat_id).exclude(pk=link.pk).update(
            chat_id=None, telegram_user_id=None, linked_at=None)
        link.chat_id = chat_id
        link.telegram_user_id = telegram_user_id
        link.telegram_username = (username or "")[:64]
        link.linked_at = timezone.now()
        link.code = None
        link.code_expires_at = None
        link.is_active = True
        link.last_error = ""
        link.save()
    name = cards.staff_name(link.user)
    return LinkResult(True, f"Готово, {name}! Telegram привязан к вашей учётной записи.\n"
                            f"Присылаю: {link.get_preference_display().lower()} (изменить — /settings).\n\n"
                            + cards.HELP_TEXT)


def chat_unlink(chat_id: int, reason: str) -> None:
    """The chat blocked the bot or was deleted: stop sending there (staff re-link from the admin)."""
    TelegramLink.objects.filter(chat_id=chat_id).update(is_active=False, last_error=reason[:500])


def chat_error(chat_id: int, reason: str) -> None:
    TelegramLink.objects.filter(chat_id=chat_id).update(last_error=reason[:500])


def _active_links():
    return (TelegramLink.objects.filter(is_active=True, chat_id__isnull=False, linked_at__isnull=False,
                                        user__is_active=True, user__is_staff=True)
            .select_related("user"))


def bot_actor(telegram_user_id: int | None):
    """The staff user behind a Telegram user, or :class:`NotAllowed`."""
    if telegram_user_id is None:
        raise NotAllowed()
    link = _active_links().filter(telegram_user_id=telegram_user_id).first()
    if link is None:
        raise NotAllowed()
    return link.user


def is_linked(telegram_user_id: int | None) -> bool:
    try:
        bot_actor(telegram_user_id)
    except NotAllowed:
        return False
    return True


# --- deliveries --------------------------------------------------------------------------------

@dataclass
class Delivery:
    chat_id: int
    ticket_id: int
    card: cards.Card
    message_id: int | None = None  # the card already in the chat: edit it
    alert: str = ""  # a short message that pings the chat (sent as a reply to the card)

    @property
    def is_edit(self) -> bool:
        return self.message_id is not None


def wants(link: TelegramLink, ticket) -> bool:
    if ticket.assignee_id == link.user_id:
        return True
    if link.preference == TelegramLink.Preference.ALL:
        return True
    return ticket.sentiment == "negative" or ticket.priority in ("high", "urgent")


ANNOUNCED_EVENTS = (events.TICKET_CREATED, events.TICKET_UPDATED, events.TICKET_DRAFT_READY, events.TICKET_REPLY_FAILED)


def deliveries_plan(payload: dict) -> list[Delivery]:
    """Which chats get a new card, which cards are edited, who is pinged, for one event.

    The card is rendered from the ticket as it is now (events may arrive late or coalesced).
    New cards go to chats that want the ticket (preference) while it still needs someone;
    chats that already have the card get it edited when its content changed.
    """
    from tickets.models import OutboundEmail, Ticket

    ticket = Ticket.objects.select_related("assignee").filter(pk=payload.get("ticket_id")).first()
    if ticket is None:
        return []
    event = payload.get("event")
    existing = {m.chat_id: m for m in TelegramMessage.objects.filter(ticket=ticket)}
    last_reply = ticket.outbound_emails.order_by("-created_at", "-id").values("status", "requested_by_id").first()
    last_status = last_reply["status"] if last_reply else None
    announce = (event in ANNOUNCED_EVENTS and not ticket.is_auto
                and ticket.status not in (Ticket.Status.ANSWERED, Ticket.Status.CLOSED))
    links = list(_active_links())
    alert_chats: set[int] = set()
    if event == events.TICKET_REPLY_FAILED and last_status == OutboundEmail.Status.FAILED:
        # Ping the assignee and whoever pressed "send"; nobody of them linked: everyone concerned.
        targets = {uid for uid in (ticket.assignee_id, last_reply["requested_by_id"]) if uid}
        alert_chats = {link.chat_id for link in links if link.user_id in targets}
        if not alert_chats:
            alert_chats = {link.chat_id for link in links if link.chat_id in existing or wants(link, ticket)}
    alert_text = f"⚠️ Ответ по заявке #{ticket.number} не отправлен клиенту. Причина — в админке; можно отправить снова."
    summary = events.masked_summary(ticket)
    plan = []
    for link in links:
        card = cards.ticket_card(ticket, link.user, last_status, summary)
        current = existing.get(link.chat_id)
        alert = alert_text if link.chat_id in alert_chats else ""
        if current is not None:
            if current.content_hash != card.digest() or alert:
                plan.append(Delivery(link.chat_id, ticket.pk, card, current.message_id, alert))
        elif (announce and wants(link, ticket)) or alert:
            plan.append(Delivery(link.chat_id, ticket.pk, card, None, alert))
    return plan


def card_record(ticket_id: int, chat_id: int, message_id: int, content_hash: str) -> None:
    TelegramMessage.objects.update_or_create(
        ticket_id=ticket_id, chat_id=chat_id, defaults={"message_id": message_id, "content_hash": content_hash})


def card_forget(ticket_id: int, chat_id: int) -> None:
    TelegramMessage.objects.filter(ticket_id=ticket_id, chat_id=chat_id).delete()


# --- staff actions (buttons and commands) ------------------------------------------------------

def _ticket(ticket_id):
    from tickets.models import Ticket

    return Ticket.objects.select_related("assignee").filter(pk=ticket_id).first()


def _last_reply_status(ticket) -> str | None:
    return ticket.outbound_emails.order_by("-created_at", "-id").values_list("status", flat=True).first()


def ticket_take(telegram_user_id: int, ticket_id: int) -> str:
    """«Взять в работу»: assign to the pressing staff member (the card is edited by the event)."""
    from tickets.services import ticket_assign

    user = bot_actor(telegram_user_id)
    ticket = _ticket(ticket_id)
    if ticket is None:
        return "Заявка не найдена (возможно, удалена)."
    if ticket.assignee_id == user.pk:
        return f"Заявка #{ticket.number} уже у вас."
    previous = ticket.assignee
    ticket = ticket_assign(ticket.pk, user)
    if previous is not None:
        return f"Заявка #{ticket.number} теперь ваша (была у: {cards.staff_name(previous)})."
    return f"Заявка #{ticket.number} теперь ваша."


def reply_confirmation(telegram_user_id: int, ticket_id: int) -> cards.Card | str:
    """«Отправить ответ», step one: what will be sent, with «Да»/«Отмена»."""
    bot_actor(telegram_user_id)
    ticket = _ticket(ticket_id)
    if ticket is None:
        return "Заявка не найдена (возможно, удалена)."
    if not cards.can_send_reply(ticket):
        if not (ticket.llm_response or "").strip():
            return f"У заявки #{ticket.number} нет черновика: отправлять нечего."
        return f"Ответ по заявке #{ticket.number} сейчас отправить нельзя (статус: {ticket.get_status_display().lower()})."
    return cards.reply_confirmation(ticket)


def reply_confirm(telegram_user_id: int, ticket_id: int, fingerprint: str | None) -> str:
    """Step two: the same reply service as the API and the admin action, for exactly the text
    the confirmation showed (``fingerprint``), and only while the ticket still awaits a reply."""
    from tickets.services import ReplyConflict, ReplyError, reply_request

    user = bot_actor(telegram_user_id)
    ticket = _ticket(ticket_id)
    if ticket is None:
        return "Заявка не найдена (возможно, удалена)."
    if not fingerprint:
        return "Кнопка устарела: нажмите «Отправить ответ» ещё раз."
    if not cards.can_send_reply(ticket):
        return f"Ответ по заявке #{ticket.number} сейчас отправить нельзя (статус: {ticket.get_status_display().lower()})."
    try:
        reply_request(ticket.pk, user=user, expected_fingerprint=fingerprint)
    except ReplyConflict as exc:
        return f"⚠️ {exc}".replace(" Для повторной отправки укажите resend.", " Повторная отправка — из админки.")
    except ReplyError as exc:
        return f"⚠️ Ответ не поставлен в очередь: {exc}"
    return f"📤 Ответ по заявке #{ticket.number} поставлен в очередь на отправку. Карточка обновится, когда письмо уйдёт."


def draft_show(telegram_user_id: int, ticket_id: int) -> str:
    bot_actor(telegram_user_id)
    ticket = _ticket(ticket_id)
    if ticket is None:
        return "Заявка не найдена (возможно, удалена)."
    if not (ticket.llm_response or "").strip():
        return f"Черновика по заявке #{ticket.number} пока нет."
    return cards.draft_text(ticket)


def ticket_card_by_number(telegram_user_id: int, number: int) -> tuple[int, cards.Card] | str:
    from tickets.models import Ticket

    user = bot_actor(telegram_user_id)
    ticket = Ticket.objects.select_related("assignee").filter(number=number).first()
    if ticket is None:
        return f"Заявки #{number} нет."
    return ticket.pk, cards.ticket_card(ticket, user, _last_reply_status(ticket))


def tickets_overview(telegram_user_id: int, limit: int = 15) -> str:
    """/tickets: my open tickets and the unassigned ones, newest first."""
    from tickets.models import Ticket

    user = bot_actor(telegram_user_id)
    open_tickets = Ticket.objects.exclude(status__in=OPEN_EXCLUDED).filter(is_auto=False).only(
        "number", "sentiment", "priority", "device_type", "status", "assignee_id").order_by("-created_at")
    mine = list(open_tickets.filter(assignee=user)[: limit + 1])
    free = list(open_tickets.filter(assignee__isnull=True)[: limit + 1])
    parts = []
    for title, rows in (("Мои открытые заявки", mine), ("Без исполнителя", free)):
        parts.append(f"<b>{title}</b>")
        if not rows:
            parts.append("— нет")
        parts += [cards.ticket_line(t) for t in rows[:limit]]
        if len(rows) > limit:
            parts.append(f"… и ещё (первые {limit}; все — в админке)")
        parts.append("")
    return "\n".join(parts).strip()


def stats_today(telegram_user_id: int) -> str:
    """/stats: today (local time zone) at a glance."""
    from tickets.models import OutboundEmail, Ticket

    user = bot_actor(telegram_user_id)
    now = timezone.localtime()
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    today = Ticket.objects.filter(created_at__gte=start).aggregate(
        total=Count("id"),
        negative=Count("id", filter=Q(sentiment="negative")),
        urgent=Count("id", filter=Q(priority__in=("high", "urgent"))),
        auto=Count("id", filter=Q(is_auto=True)),
    )
    open_now = Ticket.objects.exclude(status__in=OPEN_EXCLUDED).filter(is_auto=False).aggregate(
        total=Count("id"),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
        mine=Count("id", filter=Q(assignee=user)),
        drafts=Count("id", filter=Q(status="draft_ready")),
    )
    replies = OutboundEmail.objects.filter(created_at__gte=start).aggregate(
        sent=Count("id", filter=Q(status="sent")),
        failed=Count("id", filter=Q(status="failed")),
        queued=Count("id", filter=Q(status__in=("queued", "sending"))),
    )
    return "\n".join([
        f"<b>Сегодня, {now:%d.%m.%Y}</b>",
        (f"Новых заявок: {today['total']} (негативных: {today['negative']}, срочных: {today['urgent']}, "
         f"автоматических: {today['auto']})"),
        f"Ответов отправлено: {replies['sent']}, в очереди: {replies['queued']}, с ошибкой: {replies['failed']}",
        "",
        "<b>Открыто сейчас</b>",
        (f"Всего: {open_now['total']}, без исполнителя: {open_now['unassigned']}, у вас: {open_now['mine']}, "
         f"с готовым черновиком: {open_now['drafts']}"),
    ])


def preference_show(telegram_user_id: int) -> cards.Card:
    user = bot_actor(telegram_user_id)
    return cards.preference_card(user.telegram_link.preference)


def preference_set(telegram_user_id: int, value: str) -> cards.Card:
    user = bot_actor(telegram_user_id)
    if value not in TelegramLink.Preference.values:
        raise ValueError(value)
    TelegramLink.objects.filter(user=user).update(preference=value)
    return cards.preference_card(value)
