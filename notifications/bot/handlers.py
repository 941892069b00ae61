"""Commands and buttons. Thin: parse the update, call a sync service through
``database_sync_to_async``, answer. Unlinked users get a polite refusal."""

from __future__ import annotations

import logging
import re

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message, ReplyParameters
from channels.db import database_sync_to_async

from notifications import cards, services
from notifications.bot.keyboards import markup

logger = logging.getLogger(__name__)

NOT_ALLOWED_ALERT = "Бот доступен только сотрудникам службы поддержки, привязавшим Telegram в админке."
TICKET_LINK_RE = re.compile(r"^/ticket_(\d+)(?:@\w+)?$")


def db(func):
    return database_sync_to_async(func)


def _user_id(event) -> int | None:
    return event.from_user.id if event.from_user else None


async def refuse(message: Message) -> None:
    await message.answer(cards.REFUSAL_TEXT)


# --- commands ----------------------------------------------------------------------------------

async def start_with_code(message: Message, command: CommandObject) -> None:
    if message.chat.type != "private":
        await message.answer("Привязка Telegram выполняется только в личном чате с ботом.")
        return
    result = await db(services.link_chat)(
        command.args or "", chat_id=message.chat.id, telegram_user_id=message.from_user.id,
        username=message.from_user.username or "")
    if result.ok:
        logger.info("chat %s linked", message.chat.id)
    await message.answer(result.text)


async def start(message: Message) -> None:
    if not await db(services.is_linked)(_user_id(message)):
        await refuse(message)
        return
    await message.answer("Здравствуйте! Telegram уже привязан, новые заявки будут приходить сюда.\n\n" + cards.HELP_TEXT)


async def help_(message: Message) -> None:
    if not await db(services.is_linked)(_user_id(message)):
        await refuse(message)
        return
    await message.answer(cards.HELP_TEXT)


async def tickets(message: Message) -> None:
    try:
        text = await db(services.tickets_overview)(_user_id(message))
    except services.NotAllowed:
        await refuse(message)
        return
    await message.answer(text)


async def _send_ticket(message: Message, number_text: str | None) -> None:
    number_text = (number_text or "").strip().lstrip("#№")
    if not number_text.isdigit():
        if not await db(services.is_linked)(_user_id(message)):
            await refuse(message)
            return
        await message.answer("Укажите номер заявки, например: /ticket 42")
        return
    try:
        result = await db(services.ticket_card_by_number)(_user_id(message), int(number_text))
    except services.NotAllowed:
        await refuse(message)
        return
    if isinstance(result, str):
        await message.answer(result)
        return
    ticket_id, card = result
    sent = await message.answer(card.text, reply_markup=markup(card))
    # This card now follows the ticket in this chat (edited on changes).
    await db(services.card_record)(ticket_id, message.chat.id, sent.message_id, card.digest())


async def ticket(message: Message, command: CommandObject) -> None:
    await _send_ticket(message, command.args)


async def ticket_link(message: Message) -> None:
    await _send_ticket(message, TICKET_LINK_RE.match(message.text).group(1))


async def stats(message: Message) -> None:
    try:
        text = await db(services.stats_today)(_user_id(message))
    except services.NotAllowed:
        await refuse(message)
        return
    await message.answer(text)


async def settings_(message: Message) -> None:
    try:
        card = await db(services.preference_show)(_user_id(message))
    except services.NotAllowed:
        await refuse(message)
        return
    await message.answer(card.text, reply_markup=markup(card))


async def anything_else(message: Message) -> None:
    if not await db(services.is_linked)(_user_id(message)):
        await refuse(message)
        return
    await message.answer("Я понимаю только команды. Список — /help")


# --- buttons -----------------------------------------------------------------------------------

async def button(callback: CallbackQuery) -> None:
    action, argument = cards.parse_callback(callback.data)
    user_id = _user_id(callback)
    try:
        if action == cards.PREFERENCE:
            card = await db(services.preference_set)(user_id, argument)
            await callback.answer("Сохранено")
            if callback.message:
                await callback.message.edit_text(card.text, reply_markup=markup(card))
            return
        argument, _, fingerprint = argument.partition(".")  # «Да» carries the draft's fingerprint
        if not argument.isdigit():
            await callback.answer("Кнопка устарела.")
            return
        ticket_id = int(argument)
        if action == cards.TAKE:
            await callback.answer(await db(services.ticket_take)(user_id, ticket_id))
        elif action == cards.DRAFT:
            text = await db(services.draft_show)(user_id, ticket_id)
            await callback.answer()
            if callback.message:
                await callback.message.answer(text, reply_parameters=_reply_to(callback))
        elif action == cards.REPLY:
            result = await db(services.reply_confirmation)(user_id, ticket_id)
            if isinstance(result, str):
                await callback.answer(result, show_alert=True)
                return
            await callback.answer()
            if callback.message:
                await callback.message.answer(result.text, reply_markup=markup(result), reply_parameters=_reply_to(callback))
        elif action == cards.REPLY_CONFIRM:
            text = await db(services.reply_confirm)(user_id, ticket_id, fingerprint or None)
            await callback.answer()
            if callback.message:
                await callback.message.edit_text(text)
        elif action == cards.REPLY_CANCEL:
            await db(services.bot_actor)(user_id)
            await callback.answer("Отменено")
            if callback.message:
                await callback.message.edit_text("Отправка ответа отменена.")
        else:
            await callback.answer("Кнопка устарела.")
    except services.NotAllowed:
        await callback.answer(NOT_ALLOWED_ALERT, show_alert=True)


def _reply_to(callback: CallbackQuery) -> ReplyParameters | None:
    if not callback.message:
        return None
    return ReplyParameters(message_id=callback.message.message_id, allow_sending_without_reply=True)


def build_router() -> Router:
    """A fresh router per dispatcher (aiogram attaches a router to one parent only)."""
    router = Router(name="enigma")
    # Only private chats: drafts and customer details must never be posted into a group.
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(start_with_code, CommandStart(deep_link=True))
    router.message.register(start, CommandStart())
    router.message.register(help_, Command("help"))
    router.message.register(tickets, Command("tickets"))
    router.message.register(ticket, Command("ticket"))
    router.message.register(ticket_link, F.text.regexp(TICKET_LINK_RE))
    router.message.register(stats, Command("stats"))
    router.message.register(settings_, Command("settings"))
    router.message.register(anything_else)
    router.callback_query.register(button)
    return router
