"""Fixtures: unique event channel, staff users with linked chats, and the real bot running in a
background thread against the fake Bot API server."""

from __future__ import annotations

import asyncio
import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from notifications.models import TelegramLink
from notifications.tests.telegram_server import FakeTelegram

TOKEN = "123456:TEST-token-for-the-fake-server"


@pytest.fixture
def events_channel(settings):
    """Redis pub/sub channels are global across DB numbers: one channel per test."""
    settings.EVENTS_CHANNEL = f"test:enigma:events:{uuid.uuid4().hex}"
    return settings.EVENTS_CHANNEL


@pytest.fixture
def subscriber(redis_conn, events_channel):
    """Collects the events published on this test's channel."""
    pubsub = redis_conn.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(events_channel)
    pubsub.get_message(timeout=1)  # the subscribe confirmation

    def collect(wait: float = 0.3) -> list[dict]:
        import json

        out = []
        while True:
            message = pubsub.get_message(timeout=wait)
            if message is None:
                return out
            if message["type"] == "message":
                out.append(json.loads(message["data"]))

    yield collect
    pubsub.close()


def make_staff(username="operator", *, first_name="Анна", last_name="Смирнова", **extra):
    return get_user_model().objects.create_user(
        username, password="pw", is_staff=True, first_name=first_name, last_name=last_name, **extra)


def link_chat(user, chat_id: int, preference=TelegramLink.Preference.ALL) -> TelegramLink:
    return TelegramLink.objects.create(user=user, chat_id=chat_id, telegram_user_id=chat_id, telegram_username=user.username,
                                       linked_at=timezone.now(), preference=preference)


def make_ticket(**fields):
    from tickets.models import Ticket

    values = dict(subject="Ошибка E07", email="petrov@teploset.ru", device_type="ИГМ-10",
                  sentiment="negative", priority="high", summary="Прибор показывает ошибку E07 после калибровки.")
    values.update(fields)
    return Ticket.objects.create(**values)


class BotHarness:
    """The real ``BotApp`` (aiogram + Redis listener) in its own thread and loop."""

    def __init__(self, redis_url: str | None = None):
        self.fake = FakeTelegram()
        self.redis_url = redis_url
        self.app = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.thread = threading.Thread(target=self._thread, name="bot-harness", daemon=True)

    def start(self) -> BotHarness:
        self.thread.start()
        if not self._ready.wait(15):
            raise RuntimeError("the bot did not start")
        if self._error:
            raise self._error
        return self

    def _thread(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the test thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        from notifications.bot.main import BotApp

        self.loop = asyncio.get_running_loop()
        await self.fake.start()
        self.app = BotApp(token=TOKEN, api_url=self.fake.url, redis_url=self.redis_url, polling_timeout=1,
                          handle_signals=False, listener_min_delay=0.1, listener_max_delay=0.5)
        runner = asyncio.create_task(self.app.run())

        async def ready():
            await self.app.started.wait()
            await self.app.listener.connected.wait()

        await asyncio.wait([asyncio.create_task(ready()), runner], return_when=asyncio.FIRST_COMPLETED, timeout=15)
        self._ready.set()
        try:
            await runner
        finally:
            await self.fake.stop()

    def call(self, coro_factory, timeout: float = 10):
        return asyncio.run_coroutine_threadsafe(coro_factory(), self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop and self.app and self.thread.is_alive():
            try:
                self.call(self.app.stop, timeout=15)
            except Exception:  # noqa: BLE001 - best effort at teardown
                pass
        self.thread.join(15)


@pytest.fixture
def bot(transactional_db, redis_conn, events_channel):
    harness = BotHarness().start()
    yield harness
    harness.stop()


def wait_until(predicate, timeout: float = 5.0, message: str = "condition"):
    """Poll ``predicate`` (e.g. a database check after the bot's request) until true."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{message} not reached in {timeout}s")
        time.sleep(0.02)
