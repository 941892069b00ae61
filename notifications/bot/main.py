"""The bot process: aiogram long polling and the Redis event listener in one asyncio loop.

``python manage.py run_bot`` calls :func:`run`. The ORM is reached only through
``channels.db.database_sync_to_async`` around the sync functions of ``notifications.services``.
Telegram errors are survived: flood limits (retry-after) are waited out, network and server
errors retried with backoff, a chat that blocked the bot is switched off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import ReplyParameters
from channels.db import database_sync_to_async
from django.conf import settings

from notifications import services
from notifications.bot import handlers
from notifications.bot.keyboards import markup
from notifications.bot.listener import RedisListener

logger = logging.getLogger(__name__)

T = TypeVar("T")

MAX_RETRY_AFTER = 120  # seconds: longer flood waits are not waited out for one message
ALLOWED_UPDATES = ["message", "callback_query"]


def build_bot(token: str | None = None, api_url: str | None = None) -> Bot:
    token = token or settings.TELEGRAM_BOT_TOKEN
    api_url = settings.TELEGRAM_API_URL if api_url is None else api_url
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url)) if api_url else AiohttpSession()
    return Bot(token=token, session=session,
               default=DefaultBotProperties(parse_mode=ParseMode.HTML, link_preview_is_disabled=True))


def build_dispatcher() -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.include_router(handlers.build_router())
    return dispatcher


async def telegram_call(factory: Callable[[], Awaitable[T]], *, attempts: int = 5, what: str = "request") -> T:
    """Run one Bot API call, waiting out flood limits and retrying network/server errors."""
    delay = 0.5
    attempt = 0
    while True:
        attempt += 1
        try:
            return await factory()
        except TelegramRetryAfter as exc:
            if attempt >= attempts or exc.retry_after > MAX_RETRY_AFTER:
                raise
            logger.warning("Telegram flood limit on %s: waiting %s s", what, exc.retry_after)
            await asyncio.sleep(exc.retry_after)
        except (TelegramNetworkError, TelegramServerError) as exc:
            if attempt >= attempts:
                raise
            logger.warning("Telegram %s failed (%s: %s); retry in %.1f s", what, type(exc).__name__, exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30)


def _not_modified(exc: TelegramBadRequest) -> bool:
    return "message is not modified" in str(exc).lower()


def _cannot_edit(exc: TelegramBadRequest) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("message to edit not found", "message can't be edited", "message not found",
                                   "message_id_invalid"))


class Notifier:
    """Turns ticket events into sent or edited cards; events of one ticket are handled in order."""

    def __init__(self, bot: Bot, *, concurrency: int = 20):
        self.bot = bot
        self._locks: dict[int, list] = {}  # ticket id -> [lock, users]
        self._tasks: set[asyncio.Task] = set()
        self._sending = asyncio.Semaphore(concurrency)  # stay well under Telegram's 30 messages/s
        self.handled = 0

    async def on_event(self, payload: dict) -> None:
        task = asyncio.create_task(self.handle(payload))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def handle(self, payload: dict) -> None:
        ticket_id = payload.get("ticket_id")
        if not isinstance(ticket_id, int):
            return
        entry = self._locks.setdefault(ticket_id, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                try:
                    plan = await database_sync_to_async(services.deliveries_plan)(payload)
                except Exception:  # noqa: BLE001 - database down: this event is lost, the next one catches up
                    logger.exception("could not plan notifications for ticket %s", ticket_id)
                    return
                await asyncio.gather(*(self.deliver(d) for d in plan))
                self.handled += 1
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(ticket_id, None)

    async def deliver(self, delivery: services.Delivery) -> None:
        async with self._sending:
            try:
                message_id = await self._send_or_edit(delivery)
                if delivery.alert and message_id:
                    await telegram_call(lambda: self.bot.send_message(
                        delivery.chat_id, delivery.alert,
                        reply_parameters=ReplyParameters(message_id=message_id, allow_sending_without_reply=True),
                    ), what="alert")
            except TelegramForbiddenError as exc:
                logger.warning("chat %s blocked the bot: notifications switched off (%s)", delivery.chat_id, exc)
                await database_sync_to_async(services.chat_unlink)(
                    delivery.chat_id, f"Бот заблокирован в чате: {exc}")
            except Exception as exc:  # noqa: BLE001 - one chat's failure must not stop the others
                logger.error("could not deliver ticket %s to chat %s: %s", delivery.ticket_id, delivery.chat_id, exc)
                await database_sync_to_async(services.chat_error)(delivery.chat_id, f"{type(exc).__name__}: {exc}")

    async def _send_or_edit(self, delivery: services.Delivery) -> int:
        card = delivery.card
        digest = card.digest()
        if delivery.is_edit:
            try:
                await telegram_call(lambda: self.bot.edit_message_text(
                    text=card.text, chat_id=delivery.chat_id, message_id=delivery.message_id,
                    reply_markup=markup(card)), what="editMessageText")
            except TelegramBadRequest as exc:
                if _not_modified(exc):
                    pass
                elif _cannot_edit(exc):
                    return await self._send(delivery, digest)
                else:
                    raise
            await database_sync_to_async(services.card_record)(
                delivery.ticket_id, delivery.chat_id, delivery.message_id, digest)
            return delivery.message_id
        return await self._send(delivery, digest)

    async def _send(self, delivery: services.Delivery, digest: str) -> int:
        card = delivery.card
        message = await telegram_call(
            lambda: self.bot.send_message(delivery.chat_id, card.text, reply_markup=markup(card)), what="sendMessage")
        await database_sync_to_async(services.card_record)(delivery.ticket_id, delivery.chat_id, message.message_id, digest)
        return message.message_id

    async def drain(self, timeout: float = 10) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)


class BotApp:
    """One bot process: polling + listener. ``run()`` until ``stop()`` (or SIGINT/SIGTERM)."""

    def __init__(self, *, token: str | None = None, api_url: str | None = None, redis_url: str | None = None,
                 channel: str | None = None, polling_timeout: int = 30, handle_signals: bool = True,
                 listener_min_delay: float = 0.5, listener_max_delay: float = 30.0):
        self.bot = build_bot(token, api_url)
        self.dispatcher = build_dispatcher()
        self.notifier = Notifier(self.bot)
        self.listener = RedisListener(redis_url or settings.REDIS_URL, channel or settings.EVENTS_CHANNEL,
                                      self.notifier.on_event, min_delay=listener_min_delay, max_delay=listener_max_delay)
        self.polling_timeout = polling_timeout
        self.handle_signals = handle_signals
        self.started = asyncio.Event()
        self._stopping = False

    async def _prepare(self) -> None:
        """getMe (retried until Telegram answers) and deleteWebhook: polling needs no webhook."""
        delay = 1.0
        while True:
            try:
                me = await self.bot.me()
                await self.bot.delete_webhook(drop_pending_updates=False)
                break
            except (TelegramNetworkError, TelegramServerError, TelegramRetryAfter) as exc:
                logger.warning("Telegram is not reachable (%s); retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60)
        logger.info("bot @%s started", me.username)
        if me.username:
            await database_sync_to_async(services.remember_bot_username)(me.username)

    async def run(self) -> None:
        listener_task = None
        try:
            await self._prepare()
            listener_task = asyncio.create_task(self.listener.run(), name="redis-listener")
            self.started.set()
            await self.dispatcher.start_polling(
                self.bot, polling_timeout=self.polling_timeout, handle_signals=self.handle_signals,
                allowed_updates=ALLOWED_UPDATES, close_bot_session=False,
            )
        finally:
            if listener_task is not None:
                listener_task.cancel()
                await asyncio.gather(listener_task, return_exceptions=True)
            await self.notifier.drain()
            await self.bot.session.close()
            await database_sync_to_async(_close_connections)()

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        try:
            await self.dispatcher.stop_polling()
        except RuntimeError:  # polling not started (Telegram unreachable during start-up)
            pass


def _close_connections() -> None:
    from django.db import connections

    connections.close_all()


def run(**options) -> None:
    """Entry point of ``manage.py run_bot``."""
    asyncio.run(BotApp(**options).run())
