"""What the bot shows: ticket cards, confirmations, lists — as plain data (HTML text + buttons).

No aiogram here: ``bot/keyboards.py`` turns :class:`Button` rows into Telegram keyboards.
Texts are in Russian (staff read them). Cards carry no customer personal data: number, status,
sentiment, priority, device and the masked summary only. The draft (``llm_response``) is shown
on request only, to linked staff.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from html import escape

from notifications.events import admin_url, masked_summary

TELEGRAM_TEXT_LIMIT = 4096

# Callback data: "<action>:<argument>" (Telegram allows 64 bytes).
TAKE, REPLY, REPLY_CONFIRM, REPLY_CANCEL, DRAFT, PREFERENCE = "take", "reply", "reply_ok", "reply_no", "draft", "pref"

SENTIMENT_MARKS = {"negative": "🔴", "neutral": "⚪️", "positive": "🟢"}
PRIORITY_MARKS = {"urgent": "‼️ срочно", "high": "❗ высокий приоритет"}


@dataclass(frozen=True)
class Button:
    text: str
    callback: str = ""
    url: str = ""


@dataclass(frozen=True)
class Card:
    text: str  # Telegram HTML
    buttons: tuple[tuple[Button, ...], ...] = field(default=())

    def digest(self) -> str:
        data = self.text + "\x00" + repr(self.buttons)
        return hashlib.sha256(data.encode()).hexdigest()


def callback(action: str, argument) -> str:
    return f"{action}:{argument}"


def parse_callback(data: str | None) -> tuple[str, str]:
    action, _, argument = (data or "").partition(":")
    return action, argument


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def staff_name(user) -> str:
    if user is None:
        return "не назначен"
    return user.get_full_name() or user.get_username()


def sentiment_line(ticket) -> str:
    if not ticket.sentiment:
        return "⏳ тональность ещё не определена"
    mark = SENTIMENT_MARKS.get(ticket.sentiment, "⚪️")
    return f"{mark} {ticket.get_sentiment_display()}"


def reply_state_line(ticket, last_reply_status: str | None) -> str:
    from tickets.models import OutboundEmail, Ticket

    if ticket.status == Ticket.Status.ANSWERED or last_reply_status == OutboundEmail.Status.SENT and ticket.status != Ticket.Status.CUSTOMER_REPLIED:
        return "✅ Ответ отправлен клиенту"
    if ticket.status == Ticket.Status.REPLY_QUEUED:
        return "📤 Ответ в очереди на отправку"
    if last_reply_status == OutboundEmail.Status.FAILED and ticket.status == Ticket.Status.DRAFT_READY:
        return "⚠️ Ответ не отправлен — причина в админке; можно отправить снова"
    if ticket.status == Ticket.Status.CUSTOMER_REPLIED:
        return "✉️ Клиент ответил"
    if ticket.status in (Ticket.Status.NEW, Ticket.Status.PROCESSING):
        return "⏳ Письмо анализируется, черновик готовится"
    if ticket.status == Ticket.Status.DRAFT_READY:
        return "📝 Черновик ответа готов"
    return ""


def can_send_reply(ticket) -> bool:
    from tickets.models import Ticket

    return (bool((ticket.llm_response or "").strip()) and not ticket.is_auto
            and ticket.status not in (Ticket.Status.REPLY_QUEUED, Ticket.Status.ANSWERED, Ticket.Status.CLOSED))


def ticket_card(ticket, viewer, last_reply_status: str | None = None, summary: str | None = None) -> Card:
    """The card a staff member sees for a ticket; ``viewer`` decides «Взять в работу».
    ``summary``: the masked summary when the caller already has it (one per event, not per chat)."""
    from tickets.models import Ticket

    head = f"{SENTIMENT_MARKS.get(ticket.sentiment, '🆕')} <b>Заявка #{ticket.number}</b>"
    if ticket.priority in PRIORITY_MARKS:
        head += f" · {PRIORITY_MARKS[ticket.priority]}"
    assignee = staff_name(ticket.assignee) if ticket.assignee_id else "не назначен"
    if ticket.assignee_id and viewer is not None and ticket.assignee_id == viewer.pk:
        assignee += " (вы)"
    lines = [
        head,
        f"Тональность: {escape(sentiment_line(ticket))}",
        f"Прибор: {escape(ticket.device_type) or 'не определён'}",
        f"Статус: {escape(ticket.get_status_display())}",
        f"Исполнитель: {escape(assignee)}",
    ]
    state = reply_state_line(ticket, last_reply_status)
    if state:
        lines.append(state)
    summary = masked_summary(ticket) if summary is None else summary
    if summary:
        lines += ["", f"<i>{escape(cut(summary, 1500))}</i>"]

    rows: list[tuple[Button, ...]] = [(Button("Открыть", url=admin_url(ticket.pk)),)]
    action_row = []
    if ticket.status != Ticket.Status.CLOSED and (viewer is None or ticket.assignee_id != viewer.pk):
        action_row.append(Button("Взять в работу", callback=callback(TAKE, ticket.pk)))
    if (ticket.llm_response or "").strip():
        action_row.append(Button("Показать черновик", callback=callback(DRAFT, ticket.pk)))
    if action_row:
        rows.append(tuple(action_row))
    if can_send_reply(ticket):
        rows.append((Button("Отправить ответ", callback=callback(REPLY, ticket.pk)),))
    return Card(text="\n".join(lines), buttons=tuple(rows))


def reply_confirmation(ticket) -> Card:
    from tickets.services import draft_fingerprint

    body = cut(ticket.llm_response.strip(), 3000)
    text = (f"Отправить клиенту ответ по заявке <b>#{ticket.number}</b>?\n\n"
            f"<blockquote>{escape(body)}</blockquote>\n\n"
            "Письмо уйдёт с адреса поддержки. Чтобы поправить текст, откройте заявку в админке.")
    return Card(text=text, buttons=((
        # The fingerprint ties «Да» to the text shown here (callback data: 64 bytes at most).
        Button("✅ Да, отправить", callback=callback(REPLY_CONFIRM, f"{ticket.pk}.{draft_fingerprint(ticket.llm_response)}")),
        Button("Отмена", callback=callback(REPLY_CANCEL, ticket.pk)),
    ),))


def draft_text(ticket) -> str:
    header = f"📝 <b>Черновик ответа по заявке #{ticket.number}</b>\n\n"
    body = escape(ticket.llm_response.strip())
    room = TELEGRAM_TEXT_LIMIT - len(header) - 80
    if len(body) > room:
        body = body[:room].rsplit(" ", 1)[0] + "…\n\n(полный текст — в админке)"
    return header + body


def preference_card(current: str) -> Card:
    from notifications.models import TelegramLink

    labels = dict(TelegramLink.Preference.choices)
    rows = tuple(
        (Button(("✅ " if value == current else "") + str(label), callback=callback(PREFERENCE, value)),)
        for value, label in labels.items()
    )
    return Card(text=f"Какие заявки присылать?\nСейчас: <b>{escape(str(labels.get(current, current)))}</b>", buttons=rows)


def ticket_line(ticket, viewer=None) -> str:
    mark = SENTIMENT_MARKS.get(ticket.sentiment, "🆕")
    prio = " ‼️" if ticket.priority == "urgent" else (" ❗" if ticket.priority == "high" else "")
    device = escape(ticket.device_type) or "прибор не определён"
    return f"{mark}{prio} /ticket_{ticket.number} · {device} · {escape(ticket.get_status_display())}"


HELP_TEXT = (
    "Я присылаю новые заявки службы поддержки и помогаю работать с ними.\n\n"
    "/tickets — мои открытые заявки и заявки без исполнителя\n"
    "/ticket N — карточка заявки № N\n"
    "/stats — статистика за сегодня\n"
    "/settings — какие заявки присылать\n"
    "/help — эта справка\n\n"
    "Кнопки под карточкой: «Открыть» — заявка в админке, «Взять в работу» — назначить на себя, "
    "«Показать черновик» — текст ответа, «Отправить ответ» — отправить черновик клиенту (с подтверждением)."
)

REFUSAL_TEXT = (
    "Здравствуйте! Этот бот предназначен только для сотрудников службы поддержки, "
    "поэтому выполнить запрос я не могу.\n\n"
    "Если вы сотрудник, откройте в админке раздел «Уведомления → Привязки Telegram», "
    "получите код привязки и перейдите по ссылке или отправьте мне /start &lt;код&gt;."
)
